"""The HTTP data plane: entry points, the HTTP/1.1 server, forwarding and upstream pools.

How a request travels (one module per step):

``entrypoint``  listening sockets, graceful shutdown; ``connections`` settings, the
                connection set and its timeout sweeper
``server``      the HTTP/1.1 server Protocol: dispatch, pipelining, keep-alive, refusals, timeouts;
                ``h1reader`` its parsing half (llhttp via httptools)
``h1request``   request head -> :class:`~traefikpy.proxy.http.Exchange` (validation, path rules,
                forwarded headers), with ``target`` / ``forwarded`` / ``h1rules`` as pure rules
``h1body``      the streamed request body (flow control, 100-continue)
``h1writer``    writing the response (framing, keep-alive, the raw fast path)
``forward``     exchange -> upstream request, response streamed back; error mapping;
                ``reqhead`` renders the upstream request head
``upstream``    ``Transport`` settings, ``ServerURL``, pools that outlive configuration graphs
``h1client``    one upstream HTTP/1.1 connection (llhttp response parser); ``resprules`` its
                header tables and the cache of known response heads
``pipe``        the byte pipe after ``101 Switching Protocols``
``proxyproto``  PROXY protocol v1/v2 parser (pure); ``ipcheck`` trusted IP ranges
``errors``      the exception tree and the statuses it maps to

``http`` holds the contract every handler and middleware sees (Exchange, Handler, Body,
ResponseWriter).
"""
