"""The provider: wire types, the provider protocol, its REST server and its backends."""
