"""Certificate store selection (exact > wildcard > default, sniStrict) and option-set checks."""

from __future__ import annotations

import ssl

import pytest
import trustme

from traefikpy.config.tls import TLSOptions
from traefikpy.tls.certs import CertificateError, CertStore, generated_default, load_certificate
from traefikpy.tls.manager import host_options
from traefikpy.tls.options import plan_options

CA = trustme.CA()


def issue(*names: str) -> tuple[str, str]:
    cert = CA.issue_cert(*names)
    return cert.cert_chain_pems[0].bytes().decode(), cert.private_key_pem.bytes().decode()


EXACT = load_certificate(*issue("a.example.com"))
WILD = load_certificate(*issue("*.example.com"))
OTHER = load_certificate(*issue("b.example.com", "10.0.0.1"))
STORE = CertStore(generated_default())
for _c in (EXACT, WILD, OTHER):
    STORE.add(_c)

SELECT = [
    {"desc": "exact beats wildcard", "sni": "a.example.com", "strict": False, "want": EXACT},
    {"desc": "case and trailing dot ignored", "sni": "A.Example.com.", "strict": False, "want": EXACT},
    {"desc": "wildcard covers one label", "sni": "c.example.com", "strict": False, "want": WILD},
    {"desc": "wildcard not two labels", "sni": "x.c.example.com", "strict": False, "want": STORE.default},
    {"desc": "wildcard not the apex", "sni": "example.com", "strict": False, "want": STORE.default},
    {"desc": "SAN of a second cert", "sni": "b.example.com", "strict": False, "want": OTHER},
    {"desc": "IP SAN", "sni": "10.0.0.1", "strict": False, "want": OTHER},
    {"desc": "no SNI -> default", "sni": "", "strict": False, "want": STORE.default},
    {"desc": "strict, no match -> refused", "sni": "nope.test", "strict": True, "want": None},
    {"desc": "strict, no SNI -> refused", "sni": "", "strict": True, "want": None},
    {"desc": "strict, wildcard match ok", "sni": "z.example.com", "strict": True, "want": WILD},
]


@pytest.mark.parametrize("case", SELECT, ids=[c["desc"] for c in SELECT])
def test_select(case: dict[str, object]) -> None:
    assert STORE.select(case["sni"], case["strict"]) is case["want"]  # type: ignore[arg-type]


def test_generated_default_is_traefik_default_cert() -> None:
    assert generated_default().names[0] == "traefik default cert"
    assert generated_default() is generated_default()


def test_load_from_file_and_errors(tmp_path: pytest.TempPathFactory) -> None:
    cert, key = issue("f.test")
    (tmp_path / "c.pem").write_text(cert)  # type: ignore[operator]
    (tmp_path / "k.pem").write_text(key)  # type: ignore[operator]
    loaded = load_certificate(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))  # type: ignore[operator]
    assert loaded.names == ("f.test",)
    with pytest.raises(CertificateError):
        load_certificate("/nonexistent/cert.pem", key)
    with pytest.raises(CertificateError):
        load_certificate(cert, "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")


PLANS = [
    {"desc": "defaults", "opts": {}, "check": lambda p: p.min_version == ssl.TLSVersion.TLSv1_2
     and p.verify_mode == ssl.CERT_NONE and p.alpn == ("h2", "http/1.1")},
    {"desc": "min/max", "opts": {"minVersion": "VersionTLS13", "maxVersion": "VersionTLS13"},
     "check": lambda p: p.min_version == p.max_version == ssl.TLSVersion.TLSv1_3},
    {"desc": "bad version", "opts": {"minVersion": "TLS12"}, "error": "invalid minVersion"},
    {"desc": "max below min", "opts": {"minVersion": "VersionTLS13", "maxVersion": "VersionTLS12"},
     "error": "lower than"},
    {"desc": "Go cipher names mapped, 1.3 suites skipped",
     "opts": {"cipherSuites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"]},
     "check": lambda p: p.ciphers == "ECDHE-RSA-AES128-GCM-SHA256"},
    {"desc": "unknown cipher", "opts": {"cipherSuites": ["TLS_FOO"]}, "error": "invalid CipherSuite"},
    {"desc": "curves", "opts": {"curvePreferences": ["CurveP521", "X25519"]}, "check": lambda p: p.curve == "secp521r1"},
    {"desc": "unknown curve", "opts": {"curvePreferences": ["P999"]}, "error": "invalid CurveID"},
    {"desc": "alpn: only what we serve", "opts": {"alpnProtocols": ["spdy/3", "http/1.1", "h2"]},
     "check": lambda p: p.alpn == ("http/1.1", "h2")},
    {"desc": "caFiles alone require and verify", "opts": {"clientAuth": {"caFiles": [CA.cert_pem.bytes().decode()]}},
     "check": lambda p: p.verify_mode == ssl.CERT_REQUIRED},
    {"desc": "VerifyClientCertIfGiven", "opts": {"clientAuth": {"caFiles": [CA.cert_pem.bytes().decode()],
                                                                "clientAuthType": "VerifyClientCertIfGiven"}},
     "check": lambda p: p.verify_mode == ssl.CERT_OPTIONAL},
    {"desc": "verify without CA", "opts": {"clientAuth": {"clientAuthType": "RequireAndVerifyClientCert"}},
     "error": "CAFiles is required"},
    {"desc": "unknown client auth", "opts": {"clientAuth": {"clientAuthType": "Maybe"}}, "error": "unknown client auth"},
    {"desc": "sniStrict", "opts": {"sniStrict": True}, "check": lambda p: p.sni_strict},
]


@pytest.mark.parametrize("case", PLANS, ids=[c["desc"] for c in PLANS])
def test_plan_options(case: dict[str, object]) -> None:
    opts = TLSOptions.model_validate(case["opts"])
    if "error" in case:
        with pytest.raises(ValueError, match=str(case["error"])):
            plan_options(opts)
    else:
        assert case["check"](plan_options(opts))  # type: ignore[operator]


HOSTS = [
    {"desc": "one router", "routers": [("r", "Host(`a.test`)", "x@file")], "want": {"a.test": "x@file"}, "conflicts": {}},
    {"desc": "several hosts and other matchers",
     "routers": [("r", "(Host(`a.test`) || Host(`b.test`)) && PathPrefix(`/p`)", "x@file")],
     "want": {"a.test": "x@file", "b.test": "x@file"}, "conflicts": {}},
    {"desc": "conflict falls back to default",
     "routers": [("r", "Host(`a.test`)", "x@file"), ("s", "Host(`a.test`) && Path(`/y`)", "y@file"),
                 ("t", "Host(`b.test`)", "y@file")],
     "want": {"a.test": "default", "b.test": "y@file"}, "conflicts": {"r": "a.test", "s": "a.test"}},
    {"desc": "same option twice is no conflict",
     "routers": [("r", "Host(`a.test`)", "x@file"), ("s", "Host(`a.test`) && Path(`/y`)", "x@file")],
     "want": {"a.test": "x@file"}, "conflicts": {}},
    {"desc": "no Host matcher", "routers": [("r", "PathPrefix(`/`)", "x@file")], "want": {}, "conflicts": {}},
    {"desc": "bad rule ignored", "routers": [("r", "Host(", "x@file")], "want": {}, "conflicts": {}},
]


@pytest.mark.parametrize("case", HOSTS, ids=[c["desc"] for c in HOSTS])
def test_host_options(case: dict[str, object]) -> None:
    assert host_options(case["routers"]) == (case["want"], case["conflicts"])  # type: ignore[arg-type]
