"""Pure merges: inside one provider (sources, replicas, conflicts) and across providers (TLS)."""

from __future__ import annotations

from typing import Any

import pytest

from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.merge import merge_providers, merge_sources, provider_of, qualify
from traefikpy.provider import ProviderSnapshot


def dc(data: dict[str, Any]) -> DynamicConfig:
    return DynamicConfig.model_validate(data)


def lb(*urls: str) -> dict[str, Any]:
    return {"loadBalancer": {"servers": [{"url": u} for u in urls]}}


@pytest.mark.parametrize(("name", "provider", "expected"), [
    ("web", "file", "web@file"),
    ("web@docker", "file", "web@docker"),
    ("api@internal", "file", "api@internal"),
])
def test_qualify(name: str, provider: str, expected: str) -> None:
    assert qualify(name, provider) == expected
    assert provider_of(expected) == expected.rpartition("@")[2]


def test_identical_definitions_in_two_sources_merge() -> None:
    a = dc({"http": {"routers": {"r": {"rule": "Host(`a`)", "service": "s"}}, "services": {"s": lb("http://x")}}})
    snap = merge_sources([("a.yml", a), ("b.yml", a.model_copy())])
    assert snap.errors == {}
    assert list(snap.config.http.routers) == ["r"]


def test_replicas_merge_servers_of_one_service() -> None:
    a = dc({"http": {"services": {"s": lb("http://10.0.0.1:80")}}})
    b = dc({"http": {"services": {"s": lb("http://10.0.0.2:80")}}})
    snap = merge_sources([("c1", a), ("c2", b)])
    assert snap.errors == {}
    urls = [s.url for s in snap.config.http.services["s"].load_balancer.servers]
    assert urls == ["http://10.0.0.1:80", "http://10.0.0.2:80"]


def test_conflicting_router_is_removed_with_an_error_naming_both_sources() -> None:
    a = dc({"http": {"routers": {"r": {"rule": "Host(`a`)", "service": "s"},
                                 "ok": {"rule": "Host(`ok`)", "service": "s"}}}})
    b = dc({"http": {"routers": {"r": {"rule": "Host(`b`)", "service": "s"}}}})
    snap = merge_sources([("a.yml", a), ("b.yml", b)])
    assert "r" not in snap.config.http.routers
    assert "ok" in snap.config.http.routers, "neighbours keep working"
    (message,) = snap.errors["http.routers.r"]
    assert "defined multiple times" in message and "a.yml" in message and "b.yml" in message


def test_conflicting_services_that_differ_beyond_servers_conflict() -> None:
    a = dc({"http": {"services": {"s": {"loadBalancer": {"servers": [{"url": "http://a"}], "passHostHeader": False}}}}})
    b = dc({"http": {"services": {"s": lb("http://b")}}})
    snap = merge_sources([("a", a), ("b", b)])
    assert "s" not in snap.config.http.services
    assert "http.services.s" in snap.errors


def test_provider_errors_are_qualified() -> None:
    snap = ProviderSnapshot(dc({}), {"http.routers.r": ("boom",)})
    merged = merge_providers({"file": snap})
    assert merged.errors == {"http.routers.r@file": ("boom",)}


def test_tls_options_qualified_except_default_and_default_twice_is_an_error() -> None:
    tls_a = dc({"tls": {"options": {"default": {"minVersion": "VersionTLS13"}, "strict": {}},
                        "certificates": [{"certFile": "/a.crt", "keyFile": "/a.key"}]}})
    tls_b = dc({"tls": {"options": {"default": {}},
                        "certificates": [{"certFile": "/a.crt", "keyFile": "/a.key"}]}})
    merged = merge_providers({"file": ProviderSnapshot(tls_a)})
    assert set(merged.config.tls.options) == {"default", "strict@file"}
    merged = merge_providers({"file": ProviderSnapshot(tls_a), "kv": ProviderSnapshot(tls_b)})
    assert "default" not in merged.config.tls.options
    assert "tls.options.default" in merged.errors
    assert len(merged.config.tls.certificates) == 1, "identical certificates are listed once"


def test_merge_is_deterministic_and_value_equal() -> None:
    a = dc({"http": {"routers": {"r": {"rule": "Host(`a`)", "service": "s"}}}})
    one = merge_providers({"file": ProviderSnapshot(a), "docker": ProviderSnapshot(a)})
    two = merge_providers({"docker": ProviderSnapshot(a.model_copy()), "file": ProviderSnapshot(a)})
    assert one == two
