"""Kubernetes Ingress provider end to end: the real App and the real kubernetes-asyncio client
against the protocol-level fake kube-apiserver (tests/fakes/kube_apiserver.py); real backends on
loopback addresses (127.0.0.1, 127.0.0.2: an EndpointSlice lists addresses, its port is shared)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import trustme

from providers.kubernetes_ingress import KubernetesIngressProvider
from providers.kubernetes_translate import Settings
from tests.fakes.kube_apiserver import FakeKubeAPI
from tests.harness import until
from tests.providers.k8s_objects import endpoint, ingress, path, rule, service, slice_, tls_secret
from tests.proxy.backends import Backend
from tests.tls.conftest import https_get
from traefikpy.app import App
from traefikpy.config.sources import load_static
from traefikpy.config.static_providers import IngressEndpoint

TOKEN = "s3cr3t-token"


@pytest.fixture(autouse=True)
def _outside_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    # The provider prefers in-cluster settings and $KUBECONFIG over `endpoint`, as Traefik does.
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)


@contextlib.asynccontextmanager
async def fake_api(**kw: Any) -> AsyncIterator[FakeKubeAPI]:
    fake = FakeKubeAPI(token=TOKEN, **kw)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@contextlib.asynccontextmanager
async def backends(*hosts: str) -> AsyncIterator[list[Backend]]:
    started = [await Backend.start(host=h) for h in hosts]
    try:
        yield started
    finally:
        for b in started:
            await b.stop()


def addr(b: Backend) -> str:
    """The loopback address a backend listens on (the EndpointSlice address)."""
    server: Any = b._server
    return str(server.sockets[0].getsockname()[0])


def provider_for(fake: FakeKubeAPI, settings: Settings | None = None, **kw: Any) -> KubernetesIngressProvider:
    kw.setdefault("watch_timeout", 30)
    return KubernetesIngressProvider(settings, endpoint=fake.url, token=TOKEN, backoff_initial=0.05,
                                     backoff_max=0.3, request_timeout=2.0, **kw)


STATIC = ["--entryPoints.web.address=127.0.0.1:0", "--providers.providersThrottleDuration=0s"]


@contextlib.asynccontextmanager
async def running(providers: list[Any] | None = None, extra: list[str] | None = None,
                  ) -> AsyncIterator[tuple[App, aiohttp.ClientSession]]:
    static = load_static(STATIC + (extra or []), {}, search=False)
    app = App(static, providers=providers)
    await app.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield app, session
    finally:
        await app.stop()


async def fetch(app: App, session: aiohttp.ClientSession, host: str, target: str = "/echo") -> int:
    async with session.get(f"http://127.0.0.1:{app.port('web')}{target}", headers={"Host": host}) as resp:
        await resp.read()
        return resp.status



def status_is(app: App, session: aiohttp.ClientSession, host: str, status: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await fetch(app, session, host) == status
    return check


def web_service(fake: FakeKubeAPI, *bs: Backend, name: str = "web", namespace: str = "default") -> None:
    """Service ``name`` (port ``http``) with one EndpointSlice per backend (each its own port)."""
    fake.apply("services", service(name, [{"name": "http", "port": 80}], namespace=namespace))
    for i, b in enumerate(bs):
        fake.apply("endpointslices", slice_(f"{name}-{i}", name, [endpoint(addr(b))], [("http", b.port)],
                                            namespace=namespace))


def simple_ingress(name: str, host: str, svc: str = "web", **kw: Any) -> dict[str, Any]:
    return ingress(name, [rule(host, path("/", svc, "http"))], **kw)


async def test_ingress_lifecycle_through_static_configuration() -> None:
    """providers.kubernetesIngress from the static configuration: create/update/delete are live."""
    async with fake_api() as fake, backends("127.0.0.1") as (b1,):
        web_service(fake, b1)
        extra = [f"--providers.kubernetesIngress.endpoint={fake.url}", f"--providers.kubernetesIngress.token={TOKEN}"]
        async with running(None, extra) as (app, session):
            await until(lambda: _listed(fake))
            assert await fetch(app, session, "a.test") == 404
            fake.apply("ingresses", simple_ingress("site", "a.test"))
            created = await until(status_is(app, session, "a.test", 200))
            assert b1.requests and b1.requests[-1].target == "/echo"
            names = {key[2]: st for key, st in app.graph.state.elements.items()}
            assert names["default-site-a-test@kubernetes"].status == "enabled"
            assert names["default-web-http@kubernetes"].status == "enabled"

            fake.apply("ingresses", simple_ingress("site", "b.test"))
            updated = await until(status_is(app, session, "b.test", 200))
            assert await fetch(app, session, "a.test") == 404

            fake.delete("ingresses", "default", "site")
            deleted = await until(status_is(app, session, "b.test", 404))
            print(f"create {created * 1000:.0f} ms, update {updated * 1000:.0f} ms, delete {deleted * 1000:.0f} ms")


async def _listed(fake: FakeKubeAPI) -> bool:
    return fake.watch_requests("ingresses") > 0


async def test_endpointslice_changes_move_traffic() -> None:
    async with fake_api() as fake, backends("127.0.0.1", "127.0.0.2") as (b1, b2):
        web_service(fake, b1, b2)
        fake.apply("ingresses", simple_ingress("site", "a.test"))
        async with running([provider_for(fake)]) as (app, session):
            await until(status_is(app, session, "a.test", 200))
            for _ in range(20):
                assert await fetch(app, session, "a.test") == 200
            assert len(b1.requests) >= 5 and len(b2.requests) >= 5  # both pods serve

            # b2's pod becomes not ready: it must stop receiving requests.
            fake.apply("endpointslices", slice_("web-1", "web", [endpoint(addr(b2), ready=False, serving=False)],
                                                [("http", b2.port)]))

            async def only_b1() -> bool:
                before = len(b2.requests)
                statuses = [await fetch(app, session, "a.test") for _ in range(10)]
                return statuses == [200] * 10 and len(b2.requests) == before
            moved = await until(only_b1)

            # A terminating (still serving) pod gets no new requests either (Traefik fences it).
            fake.apply("endpointslices", slice_("web-1", "web", [endpoint(addr(b2))], [("http", b2.port)]))
            await until(lambda: _served_by(app, session, b2))
            fake.apply("endpointslices", slice_("web-0", "web", [endpoint(addr(b1), ready=False, serving=True,
                                                                          terminating=True)], [("http", b1.port)]))

            async def only_b2() -> bool:
                before = len(b1.requests)
                statuses = [await fetch(app, session, "a.test") for _ in range(10)]
                return statuses == [200] * 10 and len(b1.requests) == before
            await until(only_b2)
            # Every endpoint gone: the route answers 503 (service kept, no server), not 404.
            fake.apply("endpointslices", slice_("web-1", "web", [endpoint(addr(b2), ready=False, serving=True,
                                                                          terminating=True)], [("http", b2.port)]))
            await until(status_is(app, session, "a.test", 503))
            print(f"not-ready endpoint out of rotation after {moved * 1000:.0f} ms")


async def _served_by(app: App, session: aiohttp.ClientSession, b: Backend) -> bool:
    before = len(b.requests)
    for _ in range(10):
        await fetch(app, session, "a.test")
    return len(b.requests) > before


async def test_tls_secret_served_by_sni() -> None:
    ca = trustme.CA()
    first = ca.issue_cert("secure.test")
    async with fake_api() as fake, backends("127.0.0.1") as (b1,):
        web_service(fake, b1)
        fake.apply("secrets", tls_secret("secure-tls", first.cert_chain_pems[0].bytes(), first.private_key_pem.bytes()))
        fake.apply("ingresses", ingress(
            "secure", [rule("secure.test", path("/", "web", "http"))],
            tls=[{"hosts": ["secure.test"], "secretName": "secure-tls"}],
            annotations={"traefik.ingress.kubernetes.io/router.tls": "true"}))
        async with running([provider_for(fake)]) as (app, session):
            verify = ssl.create_default_context()
            ca.configure_trust(verify)  # hostname checked: the Secret's certificate must be the one served

            async def served() -> bool:
                try:
                    answer = await https_get(app.port("web"), "secure.test", ctx=verify)
                except (ssl.SSLError, ConnectionError):
                    return False
                return answer.status == 200 and answer.names == ["secure.test"]
            await until(served)
            assert json.loads((await https_get(app.port("web"), "secure.test", ctx=verify)).body)["target"] == "/echo"
            assert await fetch(app, session, "secure.test") == 404  # router.tls: HTTPS only

            # Rotating the Secret swaps the served certificate.
            second = ca.issue_cert("secure.test", "alt.secure.test")
            fake.apply("secrets", tls_secret("secure-tls", second.cert_chain_pems[0].bytes(),
                                             second.private_key_pem.bytes()))

            async def rotated() -> bool:
                answer = await https_get(app.port("web"), "secure.test", ctx=verify)
                return answer.names == ["secure.test", "alt.secure.test"]
            await until(rotated)


async def test_status_written_once() -> None:
    async with fake_api() as fake, backends("127.0.0.1") as (b1,):
        web_service(fake, b1)
        fake.apply("ingresses", simple_ingress("site", "a.test"))
        fake.apply("ingresses", simple_ingress("other", "b.test"))
        provider = provider_for(fake, ingress_endpoint=IngressEndpoint(ip="192.0.2.10", hostname="lb.example.test"))
        async with running([provider]) as (app, session):
            await until(status_is(app, session, "a.test", 200))

            async def both_written() -> bool:
                return len(fake.status_puts) >= 2
            await until(both_written)
            want = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10", "hostname": "lb.example.test"}]}}
            assert fake.get("ingresses", "default", "site")["status"] == want
            assert fake.get("ingresses", "default", "other")["status"] == want
            # More changes (each one a new translation) write nothing: the status is already right.
            for i in range(5):
                fake.apply("endpointslices", slice_("web-0", "web", [endpoint(addr(b1))], [("http", b1.port)]))
                fake.apply("services", service(f"unrelated-{i}"))
            before = provider.translations

            async def settled() -> bool:
                return provider.translations >= before + 1 and fake.rv == _last_seen(provider)
            await until(settled)
            await asyncio.sleep(0.3)
            assert len(fake.status_puts) == 2, fake.status_puts
            assert provider.status_writes == 2


def _last_seen(provider: KubernetesIngressProvider) -> int:
    rvs = [int(obj["metadata"]["resourceVersion"]) for store in (provider.cluster.services,
                                                                   provider.cluster.endpoint_slices)
           for obj in store.values()]
    return max(rvs)


async def test_status_from_published_service_follows_it() -> None:
    async with fake_api() as fake, backends("127.0.0.1") as (b1,):
        web_service(fake, b1)
        fake.apply("services", service("traefik", namespace="kube-system", lb_status=[{"ip": "198.51.100.1"}]))
        fake.apply("ingresses", simple_ingress("site", "a.test", namespace="default"))
        fake.apply("services", service("web", [{"name": "http", "port": 80}], namespace="default"))
        provider = provider_for(fake, namespaces=["default"],
                                ingress_endpoint=IngressEndpoint(published_service="kube-system/traefik"))
        async with running([provider]):
            async def status_ip(ip: str) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    ing = fake.get("ingresses", "default", "site") or {}
                    return bool(ing.get("status") == {"loadBalancer": {"ingress": [{"ip": ip}]}})
                return check
            await until(await status_ip("198.51.100.1"))
            fake.apply("services", service("traefik", namespace="kube-system", lb_status=[{"ip": "198.51.100.2"}]))
            await until(await status_ip("198.51.100.2"))
            await asyncio.sleep(0.2)
            assert [s for _, _, s in fake.status_puts] == [
                {"loadBalancer": {"ingress": [{"ip": "198.51.100.1"}]}},
                {"loadBalancer": {"ingress": [{"ip": "198.51.100.2"}]}}]


@pytest.mark.parametrize("gone_as_http", [False, True])
async def test_watch_expiry_relists_without_losing_routes(gone_as_http: bool) -> None:
    async with fake_api(gone_as_http=gone_as_http) as fake, backends("127.0.0.1") as (b1,):
        web_service(fake, b1)
        fake.apply("ingresses", simple_ingress("site", "a.test"))
        provider = provider_for(fake)
        async with running([provider]) as (app, session):
            await until(status_is(app, session, "a.test", 200))
            lists_before = provider.lists
            fake.compact()  # history forgotten, watches cut: resuming from our resourceVersion gets 410
            fake.apply("ingresses", simple_ingress("late", "late.test"))
            failures = 0
            deadline = time.monotonic() + 15  # generous: a loaded CI machine (seen flaky at 5 s)

            async def relisted() -> bool:
                return provider.relists >= 5 and await fetch(app, session, "late.test") == 200
            while not await relisted():
                failures += await fetch(app, session, "a.test") != 200
                assert time.monotonic() < deadline, f"no re-list after 410 (relists {provider.relists})"
                await asyncio.sleep(0.01)
            assert failures == 0, f"{failures} failed requests"  # the route stayed up the whole time
            assert provider.lists >= lists_before + 5  # one new list per reflector
            assert fake.list_requests("ingresses") >= 2


async def test_api_outage_keeps_routes_and_reconnect_resyncs() -> None:
    async with fake_api() as fake, backends("127.0.0.1", "127.0.0.2") as (b1, b2):
        web_service(fake, b1)
        fake.apply("ingresses", simple_ingress("site", "a.test"))
        provider = provider_for(fake)
        async with running([provider]) as (app, session):
            await until(status_is(app, session, "a.test", 200))
            await fake.outage()
            # Changes made while we cannot see them.
            fake.apply("ingresses", simple_ingress("new", "new.test"))
            fake.apply("endpointslices", slice_("web-0", "web", [endpoint(addr(b2))], [("http", b2.port)]))

            async def errors_seen() -> bool:
                return provider.watch_errors >= 3
            await until(errors_seen)
            down_for = time.monotonic()
            while time.monotonic() - down_for < 0.5:  # routes stay served from the last good configuration
                assert await fetch(app, session, "a.test") == 200
            assert len(b2.requests) == 0 and await fetch(app, session, "new.test") == 404

            await fake.restore()
            resync = await until(status_is(app, session, "new.test", 200))
            await until(lambda: _served_by(app, session, b2))
            count = len(b1.requests)
            for _ in range(5):
                assert await fetch(app, session, "a.test") == 200
            assert len(b1.requests) == count  # the endpoint moved to b2 while the API was away
            print(f"resynced {resync * 1000:.0f} ms after the API server came back")


async def test_namespaces_label_selector_and_classes() -> None:
    async with fake_api() as fake, backends("127.0.0.1") as (b1,):
        for ns in ("team-a", "team-b"):
            web_service(fake, b1, namespace=ns)
        fake.apply("ingressclasses", {"metadata": {"name": "edge"}, "spec": {"controller": "traefik.io/ingress-controller"}})
        fake.apply("ingressclasses", {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}})
        expose = {"expose": "yes"}
        fake.apply("ingresses", simple_ingress("ok", "ok.test", namespace="team-a", labels=expose, class_name="edge"))
        fake.apply("ingresses", simple_ingress("nolabel", "nolabel.test", namespace="team-a", class_name="edge"))
        fake.apply("ingresses", simple_ingress("otherns", "otherns.test", namespace="team-b", labels=expose,
                                               class_name="edge"))
        fake.apply("ingresses", simple_ingress("nginx", "nginx.test", namespace="team-a", labels=expose,
                                               class_name="nginx"))
        provider = provider_for(fake, namespaces=["team-a"], label_selector="expose=yes")
        async with running([provider]) as (app, session):
            await until(status_is(app, session, "ok.test", 200))
            for host in ("nolabel.test", "otherns.test", "nginx.test"):
                assert await fetch(app, session, host) == 404, host
            assert all("/namespaces/team-a/" in p or "ingressclasses" in p for _, p in fake.requests if "watch" in p)
            assert all("labelSelector=expose" in p for _, p in fake.requests if "/ingresses?" in p)


async def test_wrong_token_is_retried_not_routed() -> None:
    async with fake_api() as fake, backends("127.0.0.1") as (b1,):
        web_service(fake, b1)
        fake.apply("ingresses", simple_ingress("site", "a.test"))
        provider = KubernetesIngressProvider(endpoint=fake.url, token="wrong", backoff_initial=0.05, backoff_max=0.1)
        async with running([provider]) as (app, session):
            async def failing() -> bool:
                return provider.watch_errors >= 5
            await until(failing)
            assert await fetch(app, session, "a.test") == 404


async def test_token_from_file_and_throttle(tmp_path: Any) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    async with fake_api() as fake, backends("127.0.0.1") as (b1,):
        web_service(fake, b1)
        provider = KubernetesIngressProvider(endpoint=fake.url, token=str(token_file), throttle_duration=0.4,
                                             backoff_initial=0.05)
        async with running([provider]) as (app, session):
            await until(lambda: _listed(fake))
            await asyncio.sleep(0.5)
            reloads = app.reloads
            start = time.monotonic()
            for i in range(10):  # a burst of changes inside one throttle window
                fake.apply("ingresses", simple_ingress(f"site-{i}", f"s{i}.test"))
                await asyncio.sleep(0.02)
            await until(status_is(app, session, "s9.test", 200))
            took = time.monotonic() - start
            assert app.reloads - reloads <= 3, app.reloads - reloads  # coalesced, not 10 reloads
            print(f"10 changes in {took * 1000:.0f} ms applied in {app.reloads - reloads} reload(s)")


async def test_kubeconfig_is_used_when_set(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with fake_api() as fake, backends("127.0.0.1") as (b1,):
        web_service(fake, b1)
        fake.apply("ingresses", simple_ingress("site", "a.test"))
        kubeconfig = tmp_path / "config"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": fake.url}}],
            "users": [{"name": "me", "user": {"token": TOKEN}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "me"}}]}))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        provider = KubernetesIngressProvider(backoff_initial=0.05)  # no endpoint: $KUBECONFIG decides
        async with running([provider]) as (app, session):
            await until(status_is(app, session, "a.test", 200))


def test_endpoint_required_outside_a_cluster() -> None:
    with pytest.raises(ValueError, match="endpoint is required"):
        asyncio.run(KubernetesIngressProvider().configuration())


async def test_in_cluster_service_account(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a pod: the service account token is sent; ``endpoint`` overrides the API address."""
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "ca.crt").write_bytes(trustme.CA().cert_pem.bytes())
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    async with fake_api() as fake, backends("127.0.0.1") as (b1,):
        web_service(fake, b1)
        fake.apply("ingresses", simple_ingress("site", "a.test"))
        provider = KubernetesIngressProvider(endpoint=fake.url, service_account_dir=str(tmp_path),
                                             backoff_initial=0.05)
        cfg = await provider.configuration()
        assert cfg.host == fake.url and cfg.ssl_ca_cert == str(tmp_path / "ca.crt")
        async with running([provider]) as (app, session):
            await until(status_is(app, session, "a.test", 200))


