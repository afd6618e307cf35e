"""Use-cases: what the gateway does, callable from Sanic, a batch job or a plain script."""
