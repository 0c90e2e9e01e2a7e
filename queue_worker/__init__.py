"""faasq's queue worker: pulls async calls from JetStream, runs them, POSTs their results to callbacks.

One flat package along the protocol's steps: ``consumer`` (fetch and settle), ``invoker``
(run the function), ``callback`` (report the result), ``policy`` (decide ack, retry or
dead-letter, a pure function), ``hooks`` (status and dead-letter extension points),
``config`` (the environment) and ``main`` (the ``faasq-worker`` process).
"""
