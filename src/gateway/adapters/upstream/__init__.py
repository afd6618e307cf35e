"""The upstream port over aiohttp."""
