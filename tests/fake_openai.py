"""A small OpenAI-compatible chat-completions server for tests, on 127.0.0.1.

It speaks the real protocol over real HTTP/1.1 (stdlib ``http.server`` in a thread):
server-sent events with chunked transfer encoding when the request asks to stream, one
JSON body otherwise. Each request takes the next scripted :class:`Scripted` answer (the
last one repeats), so a test decides exactly what the model "says" and how it fails:
an HTTP error with a JSON error body, a connection cut mid-stream, a server that never
answers, slow chunks. Every request body and header is recorded for assertions.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec

# How long a "hanging" answer waits before giving up (the server closing ends it sooner).
HANG_LIMIT_SECONDS = 30.0


class Scripted(msgspec.Struct, frozen=True):
    """One answer. ``usage``: (prompt_tokens, completion_tokens), or None to send none."""

    text: str = "Hello from the fake model."
    usage: tuple[int, int] | None = (11, 7)
    stream: bool | None = None  # None: as the request asks
    chunk_delay: float = 0.0
    status: int = 200
    error_message: str = "the fake server failed"
    drop_after_chunks: int | None = None
    hang: bool = False
    model: str = "fake-model-1"


class Recorded(msgspec.Struct, frozen=True):
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None  # keep test output clean

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        body = json.loads(raw or b"{}")
        self.server.fake.record(Recorded(self.path, dict(self.headers.items()), body))
        if not self.path.endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        answer = self.server.fake.next_answer()
        try:
            self._answer(answer, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (e.g. Ctrl+C)

    def _answer(self, answer: Scripted, body: dict[str, Any]) -> None:
        if answer.hang:
            self.server.fake.closing.wait(HANG_LIMIT_SECONDS)
            self.close_connection = True
            return
        if answer.status >= 400:
            self._send_json(
                answer.status, {"error": {"message": answer.error_message, "type": "server_error"}}
            )
            return
        stream = body.get("stream", False) if answer.stream is None else answer.stream
        if stream:
            self._stream(answer, body)
        else:
            self._send_json(200, self._completion(answer))

    def _completion(self, answer: Scripted) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": answer.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "finish_reason": "stop",
                }
            ],
        }
        if answer.usage is not None:
            reply["usage"] = _usage(answer.usage)
        return reply

    def _stream(self, answer: Scripted, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": answer.model,
                "choices": choices,
                **extra,
            }

        self._event(chunk([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]))
        for number, piece in enumerate(_pieces(answer.text)):
            if answer.drop_after_chunks is not None and number >= answer.drop_after_chunks:
                self._drop()
                return
            if answer.chunk_delay:
                time.sleep(answer.chunk_delay)
            self._event(chunk([{"index": 0, "delta": {"content": piece}, "finish_reason": None}]))
        self._event(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if include_usage and answer.usage is not None:
            self._event(chunk([], usage=_usage(answer.usage)))
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _event(self, data: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(data).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """Cut the connection without finishing the chunked body."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _send_json(self, status: int, data: dict[str, Any]) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _usage(usage: tuple[int, int]) -> dict[str, int]:
    prompt, completion = usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client hanging up mid-answer is part of the tests


class FakeOpenAI:
    """Start with ``with FakeOpenAI() as server:``; point clients at ``server.base_url``."""

    def __init__(self, *answers: Scripted) -> None:
        self._answers: list[Scripted] = list(answers) or [Scripted()]
        self._lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, *answers: Scripted) -> None:
        """Replace the queue of answers (the last one repeats)."""
        with self._lock:
            self._answers = list(answers)

    def next_answer(self) -> Scripted:
        with self._lock:
            return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def free_port() -> int:
    """A port nothing listens on (for connection-refused tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def running(*answers: Scripted) -> Iterator[FakeOpenAI]:
    """Generator body for a pytest fixture: ``yield from running(...)``."""
    with FakeOpenAI(*answers) as server:
        yield server
