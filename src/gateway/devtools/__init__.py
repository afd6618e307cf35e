"""Developer tools that ship with the gateway but never run inside it (fake upstreams, benches)."""
