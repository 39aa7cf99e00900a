"""The REST contract (issue 20): the OpenAPI schema is exact, and a schema-driven fuzzer (schemathesis,
bounded in examples and time) finds no 5xx, no undocumented status code, and no rejected request
among the schema-valid ones whose fields all apply to an ordinary image."""

from __future__ import annotations

import io

import numpy as np
import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import status_code_conformance  # noqa: E402

from tinct.registry import MODELS  # noqa: E402
from tinct.server import create_app  # noqa: E402

IMAGE_FORMATS = {"jpg", "jpeg", "png", "webp"}


def _image(fmt: str, side: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray((np.arange(side * side) % 251).astype(np.uint8).reshape(side, side)).save(buf, fmt)
    return buf.getvalue()


#: a schema cannot say "decodable": the fuzzer's file bytes are replaced by one of these real images
IMAGES = [_image("PNG", 24), _image("JPEG", 20)]

app = create_app(model="lite", device="cpu", max_working_size=64, timeout_s=60)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


def test_schema_is_exact():
    body = app.openapi()["components"]["schemas"]["Body_colorize_upload_api_v1_colorize_post"]
    props = body["properties"]
    assert body["required"] == ["file"] and body["additionalProperties"] is False
    assert props["file"]["type"] == "string" and props["file"]["format"] == "binary"
    assert props["model"]["enum"] == list(MODELS)
    assert set(props["format"]["enum"]) >= IMAGE_FORMATS and props["method"]["enum"] == ["reinhard", "welsh"]
    assert props["mode"]["enum"] == ["realistic", "pseudo"]
    assert (props["size"]["minimum"], props["size"]["maximum"]) == (32, 64)
    assert all("anyOf" not in p for p in props.values())  # no field is a free "string or null"


@schema.include(method="POST").parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_colorize_fuzz(case):
    """Everything the fuzzer sends (its coverage phase includes wrong types, unknown fields, other
    methods): never a 5xx, and only the status codes the schema documents."""
    if isinstance(case.body, dict) and "file" in case.body:
        case.body["file"] = IMAGES[len(case.body) % 2]
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance])


def _image_requests() -> st.SearchStrategy[dict]:
    """Schema-valid requests for an ordinary image, drawn from the schema's own enums and bounds."""
    props = app.openapi()["components"]["schemas"]["Body_colorize_upload_api_v1_colorize_post"]["properties"]
    size = props["size"]
    fields = {
        "model": st.sampled_from(props["model"]["enum"]),
        "format": st.sampled_from(sorted(IMAGE_FORMATS & set(props["format"]["enum"]))),
        "size": st.integers(size["minimum"], size["maximum"]),
    }
    return st.fixed_dictionaries({}, optional=fields)


@given(data=_image_requests(), image=st.sampled_from(IMAGES))
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_schema_valid_image_requests_are_accepted(data, image):
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        r = client.post("/api/v1/colorize", files={"file": ("x.img", image, "image/png")},
                        data={k: str(v) for k, v in data.items()})  # fmt: skip
    assert r.status_code == 200, (data, r.text)
    assert r.headers["x-tinct-model"] == data.get("model", "lite")


def test_unknown_fields_and_query_are_422():
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        png = {"file": ("x.png", _image("PNG", 16), "image/png")}
        r = client.post("/api/v1/colorize", files=png, data={"colour": "red"})
        assert r.status_code == 422 and r.json()["error"].startswith("unknown field 'colour'; the fields are file, ")
        r = client.post("/colorize?model=nope", files=png)
        assert r.status_code == 422 and r.json()["error"].startswith("unknown model 'nope'; known models: lite, ")
        r = client.post("/colorize", files=png, data={"model": "nope"})
        assert r.status_code == 422 and r.json()["error"].startswith("unknown model 'nope'; known models: lite, ")
        r = client.post("/colorize?size=5", files=png)  # a field in the query is refused, never ignored
        assert r.status_code == 422
        msg = "'size' in the query: send it as a form field (curl -F size=...); only model may be in the query"
        assert r.json()["error"] == msg
        r = client.post("/colorize?model=lite", files=png, data={"size": "64"})
        assert r.status_code == 200 and r.headers["x-tinct-model"] == "lite"
        r = client.post("/colorize", files={"file": ("notes.png", b"just some text", "image/png")})
        assert r.status_code in (415, 422) and "notes.png" in r.json()["error"]


NEEDS_TOKEN = "this server needs an access token: send the header 'Authorization: Bearer <token>'"


def test_access_token(caplog):
    from fastapi.testclient import TestClient

    secret = "s3cret-token-42"
    guarded = create_app(model="lite", device="cpu", token=secret)
    png = {"file": ("x.png", _image("PNG", 16), "image/png")}
    with caplog.at_level("INFO"), TestClient(guarded) as client:
        assert client.get("/healthz").status_code == 200 and client.get("/").status_code == 200
        for r in (client.get("/api/v1/info"), client.post("/api/v1/colorize", files=png),
                  client.post("/colorize", files=png, headers={"Authorization": "Bearer wrong"})):  # fmt: skip
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert r.json() == {
                "error": "this server needs an access token: send the header 'Authorization: Bearer <token>'"
            }
        ok = client.post("/api/v1/colorize", files=png, headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
        assert client.get("/api/v1/info", headers={"X-Tinct-Token": secret}).json()["medical"] is True
    assert secret not in caplog.text and "401" in caplog.text  # the refusals are logged, the token never
