"""``/openapi.json`` generated from the model's input signature, and ``/docs``, a self-contained
HTML page (no CDN) that renders it and sends a try-out request."""

from __future__ import annotations

from typing import Any

from mlrelease import __version__
from mlrelease.serve.protocols import v2_datatype
from mlrelease.signature import FieldSpec, Signature

INT64 = 2**63
RECORD = "#/components/schemas/Record"


def value_schema(f: FieldSpec) -> dict[str, Any]:
    """The JSON Schema of one value as the validator (``schema.py``) takes it, so a client (or a
    fuzzer) reading this document sends what is accepted: integers within 64 bits, 0/1 for a
    boolean, and any string in a categorical column, since an unseen category is answered and
    flagged, not refused (the known ones are listed as ``examples``)."""
    out = f.json_schema()
    known = out.pop("enum", None)
    if known is not None:
        out["examples"] = [c for c in known if c is not None]
    if f.kind == "integer":
        out.update(minimum=-INT64, maximum=INT64 - 1)
    elif f.kind == "boolean":
        out.update(minimum=0, maximum=1)  # applies to the integers; true and false pass as they are
    return out


def openapi(
    name: str, version: str, signature: Signature, example: dict[str, Any], max_rows: int
) -> dict[str, Any]:
    record = signature.json_schema()
    record["properties"] = {f.name: value_schema(f) for f in signature.fields}
    record["additionalProperties"] = True  # extra fields (ids, the target) are ignored
    record["example"] = example
    names = signature.names
    row = {
        "type": "array",
        "prefixItems": [value_schema(f) for f in signature.fields],
        "minItems": len(names),
        "maxItems": len(names),
    }
    problem = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "row": {"type": ["integer", "null"]},
                        "field": {"type": ["string", "null"]},
                        "error": {"type": "string"},
                        "value": {},
                    },
                },
            },
        },
    }
    pred_item: dict[str, Any] = {"type": "number"} if signature.task != "classification" else {}
    proba_param: dict[str, Any] = {
        "type": "boolean",
        "description": "A classifier's class probabilities in the answer, or not "
        "(default: serving.classification.probabilities)",
    }
    if signature.task != "classification":  # a regression has none to give: only false is accepted
        proba_param = {**proba_param, "enum": [False]}
    errors = {
        "400": _resp("Malformed JSON or a body of the wrong shape", "#/components/schemas/Problem"),
        "413": _resp("Body or batch too large", "#/components/schemas/Problem"),
        "415": _resp("Unsupported content type", "#/components/schemas/Problem"),
        "422": _resp(
            "Values that do not fit the signature, or (reject mode) predictions outside bounds",
            "#/components/schemas/Problem",
        ),
        "503": _resp("The model is not ready yet", "#/components/schemas/Problem"),
    }
    v2_tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string", "enum": names},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": {"type": "string", "enum": sorted({v2_datatype(f.kind) for f in signature.fields})},
            "data": {"type": "array"},
        },
    }
    rows_param = {"type": "array", "minItems": 1, "maxItems": max_rows}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{name} model server",
            "version": version,
            "description": f"Served by mlrelease {__version__}. Requests are validated against the model's "
            "input "
            f"signature; at most {max_rows} rows per request.",
        },
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Predict on records",
                    "operationId": "predict",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {**rows_param, "items": {"$ref": "#/components/schemas/Record"}},
                                        {
                                            "type": "object",
                                            "required": ["records"],
                                            "properties": {
                                                "records": {
                                                    **rows_param,
                                                    "items": {"$ref": "#/components/schemas/Record"},
                                                },
                                                "probabilities": proba_param,
                                            },
                                        },
                                    ]
                                },
                                "example": [example],
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Predictions, the model version, per-row outlier flags",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "model": {"type": "string"},
                                            "version": {"type": "string"},
                                            "predictions": {"type": "array", "items": pred_item},
                                            "probabilities": {
                                                "description": "A classifier's: one row per input, "
                                                "one probability per class, in the order of classes",
                                                "type": "array",
                                                "items": {"type": "array", "items": {"type": "number"}},
                                            },
                                            "classes": {"type": "array"},
                                            "flags": {
                                                "type": "array",
                                                "items": {"type": "array", "items": {"type": "string"}},
                                            },
                                            "outlier_rows": {"type": "array", "items": {"type": "integer"}},
                                        },
                                    }
                                }
                            },
                        },
                        **errors,
                    },
                }
            },
            f"/v1/models/{name}:predict": {
                "post": {
                    "summary": "KServe v1 predict",
                    "operationId": "kserveV1Predict",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["instances"],
                                    "properties": {
                                        "instances": {
                                            "oneOf": [  # all objects, or all lists in column order
                                                {**rows_param, "items": {"$ref": RECORD}},
                                                {**rows_param, "items": row},
                                            ]
                                        }
                                    },
                                },
                                "example": {"instances": [example]},
                            }
                        },
                    },
                    "responses": {"200": {"description": '{"predictions": [...]}'}, **errors},
                }
            },
            f"/v2/models/{name}/infer": {
                "post": {
                    "summary": "Open Inference Protocol v2 inference (one tensor per column)",
                    "operationId": "v2Infer",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["inputs"],
                                    "properties": {
                                        "id": {"type": "string"},
                                        "inputs": {"type": "array", "items": v2_tensor},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "Inference response with output 'predict'"},
                        **errors,
                    },
                }
            },
            "/invocations": {
                "post": {
                    "summary": "MLflow scoring server",
                    "operationId": "mlflowInvocations",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "dataframe_split": {"type": "object"},
                                        "dataframe_records": {
                                            **rows_param,
                                            "items": {"$ref": "#/components/schemas/Record"},
                                        },
                                        "instances": {"type": "array"},
                                        "inputs": {},
                                    },
                                },
                                "example": {"dataframe_records": [example]},
                            },
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {"200": {"description": '{"predictions": [...]}'}, **errors},
                }
            },
            "/healthz": {"get": {"summary": "Alive", "responses": {"200": {"description": "alive"}}}},
            "/readyz": {
                "get": {
                    "summary": "Model loaded and warmed up",
                    "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition"}},
                }
            },
            "/version": {
                "get": {
                    "summary": "Model and server versions",
                    "responses": {"200": {"description": "versions"}},
                }
            },
            f"/v2/models/{name}": {
                "get": {"summary": "v2 model metadata", "responses": {"200": {"description": "metadata"}}}
            },
            f"/v2/models/{name}/ready": {
                "get": {"summary": "v2 model ready", "responses": {"200": {"description": "ready"}}}
            },
            "/v2/health/live": {
                "get": {"summary": "v2 server live", "responses": {"200": {"description": "live"}}}
            },
            "/v2/health/ready": {
                "get": {"summary": "v2 server ready", "responses": {"200": {"description": "ready"}}}
            },
        },
        "components": {"schemas": {"Record": record, "Problem": problem}},
    }


