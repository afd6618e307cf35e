"""The gateway's domain: providers, operations, usage, errors and the ports. Knows no framework."""
