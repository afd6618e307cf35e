"""The HTTP entrypoint: a Sanic app with thin controllers over the relay use-case."""
