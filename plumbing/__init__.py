"""Plumbing every faasq component shares, each piece written once.

``logs`` (the call id on every log line), ``settings`` (loading settings, one-line
validation messages, URL and name rules), ``credentials`` (the basic-auth files),
``sessions`` (aiohttp sessions for relaying requests), ``headers`` (hop-by-hop headers),
``asgi`` (small raw-ASGI answers), ``forwarding`` (streaming a request to an upstream and
its response back), ``release`` (faasq's version), ``metrics`` (serving prometheus-client's
series, one process's or a whole stack's), ``tracecontext`` (the W3C trace context) and
``tracing`` (spans exported over OTLP when asked). The watchdog, a standalone program, uses
``headers`` alone.
"""
