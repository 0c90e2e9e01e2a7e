"""faasq's gateway: async enqueue onto NATS JetStream, and the provider's API and invocations proxied.

Build it with :func:`gateway.app.create_app`; ``faasq-gateway`` (``gateway.main``) serves it.
"""
