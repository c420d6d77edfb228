"""A local HTTP server speaking the OpenAI, Anthropic and Gemini wire formats, for tests and perf.

It decodes every image it receives (so tests can compare what was sent with what arrived), answers
from a rule, and injects faults in order: ``429`` (with ``Retry-After: retry_after``), ``429rpc``
(a 429 whose only hint is a ``google.rpc.RetryInfo`` ``retryDelay`` of ``retry_delay`` in the error
body, as Gemini sends it), ``500``, ``400`` (its message echoes the credential header, as careless
servers do), ``slow`` (answers after ``slow_s``), ``malformed`` (a 200 that is not JSON), ``empty``
(no text), ``refusal`` and ``echo`` (a 200 whose answer quotes the credential header).

Every request under a ``/fail/`` path prefix gets a 500, so one server can serve a healthy and an
outage run side by side (``perf/api.py``). Like the real API, the Anthropic route refuses an image
whose base64 string is over 5 MB. ``usage`` replaces the reported token counts.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


@dataclass
class Seen:
    """One request as the server received it."""

    api: str
    model: str
    text: str
    images: list[tuple[int, int]]
    image_hashes: list[str]
    image_bytes: list[int]
    auth: str
    fault: str | None
    at: float
    options: dict[str, Any] = field(default_factory=dict)
    """The request body's small settings: Gemini's ``generationConfig`` and per-part
    ``mediaResolution``, OpenAI's and Anthropic's top-level keys other than the messages."""


@dataclass
class FakeApi:
    """Server state; ``url`` is set once it is listening."""

    answer: Callable[[str], str] = lambda text: "A"
    faults: list[str] = field(default_factory=list)
    delay: float = 0.0
    slow_s: float = 5.0
    retry_after: str = "0.05"
    retry_after_ms: str = "50"
    retry_delay: str = "0.2s"
    usage: tuple[int, int] | None = None
    decode: bool = True
    seen: list[Seen] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_fault(self) -> str | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None


def _images(blobs: list[bytes], decode: bool) -> tuple[list[tuple[int, int]], list[str]]:
    sizes, hashes = [], []
    for blob in blobs:
        hashes.append(hashlib.sha256(blob).hexdigest())
        if decode:
            img = Image.open(io.BytesIO(blob))
            img.load()
            sizes.append(img.size)
        else:
            sizes.append((0, 0))
    return sizes, hashes


def _parse(api: str, path: str, body: dict[str, Any]) -> tuple[str, str, list[bytes]]:
    texts: list[str] = []
    blobs: list[bytes] = []
    if api == "openai":
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, str):
                texts.append(content)
                continue
            for part in content:
                if part["type"] == "text":
                    texts.append(part["text"])
                else:
                    url = part["image_url"]["url"]
                    blobs.append(base64.b64decode(url.split(",", 1)[1]))
        return body["model"], "\n".join(texts), blobs
    if api == "anthropic":
        for part in body["messages"][0]["content"]:
            if part["type"] == "text":
                texts.append(part["text"])
            else:
                blobs.append(base64.b64decode(part["source"]["data"]))
        return body["model"], "\n".join(texts), blobs
    model = re.search(r"models/([^:]+):", path).group(1)  # type: ignore[union-attr]
    for content in body["contents"]:
        for part in content["parts"]:
            if "text" in part:
                texts.append(part["text"])
            else:
                inline = part.get("inline_data") or part.get("inlineData")
                data = inline["data"]
                blobs.append(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    return model, "\n".join(texts), blobs


def _options(api: str, body: dict[str, Any]) -> dict[str, Any]:
    if api != "gemini":
        return {k: v for k, v in body.items() if k != "messages"}
    config = body.get("generationConfig") or body.get("generation_config") or {}
    parts = [p for c in body["contents"] for p in c["parts"]]
    images = [p for p in parts if "text" not in p]
    media = [p.get("mediaResolution") or p.get("media_resolution") for p in images]
    return {"generationConfig": config, "mediaResolution": media}


ANTHROPIC_IMAGE_LIMIT = 5 * 1024 * 1024
"""Anthropic's limit on one image, which it applies to the base64 string."""


def _too_large(api: str, body: dict[str, Any]) -> int | None:
    """The length of the first base64 image over Anthropic's limit, if any."""
    if api != "anthropic":
        return None
    for message in body["messages"]:
        for part in message["content"]:
            if part.get("type") == "image" and len(part["source"]["data"]) > ANTHROPIC_IMAGE_LIMIT:
                return len(part["source"]["data"])
    return None