def _resp(description: str, ref: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model server API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}code,pre,textarea{font:13px ui-monospace,monospace}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left}
.m{display:inline-block;min-width:3.5rem;font-weight:600}.post{color:#0a7d32}.get{color:#0550ae}
textarea{width:100%;height:9rem}pre{background:#f6f8fa;padding:.75rem;overflow:auto}
</style></head><body>
<h1 id="title">Model server</h1><p id="desc"></p>
<h2>Endpoints</h2><table id="paths"></table>
<h2>Input record</h2>
<table id="fields"><tr><th>field</th><th>type</th><th>required</th><th>values</th></tr></table>
<h2>Try it: POST /predict</h2><textarea id="body"></textarea>
<p><button id="send">Send</button> <span id="status"></span></p><pre id="out"></pre>
<script>
(async function(){
  const spec = await (await fetch("openapi.json")).json();
  const text = (id, s) => { document.getElementById(id).textContent = s; };
  text("title", spec.info.title + " (version " + spec.info.version + ")");
  text("desc", spec.info.description);
  const paths = document.getElementById("paths");
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tr = paths.insertRow();
      const m = document.createElement("span");
      m.className = "m " + method; m.textContent = method.toUpperCase();
      tr.insertCell().appendChild(m);
      const c = document.createElement("code"); c.textContent = path; tr.insertCell().appendChild(c);
      tr.insertCell().textContent = op.summary || "";
    }
  }
  const rec = spec.components.schemas.Record;
  const fields = document.getElementById("fields");
  for (const [name, s] of Object.entries(rec.properties)) {
    const tr = fields.insertRow();
    tr.insertCell().textContent = name;
    tr.insertCell().textContent = [].concat(s.type).join(" | ");
    tr.insertCell().textContent = rec.required.includes(name) ? "yes" : "no";
    tr.insertCell().textContent = s.examples ? s.examples.join(", ") : "";
  }
  document.getElementById("body").value = JSON.stringify([rec.example], null, 2);
  document.getElementById("send").onclick = async () => {
    const r = await fetch("predict", {method: "POST", headers: {"Content-Type": "application/json"},
                                      body: document.getElementById("body").value});
    text("status", r.status + " " + r.statusText);
    const t = await r.text();
    try { text("out", JSON.stringify(JSON.parse(t), null, 2)); } catch (e) { text("out", t); }
  };
})();
</script></body></html>
"""
