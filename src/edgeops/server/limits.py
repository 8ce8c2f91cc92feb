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
        if declared_too_large(scope, self.max_bytes):
            await error(send, 413, too_large(self.max_bytes))
            return
        limited_receive = guarded(receive, self.max_bytes, self.timeout_s)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Refused as refused:
            if not started:
                await error(send, refused.status, refused.message)


def declared_too_large(scope: Scope, max_bytes: int) -> bool:
    """Whether the request's content-length is over `max_bytes` (or not a number)."""
    declared = dict(scope["headers"]).get(b"content-length")
    return declared is not None and (not declared.isdigit() or int(declared) > max_bytes)


def guarded(receive: Receive, max_bytes: int, timeout_s: float) -> Receive:
    """`receive` raising `Refused` once the body is over `max_bytes` (413) or has not all
    arrived `timeout_s` after the start (408)."""
    received = 0
    deadline = time.monotonic() + timeout_s

    async def limited_receive() -> Message:
        nonlocal received
        remaining = deadline - time.monotonic()
        try:
            # asyncio.timeout, not wait_for: wait_for wraps every receive in a new task.
            async with asyncio.timeout(max(remaining, 0.001)):
                message = await receive()
        except TimeoutError as exc:
            raise Refused(408, f"request body not received within {timeout_s:g} s") from exc
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise Refused(413, too_large(max_bytes))
        return message

    return limited_receive


def too_large(max_bytes: int) -> str:
    return (
        f"request body is over the {max_bytes:,}-byte limit; send smaller files "
        "(the server's --max-body-bytes sets the limit)"
    )


class Refused(Exception):
    """A request refused while its body was read (too large, too slow)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def error(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer with a JSON error body, `{"error": message}` (and `extra` headers)."""
    body = json.dumps({"error": message}, ensure_ascii=False, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
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
