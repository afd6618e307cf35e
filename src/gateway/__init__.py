"""An HTTP gateway for the Claude, OpenAI and Gemini APIs."""

__version__ = "0.1.0"
