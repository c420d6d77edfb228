"""API backends: OpenAI, Anthropic, Gemini and OpenAI-compatible servers (the ``api`` extra)."""

ARG_HELP: dict[str, dict[str, str]] = {
    "openai": {
        "model": "OpenAI model name, e.g. gpt-4o, gpt-4.1-mini",
        "api_key_env": "environment variable holding the key (default OPENAI_API_KEY)",
        "detail": "image detail: high (tiles), low (one 512 px view) or auto",
    },
    "openai-compatible": {
        "model": "the model name the server serves, e.g. Qwen/Qwen2-VL-7B-Instruct",
        "api_key_env": "environment variable holding the key, if the server wants one",
        "detail": "image detail sent in the OpenAI request (many servers ignore it)",
        "resize": "provider: shrink to what vision_rule keeps; none: send as large as allowed "
        "(the server's processor decides)",
    },
    "anthropic": {
        "model": "Claude model name, e.g. claude-sonnet-4-5",
        "api_key_env": "environment variable holding the key (default ANTHROPIC_API_KEY)",
        "detail": "not used by Anthropic (an OpenAI setting)",
        "resize": "provider: shrink locally to what Claude's rule keeps (its long-side and "
        "token caps); none: send as large as the API accepts",
    },
    "gemini": {
        "model": "Gemini model name, e.g. gemini-2.5-flash",
        "api_key_env": "environment variable holding the key (default GEMINI_API_KEY, then "
        "GOOGLE_API_KEY)",
        "detail": "not used by Gemini (an OpenAI setting)",
        "resize": "provider: shrink locally to what Gemini's rule keeps; none: send as large as "
        "the API accepts",
    },
}
"""Each API backend's own help for the arguments they share (shown by ``ps3-eval models``).

Kept apart from the backends' code: help text is not behaviour, so it leaves run identities be."""
