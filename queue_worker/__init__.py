"""faasq's queue worker: pulls async calls from JetStream, runs them, POSTs their results to callbacks.

One flat package along the protocol's steps: ``consumer`` (fetch and settle), ``invoker``
(run the function), ``callback`` (report the result), ``hooks`` (status, dead letters and
batches plug in), ``config`` (the environment) and ``main`` (the ``faasq-worker`` process).
The retry decision itself is :mod:`calls.retry_decision`.
"""
