"""The default upstream client: HTTP/1.1 keep-alive connections on asyncio, parsed by httptools."""
