"""The model server that runs inside every image: ``mlrelease serve``.

One raw ASGI application (``app.ServerApp``) on uvicorn with httptools and uvloop answers
predictions in our own format (``POST /predict``) and in the formats of the servers users
already call: KServe v1, the Open Inference Protocol v2 (KServe, Triton, MLServer, Seldon) and
MLflow's scoring server. Every request is validated against the model's input signature,
concurrent requests are gathered into one ``predict`` (``batching``), rows are checked for
outliers (``outliers``), and each request is logged as one JSON line in Cloud Logging's
structured format off the request path (``logs``).

A classifier answers its labels and class probabilities in every protocol (``protocols.Answers``).

Modules: ``service`` (model + signature + version), ``schema`` (validation), ``protocols``
(payload formats in, answers out), ``outliers``, ``batching``, ``logs``, ``metrics``, ``openapi``,
``app``, ``freeze`` (build time: the model compiled, proven and written as files) and
``artifact`` (those files, served alone by a compiled-only image and proven at start-up),
``connections`` (header and body deadlines, the connection cap), ``startup`` (seconds per
start-up phase), ``runner`` (start/stop uvicorn, the smoke check).
"""
