"""traefikpy: a dynamic edge router and load balancer compatible with Traefik's configuration.

The architecture lives in ``shared/ARCHITECTURE.md``; in short::

    providers ──▶ aggregator ──▶ compile ──▶ Graph ──▶ Switch ──▶ data plane

``traefikpy.config`` holds the frozen configuration models, ``traefikpy.provider`` the provider
seam, ``traefikpy.aggregator`` the merge, ``traefikpy.compiler`` the graph builder and
``traefikpy.proxy`` the data plane.  ``traefikpy.app`` is the composition root.
"""

__version__ = "0.1.0"
