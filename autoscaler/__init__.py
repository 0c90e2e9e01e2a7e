"""The autoscaler: replicas follow each function's load, its backlog and its idleness.

``decision`` (the pure rule: labels, load, replicas and time in; a count and its reason
out), ``observe`` (the load, read from the gateway's ``/metrics``), ``loop`` (observe,
decide, scale through the gateway's system API, log and count each change), ``config``
and ``main`` (``faasq-autoscaler``).
"""
