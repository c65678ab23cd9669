"""A real HTTP receiver for webhook tests: a ThreadingHTTPServer on a loopback port, in a thread.

``Receiver(answers=[500, 200])`` answers each POST with the next status of the list (the last one
again once the list is spent) and records every request. Other behaviours: ``delay`` seconds before
answering, ``redirect_to`` (a 302 with that Location), ``body_bytes`` (an answer body that long),
``drip`` (the status line, then a header byte every ``drip`` seconds, never finishing). ``verify``
checks a recorded request's signature with a secret, as a receiver written from docs/events.md would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    answers: list[int] = field(default_factory=lambda: [204])
    delay: float = 0.0
    redirect_to: str = ""
    body_bytes: int = 0
    drip: float = 0.0
    received: list[Received] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._served = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._record(self.path, dict(self.headers.items()), body)
                receiver._answer(self)

            def log_message(self, *args):
                pass

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender hung up on a long answer, as it should

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.received.append(Received(path, headers, body))

    def _next_status(self) -> int:
        with self._lock:
            status = self.answers[min(self._served, len(self.answers) - 1)]
            self._served += 1
        return status

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.drip:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            for _ in range(10_000):
                handler.wfile.write(b"a")
                handler.wfile.flush()
                time.sleep(self.drip)
            return
        status = 302 if self.redirect_to else self._next_status()
        handler.send_response(status)
        if self.redirect_to:
            handler.send_header("Location", self.redirect_to)
        body = b"x" * self.body_bytes if self.body_bytes else b""
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        chunk = 1 << 20
        for start in range(0, len(body), chunk):
            handler.wfile.write(body[start : start + chunk])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify(received: Received, secret: str) -> bool:
    """What a receiver does with X-Gouvernail-Signature (docs/events.md)."""
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.headers.get("X-Gouvernail-Signature", ""))
