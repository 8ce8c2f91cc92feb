"""Request limits: body size and read time (ASGI middleware), per-key rate (token bucket)."""

import asyncio
import json
import threading
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """Refuse bodies over `max_bytes` (413) and bodies that trickle in slower than `timeout_s`
    allows (408), before any route reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _error(send, 413, self._too_large())
            return
        received = 0
        deadline = time.monotonic() + self.timeout_s
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            remaining = deadline - time.monotonic()
            try:
                # asyncio.timeout, not wait_for: wait_for wraps every receive in a new task.
                async with asyncio.timeout(max(remaining, 0.001)):
                    message = await receive()
            except TimeoutError as exc:
                raise _Refused(
                    408, f"request body not received within {self.timeout_s:g} s"
                ) from exc
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _Refused(413, self._too_large())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _Refused as refused:
            if not started:
                await _error(send, refused.status, refused.message)

    def _too_large(self) -> str:
        return (
            f"request body is over the {self.max_bytes:,}-byte limit; send smaller files "
            "(the server's --max-body-bytes sets the limit)"
        )


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def _error(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateLimiter:
    """A token bucket per caller: `rate` requests a second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[Any, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_time(self, caller: Any) -> float:
        """0 if the caller may go now (a token is taken), else seconds until a token is free."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(caller, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[caller] = (tokens - 1, now)
                return 0.0
            self._buckets[caller] = (tokens, now)
            return (1 - tokens) / self.rate
