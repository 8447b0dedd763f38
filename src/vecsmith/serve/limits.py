"""Limits at the edge of the server, as plain ASGI middleware (no framework inside).

`BodyLimit` refuses bodies over a size before anything parses them (413); `ConcurrencyLimit`
answers 503 with `Retry-After` once a worker has `max_concurrency` requests in flight, instead
of queueing without bound; `AccessLog` writes one JSON line per request. The per-request
limits (batch size, k, text length) are checked by the routes, which name the field.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass

access_log = logging.getLogger("vecsmith.serve.access")


@dataclass(frozen=True)
class Limits:
    max_batch: int = 1024           # words, texts or inputs in one request
    max_k: int = 1000               # neighbours or labels asked for
    max_body_bytes: int = 4 << 20   # request body
    max_text_chars: int = 10_000    # one word or one text
    max_concurrency: int = 64       # requests in flight per worker before 503
    retry_after_s: int = 1

    def as_dict(self) -> dict:
        return asdict(self)


async def send_error(send, status: int, kind: str, message: str,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """The server's one error shape, `{"error": {"type", "message"}}`, straight over ASGI."""
    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a body over `max_bytes`, whether announced by Content-Length or streamed."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_big = f"request body over the limit of {self.max_bytes} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    return await send_error(send, 400, "invalid_request_error",
                                            "Content-Length is not a number")
                if announced > self.max_bytes:
                    return await send_error(send, 413, "request_too_large", too_big)
        # Read at most max_bytes + 1 before the app sees anything, then replay it.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await send_error(send, 413, "request_too_large", too_big)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


class ConcurrencyLimit:
    """Per worker: at most `limit` requests in flight; the next get 503 + Retry-After.
    `/health` is exempt, so a busy worker still says it is alive."""

    def __init__(self, app, limit: int, retry_after_s: int = 1,
                 exempt: tuple[str, ...] = ("/health",)):
        self.app, self.limit, self.retry_after = app, limit, retry_after_s
        self.exempt = exempt
        self.in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            return await self.app(scope, receive, send)
        if self.in_flight >= self.limit:
            return await send_error(
                send, 503, "overloaded",
                f"the server has {self.in_flight} requests in flight (limit "
                f"{self.limit} per worker); retry after {self.retry_after} s",
                [(b"retry-after", str(self.retry_after).encode())])
        self.in_flight += 1
        try:
            return await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class AccessLog:
    """One JSON line per request on the `vecsmith.serve.access` logger."""

    def __init__(self, app):
        self.app = app
        self.pid = os.getpid()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status, sent = 500, 0

        async def counting_send(message):
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            client = scope.get("client") or ("", 0)
            access_log.info(json.dumps({
                "ts": round(time.time(), 3), "pid": self.pid, "client": client[0],
                "method": scope.get("method"), "path": scope.get("path"), "status": status,
                "bytes": sent, "ms": round((time.perf_counter() - start) * 1e3, 3)}))
