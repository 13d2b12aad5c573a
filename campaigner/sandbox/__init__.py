"""The embedded sandbox: a real HTTP server on loopback that speaks the provider's OMNI API."""
