"""The async call's core: what the gateway, the queue workers, the connectors and the CLI share about a call.

``wire`` (the queued message) and ``streams`` (the streams and buckets); the records and
their pure rules, ``status``, ``batch`` and ``deadletters``, with the stores that read and
write them, ``status_store`` and ``batch_store``; ``retry_settings`` (one name per setting,
at every hop) and ``retry_decision`` (ack, retry or dead-letter); ``timing``
(``X-Delay``, ``X-Deadline``); ``outcome`` (a run and what it came to); ``callback_guard``;
``settings`` (what the gateway and the workers both read); ``metrics`` (the Prometheus
series, OpenFaaS's and the queue's, and what records them).
"""
