"""The OpenAPI document: valid, covering every endpoint, and every answer of the running API
(success and error) validated against the document's schema for that path and status."""

from __future__ import annotations

from importlib import resources
from typing import Any

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from tests.api.rig import Rig

DOC: dict[str, Any] = yaml.safe_load((resources.files("traefikpy.api") / "openapi.yaml").read_text())

# (documented path, requested path, expected status)
CASES = [
    ("/api/rawdata", "/api/rawdata", 200),
    ("/api/overview", "/api/overview", 200),
    ("/api/version", "/api/version", 200),
    ("/api/entrypoints", "/api/entrypoints", 200),
    ("/api/entrypoints", "/api/entrypoints?page=3", 400),
    ("/api/entrypoints/{name}", "/api/entrypoints/web", 200),
    ("/api/entrypoints/{name}", "/api/entrypoints/nope", 404),
    ("/api/http/routers", "/api/http/routers", 200),
    ("/api/http/routers", "/api/http/routers?per_page=-1", 400),
    ("/api/http/routers/{name}", "/api/http/routers/x@file", 200),
    ("/api/http/routers/{name}", "/api/http/routers/broken@file", 200),
    ("/api/http/routers/{name}", "/api/http/routers/api@internal", 200),
    ("/api/http/routers/{name}", "/api/http/routers/nope", 404),
    ("/api/http/services", "/api/http/services", 200),
    ("/api/http/services", "/api/http/services?page=0", 400),
    ("/api/http/services/{name}", "/api/http/services/svc@file", 200),
    ("/api/http/services/{name}", "/api/http/services/api@internal", 200),
    ("/api/http/services/{name}", "/api/http/services/nope", 404),
    ("/api/http/middlewares", "/api/http/middlewares", 200),
    ("/api/http/middlewares", "/api/http/middlewares?page=9", 400),
    ("/api/http/middlewares/{name}", "/api/http/middlewares/auth@file", 200),
    ("/api/http/middlewares/{name}", "/api/http/middlewares/nope", 404),
    ("/api/http/explain", "/api/http/explain?url=http://x.test/app&entrypoint=web&header=Authorization:x", 200),
    ("/api/http/explain", "/api/http/explain?url=http://nothing.test/&entrypoint=web", 200),
    ("/api/http/explain", "/api/http/explain?url=ftp://x/", 400),
    ("/api/tcp/routers", "/api/tcp/routers", 200),
    ("/api/tcp/routers", "/api/tcp/routers?page=2", 400),
    ("/api/tcp/routers/{name}", "/api/tcp/routers/nope", 404),
    ("/api/tcp/services", "/api/tcp/services", 200),
    ("/api/tcp/services/{name}", "/api/tcp/services/nope", 404),
    ("/api/tcp/middlewares", "/api/tcp/middlewares", 200),
    ("/api/tcp/middlewares/{name}", "/api/tcp/middlewares/nope", 404),
    ("/api/udp/routers", "/api/udp/routers", 200),
    ("/api/udp/routers/{name}", "/api/udp/routers/nope", 404),
    ("/api/udp/services", "/api/udp/services", 200),
    ("/api/udp/services/{name}", "/api/udp/services/nope", 404),
]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = DOC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_document_is_valid_openapi() -> None:
    validate(DOC)


def test_every_documented_path_is_exercised() -> None:
    assert {path for path, _, _ in CASES} == set(DOC["paths"])


@pytest.mark.parametrize(("documented", "path", "status"), CASES, ids=[f"{c[1]}->{c[2]}" for c in CASES])
async def test_answer_matches_the_document(loaded: Rig, documented: str, path: str, status: int) -> None:
    got, headers, body = await loaded.get(path)
    assert got == status, body
    response = resolve(DOC["paths"][documented]["get"]["responses"][str(status)])
    schema = response["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator({**schema, "components": DOC["components"]})
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, errors
    for name in response.get("headers", {}):
        assert int(headers[name]) >= 1
