"""faasq's connectors: the SDK (:mod:`connectors.sdk`), the built-in cron and webhook connectors, and their registry."""