async def test_https_api_server_with_cert_auth_file(tmp_path: Any) -> None:
    """certAuthFilePath: the API server's certificate is verified against that CA (and only it)."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.crt"
    ca.cert_pem.write_to_path(str(ca_file))
    async with fake_api(ssl_context=server_ctx) as fake, backends("127.0.0.1") as (b1,):
        assert fake.url.startswith("https://")
        web_service(fake, b1)
        fake.apply("ingresses", simple_ingress("site", "a.test"))
        untrusted = KubernetesIngressProvider(endpoint=fake.url, token=TOKEN, backoff_initial=0.05, backoff_max=0.1)
        async with running([untrusted]) as (app, session):
            async def refused() -> bool:
                return untrusted.watch_errors >= 3
            await until(refused)
            assert await fetch(app, session, "a.test") == 404 and fake.requests == []
        trusted = provider_for(fake, cert_auth_file_path=str(ca_file))
        async with running([trusted]) as (app, session):
            await until(status_is(app, session, "a.test", 200))


async def test_status_write_retried_after_failure() -> None:
    async with fake_api() as fake, backends("127.0.0.1") as (b1,):
        web_service(fake, b1)
        fake.apply("ingresses", simple_ingress("site", "a.test"))
        fake.fail_status = 2  # the first two PUTs answer 500
        provider = provider_for(fake, ingress_endpoint=IngressEndpoint(ip="192.0.2.10"))
        async with running([provider]):
            async def written() -> bool:
                # the fake stores the status before the provider reads the 200: wait for both
                ing = fake.get("ingresses", "default", "site") or {}
                return bool(ing.get("status")) and provider.status_writes > 0
            await until(written)
            assert len(fake.status_puts) == 3 and provider.status_writes == 1


async def test_forbidden_ingress_classes_do_not_block_routing() -> None:
    """An older ClusterRole without ingressclasses: Ingresses without a class are still routed."""
    async with fake_api() as fake, backends("127.0.0.1") as (b1,):
        fake.forbidden.add("ingressclasses")
        web_service(fake, b1)
        fake.apply("ingresses", simple_ingress("site", "a.test"))
        async with running([provider_for(fake)]) as (app, session):
            await until(status_is(app, session, "a.test", 200))
