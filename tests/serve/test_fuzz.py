"""Random and hostile request bodies: never a 5xx, and the server answers correctly afterwards."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servekit import payload

NAME = "brno-house-prices"
ROUTES = ["/predict", f"/v1/models/{NAME}:predict", f"/v2/models/{NAME}/infer", "/invocations"]
FIELDS = [
    "area_m2",
    "rooms",
    "floor",
    "year_built",
    "distance_to_centre_km",
    "district",
    "energy_class",
    "has_balcony",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["Brno-střed", "A", "", "NaN", "1e400"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
record = st.dictionaries(st.sampled_from([*FIELDS, "x"]), values, max_size=10)
near_valid = st.builds(lambda base, patch: [{**base, **patch}], st.just(payload("native.json")[0]), record)
bodies = st.one_of(
    values,
    st.lists(record, max_size=5),
    near_valid,
    st.fixed_dictionaries(
        {"instances": st.lists(st.one_of(record, st.lists(values, max_size=10)), max_size=4)}
    ),
    st.fixed_dictionaries(
        {
            "inputs": st.lists(
                st.fixed_dictionaries(
                    {
                        "name": st.sampled_from([*FIELDS, "input-0"]),
                        "shape": values,
                        "datatype": st.sampled_from(["FP64", "BYTES", "BOOL", "INT8", "X"]),
                        "data": values,
                    }
                ),
                max_size=3,
            )
        }
    ),
    st.fixed_dictionaries({"dataframe_split": st.fixed_dictionaries({"columns": values, "data": values})}),
)
raw = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(ROUTES),
    body=bodies,
    content_type=st.sampled_from(["application/json", "text/csv", ""]),
)
def test_json_bodies_never_get_a_5xx(module_server, route, body, content_type):
    data = json.dumps(body).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    status, _, answer = module_server.request("POST", route, data, headers)
    assert status < 500, answer
    json.loads(answer)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(ROUTES), data=raw, content_type=st.sampled_from(["application/json", "text/csv"])
)
def test_raw_bytes_never_get_a_5xx(module_server, route, data, content_type):
    status, _, answer = module_server.request("POST", route, data, {"Content-Type": content_type})
    assert status < 500, answer


def test_server_is_healthy_after_the_fuzzing(module_server):
    assert module_server.request("GET", "/healthz")[0] == 200
    assert module_server.request("GET", "/readyz")[0] == 200
    status, answer, _ = module_server.post("/predict", payload("native.json"))
    assert status == 200 and len(answer["predictions"]) == 2
    metrics = module_server.request("GET", "/metrics")[2].decode()
    assert 'code="500"' not in metrics
