"""The Redis connector: Pub/Sub channels and Streams with consumer groups."""
