"""Opt-in: the Kubernetes Ingress provider against a real cluster (``KUBECONFIG`` set; skipped
otherwise).  It creates a throw-away namespace, an ExternalName Service ``localhost:<port>`` (an
EndpointSlice cannot hold a loopback address, and only loopback may receive our traffic) pointing
at a local backend, and an Ingress; the route must go live, the Ingress status must be written,
and deleting the Ingress must remove the route.  The namespace is deleted afterwards."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import aiohttp
import pytest

from providers.kubernetes_ingress import KubernetesIngressProvider
from providers.kubernetes_translate import Settings
from tests.providers.k8s_objects import ingress, path, rule
from tests.proxy.backends import Backend
from traefikpy.app import App
from traefikpy.config.sources import load_static
from traefikpy.config.static_providers import IngressEndpoint

pytestmark = pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG not set: no real cluster")


async def test_real_cluster_ingress_lifecycle() -> None:
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio import config as k8s_config

    cfg = k8s.Configuration()
    await k8s_config.load_kube_config(config_file=os.environ["KUBECONFIG"], client_configuration=cfg)
    namespace = f"traefikpy-e2e-{uuid.uuid4().hex[:8]}"
    host = f"{namespace}.traefikpy.test"
    backend = await Backend.start()
    async with k8s.ApiClient(configuration=cfg) as api:
        core, net = k8s.CoreV1Api(api), k8s.NetworkingV1Api(api)
        await core.create_namespace({"metadata": {"name": namespace}})
        try:
            await core.create_namespaced_service(namespace, {
                "metadata": {"name": "local"},
                "spec": {"type": "ExternalName", "externalName": "localhost",
                         "ports": [{"name": "http", "port": backend.port}]}})
            await net.create_namespaced_ingress(namespace, ingress("e2e", [rule(host, path("/", "local", "http"))],
                                                                   namespace=namespace))
            provider = KubernetesIngressProvider(
                Settings(allow_external_name_services=True), namespaces=[namespace],
                ingress_endpoint=IngressEndpoint(hostname="traefikpy-e2e.invalid"), backoff_initial=0.2)
            static = load_static(["--entryPoints.web.address=127.0.0.1:0",
                                  "--providers.providersThrottleDuration=0s"], {}, search=False)
            app = App(static, providers=[provider])
            await app.start()
            try:
                async with aiohttp.ClientSession() as session:
                    async def status() -> int:
                        url = f"http://127.0.0.1:{app.port('web')}/echo"
                        async with session.get(url, headers={"Host": host}) as resp:
                            return resp.status

                    async def until(want: int, timeout: float = 30.0) -> None:
                        deadline = time.monotonic() + timeout
                        while await status() != want:
                            assert time.monotonic() < deadline, f"status {want} not reached"
                            await asyncio.sleep(0.2)

                    await until(200)
                    assert backend.requests
                    deadline = time.monotonic() + 30
                    while True:
                        live = await net.read_namespaced_ingress(name="e2e", namespace=namespace)
                        lb = live.status.load_balancer.ingress if live.status and live.status.load_balancer else None
                        if lb and lb[0].hostname == "traefikpy-e2e.invalid":
                            break
                        assert time.monotonic() < deadline, "Ingress status not written"
                        await asyncio.sleep(0.2)
                    await net.delete_namespaced_ingress(name="e2e", namespace=namespace)
                    await until(404)
            finally:
                await app.stop()
        finally:
            await core.delete_namespace(namespace)
            await backend.stop()
