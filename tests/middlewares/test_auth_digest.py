"""digestAuth: parameter parsing and verification (tables with computed responses), then a full
challenge/response exchange through the router, including replays and stale nonces (e2e)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from middlewares.auth_digest import DigestVerifier, NonceStore, parse_digest, parse_list
from tests.harness import lb, running_app
from tests.middlewares.access_util import REGISTRY
from tests.proxy.backends import Backend


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


HA1 = md5("test:traefik:test")


def parse_challenge(value: str) -> dict[str, str]:
    params = parse_digest(value)
    assert params is not None, value
    return params


def answer(challenge: dict[str, str], *, method: str = "GET", uri: str = "/", user: str = "test",
           ha1: str = HA1, nc: str = "00000001", cnonce: str = "0a4f113b", **override: str) -> dict[str, str]:
    params = {
        "username": user, "realm": challenge["realm"], "nonce": challenge["nonce"], "uri": uri,
        "algorithm": "MD5", "qop": "auth", "nc": nc, "cnonce": cnonce, "opaque": challenge["opaque"],
    }
    params["response"] = md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{md5(f'{method}:{uri}')}")
    params.update(override)
    return params


def header(params: dict[str, str]) -> str:
    return "Digest " + ", ".join(f'{k}="{v}"' if k not in ("nc", "qop", "algorithm") else f"{k}={v}"
                                 for k, v in params.items())


def test_parse_list_keeps_quoted_commas() -> None:
    assert parse_list('a="x, y", b=2 ,, c') == ['a="x, y"', "b=2", "c"]


PARSE: list[dict[str, Any]] = [
    {"desc": "quoted and bare values", "value": 'Digest username="u", nc=00000001, qop=auth',
     "want": {"username": "u", "nc": "00000001", "qop": "auth"}},
    {"desc": "key without value", "value": "Digest flag, a=", "want": {"flag": "", "a": ""}},
    {"desc": "scheme is case-sensitive", "value": 'digest username="u"', "want": None},
    {"desc": "basic is not digest", "value": "Basic abc", "want": None},
    {"desc": "no parameters", "value": "Digest", "want": None},
]


@pytest.mark.parametrize("case", PARSE, ids=[c["desc"] for c in PARSE])
def test_parse_digest(case: dict[str, Any]) -> None:
    assert parse_digest(case["value"]) == case["want"]


def _verifier() -> tuple[DigestVerifier, dict[str, str]]:
    verifier = DigestVerifier("traefik", {"test:traefik": HA1, "other:elsewhere": md5("other:elsewhere:x")})
    return verifier, parse_challenge(verifier.challenge().decode())


VERIFY: list[dict[str, Any]] = [
    {"desc": "right answer", "answer": {}, "want": ("test", False)},
    {"desc": "algorithm omitted means MD5", "answer": {"drop": "algorithm"}, "want": ("test", False)},
    {"desc": "wrong password", "answer": {"ha1": md5("test:traefik:nope")}, "want": ("", False)},
    {"desc": "unknown user with an empty HA1", "answer": {"user": "ghost", "ha1": ""}, "want": ("", False)},
    {"desc": "user of another realm", "answer": {"user": "other", "ha1": md5("other:elsewhere:x")}, "want": ("", False)},
    {"desc": "wrong opaque", "answer": {"opaque": "forged"}, "want": ("", False)},
    {"desc": "qop auth-int refused", "answer": {"qop": "auth-int"}, "want": ("", False)},
    {"desc": "algorithm SHA-256 refused", "answer": {"algorithm": "SHA-256"}, "want": ("", False)},
    {"desc": "uri of another path", "answer": {"uri": "/other"}, "target": "/private", "want": ("", False)},
    {"desc": "uri prefix of the path is accepted", "answer": {"uri": "/private"}, "target": "/private/deeper?x=1",
     "path": "/private/deeper", "want": ("test", False)},
    {"desc": "absolute uri with the same path", "answer": {"uri": "http://a.test/"}, "want": ("test", False)},
    {"desc": "nonce not issued here is stale", "answer": {"nonce": "unknown"}, "want": ("", True)},
    {"desc": "nc must be hex", "answer": {"nc": "zz"}, "want": ("", False)},
]


@pytest.mark.parametrize("case", VERIFY, ids=[c["desc"] for c in VERIFY])
def test_verify(case: dict[str, Any]) -> None:
    verifier, challenge = _verifier()
    spec = dict(case["answer"])
    drop = spec.pop("drop", None)
    if "nonce" in spec:
        challenge = {**challenge, "nonce": spec.pop("nonce")}
    options = {k: spec.pop(k) for k in ("user", "ha1", "uri", "nc") if k in spec}
    params = answer(challenge, **options, **spec)
    if drop:
        params.pop(drop)
    target = case.get("target", params["uri"] if params["uri"].startswith("/") else "/")
    path = case.get("path", target.split("?")[0])
    assert verifier.verify(params, "GET", target, path) == case["want"]


def test_nonce_counts_must_grow() -> None:
    verifier, challenge = _verifier()
    assert verifier.verify(answer(challenge, nc="00000001"), "GET", "/", "/") == ("test", False)
    assert verifier.verify(answer(challenge, nc="00000001"), "GET", "/", "/") == ("", True)  # replay
    assert verifier.verify(answer(challenge, nc="00000003"), "GET", "/", "/") == ("test", False)
    assert verifier.verify(answer(challenge, nc="00000002"), "GET", "/", "/") == ("", True)


def test_nonce_store_is_bounded() -> None:
    store = NonceStore(size=10, tolerance=2)
    nonces = [store.issue() for _ in range(13)]
    assert len(store.counts) == 13
    store.issue()  # over size + tolerance: the 4 oldest go
    assert len(store.counts) == 10
    assert nonces[0] not in store.counts and nonces[4] in store.counts
    assert store.use(nonces[4], 1) and not store.use(nonces[0], 1)


def _config(backend: Backend, digest: dict[str, Any]) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s", "middlewares": ["auth"]}},
        "middlewares": {"auth": {"digestAuth": digest}},
        "services": {"s": lb(backend.url)},
    }}


async def test_digest_round_trip() -> None:
    backend = await Backend.start()
    options = {"users": [f"test:traefik:{HA1}"], "headerField": "X-WebAuth-User", "removeHeader": True}
    async with running_app(_config(backend, options), middlewares=REGISTRY) as rt:
        first = await rt.get("/echo/doc?x=1")
        assert first.status == 401
        assert await first.text() == "401 Unauthorized\n"
        assert first.headers["Content-Type"] == "text/plain"
        challenge_header = first.headers["WWW-Authenticate"]
        assert challenge_header.startswith('Digest realm="traefik", nonce="')
        assert challenge_header.endswith('algorithm="MD5", qop="auth"')
        challenge = parse_challenge(challenge_header)

        ok = await rt.get("/echo/doc?x=1", headers={"Authorization": header(answer(challenge, uri="/echo/doc?x=1"))})
        replay = await rt.get("/echo/doc?x=1", headers={"Authorization": header(answer(challenge, uri="/echo/doc?x=1"))})
        again = await rt.get("/echo/doc?x=1",
                             headers={"Authorization": header(answer(challenge, uri="/echo/doc?x=1", nc="00000002"))})
        wrong = await rt.get("/echo/doc?x=1", headers={"Authorization": header(
            answer(challenge, uri="/echo/doc?x=1", nc="00000003", ha1=md5("test:traefik:bad")))})
    await backend.stop()
    assert ok.status == 200
    seen = backend.requests[0]
    assert seen.header("X-WebAuth-User") == "test"
    assert seen.header("Authorization") is None
    assert replay.status == 401
    assert replay.headers["WWW-Authenticate"].endswith(", stale=true")
    assert again.status == 200
    assert wrong.status == 401
    assert "stale" not in wrong.headers["WWW-Authenticate"]
    assert len(backend.requests) == 2


async def test_users_of_another_realm_cannot_log_in() -> None:
    backend = await Backend.start()
    options = {"users": [f"test:traefik:{HA1}"], "realm": "other"}
    async with running_app(_config(backend, options), middlewares=REGISTRY) as rt:
        challenge = parse_challenge((await rt.get("/")).headers["WWW-Authenticate"])
        assert challenge["realm"] == "other"
        resp = await rt.get("/", headers={"Authorization": header(answer(challenge))})
    await backend.stop()
    assert resp.status == 401
