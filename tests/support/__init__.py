"""What test modules share; the only part of ``tests`` a test module may import (``tests/unit/test_layers.py``).

Fixtures stay in the ``conftest.py`` files, which import from here. No helper lives in this
file: every import names its module, ``from tests.support.polling import eventually``. No
module is named like a package faasq has or uses (``provider``, ``redis``, ...): the recorder
runs by file path, which puts this folder first on its ``sys.path``.

- ``paths``: the repository's root.
- ``polling``: ``eventually`` (async) and ``until`` (sync), waiting with a deadline.
- ``sockets``: ``bound_socket`` for servers, ``free_port`` for subprocesses that need a number.
- ``processes``: ``alive`` and ``descendants``, read from /proc.
- ``redis_server``: ``start_redis``, Valkey on a unix socket.
- ``stack``: ``faasq`` commands and ``faasq up`` (``Stack``) as subprocesses.
- ``callbacks``: a real callback receiver under uvicorn that can go down and come back.
- ``faults``: the fault tests' stack (``fault_stack``); ``recorder``: the function it runs, by file path.
- ``cli``: ``Cli``, the command line in a box; ``faasq_against``, against a real gateway.
- ``supervisor``: child programs for the supervisor's tests.
- ``gateway_process``: a gateway under uvicorn, its settings, its stream's messages.
- ``gateway_fakes``: the gateway in process over ``FakeLink`` and ``FakeLookup``.
- ``worker``: the queue worker in process, its callback receiver and queued calls.
- ``watchdog_process``: ``python -m watchdog`` processes and fprocess values.
- ``connector_kit``: a restartable gateway, logging functions, the example connector package.
- ``provider_process``: ``faasq-provider`` as a subprocess with functions deployed.
- ``provider_contract``: the suite every provider backend passes, and its deployments.
- ``provider_fake``: ``FakeProvider``, an in-memory provider for the REST server.
- ``local_provider``: settings, scripts and calls of the local provider's tests.
- ``kube_api``, ``kube_discovery``, ``kubelet``: the fake Kubernetes API server, its discovery, its nodes.
- ``kube_provider``: ``Kube``, the Kubernetes provider over that server, and ``send_every_kind``.
- ``kube_schemas``: Kubernetes objects checked without a cluster (schemas, ``kubectl --dry-run``).
- ``asgi``: ``request_body``, for the test servers written as raw ASGI apps.
- ``metrics``: ``Scrape``, one ``/metrics`` read with prometheus-client's parser.
- ``otlp``: ``OtlpReceiver``, an OTLP/HTTP trace receiver that decodes the spans it gets.
"""