def _error(api: str, status: int, message: str, retry_delay: str | None = None) -> dict[str, Any]:
    if api == "anthropic":
        kind = {429: "rate_limit_error", 500: "api_error"}.get(status, "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if api == "gemini":
        error: dict[str, Any] = {"code": status, "message": message, "status": "ERROR"}
        if retry_delay is not None:
            error["status"] = "RESOURCE_EXHAUSTED"
            error["details"] = [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
            ]
        return {"error": error}
    return {"error": {"message": message, "type": "error", "param": None, "code": None}}


def _reply(api: str, model: str, text: str, n_in: int, n_out: int, n_img: int, kind: str) -> Any:
    refusal = kind == "refusal"
    if api == "openai":
        message = {"role": "assistant", "content": None if refusal else text, "refusal": None}
        if refusal:
            message["refusal"] = "I can't help with that."
        return {
            "id": "c1", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop",
                         "logprobs": None}],
            "usage": {"prompt_tokens": n_in, "completion_tokens": n_out,
                      "total_tokens": n_in + n_out},
        }  # fmt: skip
    if api == "anthropic":
        content = [] if kind == "empty" else [{"type": "text", "text": text}]
        return {
            "id": "m1", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": "refusal" if refusal else "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": n_in, "output_tokens": n_out},
        }  # fmt: skip
    candidate: dict[str, Any] = {"index": 0, "finishReason": "SAFETY" if refusal else "STOP"}
    if not refusal:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": n_in, "candidatesTokenCount": n_out,
            "totalTokenCount": n_in + n_out,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n_in - 258 * n_img},
                                    {"modality": "IMAGE", "tokenCount": 258 * n_img}],
        },
        "modelVersion": model,
    }  # fmt: skip


def input_tokens(text: str, n_images: int) -> int:
    """The server's own token count for a request."""
    return len(text) // 4 + 258 * n_images + 1


def make_handler(state: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            path = self.path
            if path.endswith("/chat/completions"):
                api = "openai"
            elif path.endswith("/messages"):
                api = "anthropic"
            elif ":generateContent" in path:
                api = "gemini"
            else:
                self._send(404, {"error": {"message": f"no route {path}"}})
                return
            auth = (
                self.headers.get("Authorization")
                or self.headers.get("x-api-key")
                or self.headers.get("x-goog-api-key")
                or ""
            )
            model, text, blobs = _parse(api, path, body)
            sizes, hashes = _images(blobs, state.decode)
            fault = "500" if path.startswith("/fail/") else state.next_fault()
            too_large = _too_large(api, body)
            options = _options(api, body)
            del body  # the server keeps no request body alive (perf/api.py measures the client)
            with state.lock:
                state.seen.append(
                    Seen(api, model, text, sizes, hashes, [len(b) for b in blobs], auth, fault,
                         time.monotonic(), options)
                )  # fmt: skip
            if state.delay:
                time.sleep(state.delay)
            if too_large is not None:
                message = (f"image exceeds 5 MB maximum: {too_large} bytes > "
                           f"{ANTHROPIC_IMAGE_LIMIT} bytes")  # fmt: skip
                self._send(400, _error(api, 400, message))
                return
            if fault == "429":
                self._send(429, _error(api, 429, "slow down"), {"Retry-After": state.retry_after})
                return
            if fault == "429ms":
                headers = {"retry-after-ms": state.retry_after_ms}
                self._send(429, _error(api, 429, "slow down"), headers)
                return
            if fault == "429rpc":
                self._send(429, _error(api, 429, "quota exceeded", state.retry_delay))
                return
            if fault == "500":
                self._send(500, _error(api, 500, "server error"))
                return
            if fault == "400":
                self._send(400, _error(api, 400, f"bad request with credential {auth}"))
                return
            if fault == "slow":
                time.sleep(state.slow_s)
            if fault == "malformed":
                self._send(200, b"{not json")
                return
            answer = "" if fault == "empty" else state.answer(text)
            if fault == "echo":
                answer = f"{answer} (you sent {auth})"
            n_in = input_tokens(text, len(blobs))
            n_out = max(1, len(answer) // 4)
            if state.usage is not None:
                n_in, n_out = state.usage
            self._send(200, _reply(api, model, answer, n_in, n_out, len(blobs), fault or ""))

    return Handler


class Server:
    """Context manager: a FakeApi listening on 127.0.0.1 in a background thread."""

    def __init__(self, state: FakeApi | None = None) -> None:
        self.state = state or FakeApi()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.httpd.daemon_threads = True
        self.state.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self.state

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    """Serve until killed: ``python tests/fake_api.py --delay 0.5`` prints the URL on stdout."""
    import argparse
    import sys

    ap = argparse.ArgumentParser()
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--decode", action="store_true")
    a = ap.parse_args()
    state = FakeApi(delay=a.delay, decode=a.decode)
    server = Server(state)
    print(state.url, flush=True)
    sys.stdout.close()
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
