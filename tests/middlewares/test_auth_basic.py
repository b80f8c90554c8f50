"""basicAuth: hashes, credentials parsing and user files (tables), then what clients and the
backend see through the router (e2e)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from middlewares.auth_basic import parse_basic
from middlewares.htpasswd import check_password, load_users, md5_crypt, parse_users
from tests.harness import lb, running_app
from tests.middlewares.access_util import REGISTRY
from tests.proxy.backends import Backend, echo_json

APR1_TEST = "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"  # "test", as in Traefik's documentation
SHA_TEST = "{SHA}" + base64.b64encode(hashlib.sha1(b"test").digest()).decode()
BCRYPT_TEST = bcrypt.hashpw(b"test", bcrypt.gensalt(4)).decode()  # $2b$

HASHES: list[dict[str, Any]] = [
    {"desc": "apr1 right", "secret": APR1_TEST, "password": "test", "ok": True},
    {"desc": "apr1 wrong", "secret": APR1_TEST, "password": "tes", "ok": False},
    {"desc": "md5-crypt $1$ (openssl passwd -1)", "secret": "$1$abcdefgh$rwnEbRiN0agqVgZBovWNQ/", "password": "hello", "ok": True},
    {"desc": "apr1 (openssl passwd -apr1)", "secret": "$apr1$abcdefgh$cy3DSYyOwfhsyu7QOMQzd.", "password": "hello", "ok": True},
    {"desc": "sha1 right", "secret": SHA_TEST, "password": "test", "ok": True},
    {"desc": "sha1 wrong", "secret": SHA_TEST, "password": "other", "ok": False},
    {"desc": "bcrypt $2b$", "secret": BCRYPT_TEST, "password": "test", "ok": True},
    {"desc": "bcrypt $2y$", "secret": "$2y$" + BCRYPT_TEST[4:], "password": "test", "ok": True},
    {"desc": "bcrypt $2a$", "secret": "$2a$" + BCRYPT_TEST[4:], "password": "test", "ok": True},
    {"desc": "bcrypt wrong", "secret": BCRYPT_TEST, "password": "nope", "ok": False},
    {"desc": "bcrypt password over 72 bytes", "secret": BCRYPT_TEST, "password": "x" * 80, "ok": False},
    {"desc": "plain text never matches", "secret": "test", "password": "test", "ok": False},
    {"desc": "empty secret", "secret": "", "password": "", "ok": False},
    {"desc": "malformed md5", "secret": "$apr1$only", "password": "test", "ok": False},
]


@pytest.mark.parametrize("case", HASHES, ids=[c["desc"] for c in HASHES])
def test_check_password(case: dict[str, Any]) -> None:
    assert check_password(case["password"], case["secret"]) is case["ok"]


def test_md5_crypt_format() -> None:
    assert md5_crypt(b"test", b"H6uskkkW", b"$apr1$") == APR1_TEST.encode()


def _basic(value: str) -> bytes:
    return b"Basic " + base64.b64encode(value.encode())


CREDENTIALS: list[dict[str, Any]] = [
    {"desc": "user and password", "value": _basic("test:secret"), "want": ("test", "secret")},
    {"desc": "colon inside the password", "value": _basic("test:a:b"), "want": ("test", "a:b")},
    {"desc": "empty password", "value": _basic("test:"), "want": ("test", "")},
    {"desc": "scheme is case-insensitive", "value": b"bAsIc " + base64.b64encode(b"u:p"), "want": ("u", "p")},
    {"desc": "no colon", "value": _basic("test"), "want": None},
    {"desc": "bad base64", "value": b"Basic !!!", "want": None},
    {"desc": "other scheme", "value": b"Bearer abc", "want": None},
    {"desc": "absent", "value": None, "want": None},
]


@pytest.mark.parametrize("case", CREDENTIALS, ids=[c["desc"] for c in CREDENTIALS])
def test_parse_basic(case: dict[str, Any]) -> None:
    assert parse_basic(case["value"]) == case["want"]


def test_users_file_and_inline_users(tmp_path: Path) -> None:
    users_file = tmp_path / "users"
    users_file.write_text("# a comment\n\n  test:one  \ntest2:two\n")
    entries = load_users(str(users_file), ["test2:override"])
    assert parse_users(entries, 2, "basic") == {"test": "one", "test2": "override"}


USER_ERRORS: list[dict[str, Any]] = [
    {"desc": "basic entry without hash", "entries": ["test"], "fields": 2},
    {"desc": "basic entry with realm", "entries": ["a:b:c"], "fields": 2},
    {"desc": "digest entry without realm", "entries": ["a:b"], "fields": 3},
]


@pytest.mark.parametrize("case", USER_ERRORS, ids=[c["desc"] for c in USER_ERRORS])
def test_bad_user_entries(case: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="error parsing"):
        parse_users(case["entries"], case["fields"], "basic")


def test_missing_users_file() -> None:
    with pytest.raises(ValueError, match="cannot read usersFile"):
        load_users("/nonexistent/users", [])


def _config(backend: Backend, basic: dict[str, Any]) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s", "middlewares": ["auth"]}},
        "middlewares": {"auth": {"basicAuth": basic}},
        "services": {"s": lb(backend.url)},
    }}


E2E: list[dict[str, Any]] = [
    {"desc": "no credentials", "options": {}, "auth": None, "status": 401},
    {"desc": "wrong password", "options": {}, "auth": "test:wrong", "status": 401},
    {"desc": "unknown user", "options": {}, "auth": "nobody:test", "status": 401},
    {"desc": "right password, header kept", "options": {}, "auth": "test:test", "status": 200, "authorization": True},
    {"desc": "removeHeader", "options": {"removeHeader": True}, "auth": "test:test", "status": 200, "authorization": False},
    {"desc": "headerField carries the user", "options": {"headerField": "X-WebAuth-User"}, "auth": "test:test",
     "status": 200, "user_header": ("X-WebAuth-User", "test")},
    {"desc": "custom realm", "options": {"realm": "private area"}, "auth": None, "status": 401, "realm": "private area"},
    {"desc": "bcrypt user", "options": {"users": [f"bob:{BCRYPT_TEST}"]}, "auth": "bob:test", "status": 200},
]


@pytest.mark.parametrize("case", E2E, ids=[c["desc"] for c in E2E])
async def test_basic_auth_e2e(case: dict[str, Any]) -> None:
    backend = await Backend.start()
    options = {"users": [f"test:{APR1_TEST}"], **case["options"]}
    headers = {"Authorization": _basic(case["auth"]).decode()} if case["auth"] else {}
    async with running_app(_config(backend, options), middlewares=REGISTRY) as rt:
        resp = await rt.get("/echo/private", headers=headers)
        body = await resp.read()
    await backend.stop()
    assert resp.status == case["status"]
    if resp.status == 401:
        assert backend.requests == []
        assert resp.headers["WWW-Authenticate"] == f'Basic realm="{case.get("realm", "traefik")}"'
        assert resp.headers["Content-Type"] == "text/plain"
        assert body == b"401 Unauthorized\n"
        return
    seen = backend.requests[0]
    if "authorization" in case:
        assert (seen.header("Authorization") is not None) is case["authorization"]
    if "user_header" in case:
        name, value = case["user_header"]
        assert seen.header(name) == value
    assert echo_json(body)["target"] == "/echo/private"


async def test_users_file_e2e(tmp_path: Path) -> None:
    users_file = tmp_path / "htpasswd"
    users_file.write_text(f"test:{APR1_TEST}\nsha:{SHA_TEST}\n")
    backend = await Backend.start()
    async with running_app(_config(backend, {"usersFile": str(users_file)}), middlewares=REGISTRY) as rt:
        ok = await rt.get("/echo", headers={"Authorization": _basic("sha:test").decode()})
    await backend.stop()
    assert ok.status == 200


async def test_concurrent_slow_checks_all_answer() -> None:
    backend = await Backend.start()
    options = {"users": [f"bob:{BCRYPT_TEST}"]}
    headers = {"Authorization": _basic("bob:test").decode()}
    async with running_app(_config(backend, options), middlewares=REGISTRY) as rt:
        responses = await asyncio.gather(*(rt.get("/echo", headers=headers) for _ in range(5)))
    await backend.stop()
    assert [r.status for r in responses] == [200] * 5


async def test_bad_user_entry_disables_the_middleware() -> None:
    backend = await Backend.start()
    async with running_app(_config(backend, {"users": ["no-hash"]}), middlewares=REGISTRY) as rt:
        assert (await rt.get("/echo")).status == 404
        assert any("error parsing basic user" in e for e in rt.state("middleware", "auth@file").errors)
    await backend.stop()
