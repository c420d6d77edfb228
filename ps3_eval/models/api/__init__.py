"""API backends: OpenAI, Anthropic, Gemini and OpenAI-compatible servers (the ``api`` extra)."""
