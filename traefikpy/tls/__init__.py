"""TLS termination: certificates, option sets, SNI selection, and the TLS-or-plain entry point.

* ``clienthello``: sans-IO ClientHello reader (TLS or not, the SNI) for the first-byte peek;
* ``certs``: certificate loading (path or PEM), the generated default, the SNI-keyed store;
* ``options``: ``tls.options`` entries checked and turned into ``ssl.SSLContext`` objects;
* ``manager``: the TLS state of one configuration (swapped with each graph) and the
  ``host -> option set`` index built from TLS routers' ``Host`` matchers;
* ``listener``: the entry point that peeks each connection, picks the context by SNI and
  terminates TLS, and the 421 Misdirected Request check.
"""

from __future__ import annotations

from traefikpy.tls.listener import TLSEntryPoint, misdirected_check
from traefikpy.tls.manager import TLSManager, TLSRuntime, server_name_of

__all__ = ["TLSEntryPoint", "TLSManager", "TLSRuntime", "misdirected_check", "server_name_of"]
