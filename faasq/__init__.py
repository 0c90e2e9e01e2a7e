"""faasq: the command line and the embedded-stack supervisor."""
