"""The webhook connector: ``POST /webhook/<topic>`` with signature checks invokes the topic's functions."""
