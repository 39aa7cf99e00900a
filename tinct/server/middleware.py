"""ASGI middleware of the web app: the request body limit (counted while it streams in) and the access log."""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

ASGIMessage = dict[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]
ASGIApp = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

access_log = logging.getLogger("tinct.access")


async def _send_json(send: Send, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    body = json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


#: paths that never need the access token: liveness, readiness, the page and its assets (which ask for it)
OPEN_PATHS = ("/healthz", "/readyz", "/", "/docs", "/favicon.ico")
OPEN_PREFIXES = ("/static/",)


class TokenMiddleware:
    """Refuse every API call without the access ``token`` with 401 (``Authorization: Bearer <token>``
    or ``X-Tinct-Token: <token>``). The page, its assets, ``/healthz`` and ``/readyz`` stay open.

    Tokens are compared in constant time (:func:`hmac.compare_digest` of their bytes) and never logged.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _given(self, scope: dict[str, Any]) -> bytes:
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer ":
            return auth[7:].strip()
        return headers.get(b"x-tinct-token", b"").strip()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        if hmac.compare_digest(self._given(scope), self.token):
            await self.app(scope, receive, send)
            return
        await _send_json(
            send,
            401,
            {"error": "this server needs an access token: send the header 'Authorization: Bearer <token>'"},
            {"WWW-Authenticate": "Bearer"},
        )


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies above ``max_bytes`` with 413, counting while they stream in.

    A Content-Length above the limit is refused before any byte is read. Otherwise the bytes of
    ``http.request`` messages are counted; the moment they pass the limit, reading stops (the app
    sees an exception from ``receive``), whatever the app tried to answer is dropped and a 413 is
    sent instead. Only the limit's worth of bytes is ever read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> dict[str, str]:
        return {"error": f"request body too large: the limit is {self.max_bytes / 2**20:g} MB"}

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _send_json(send, 400, {"error": "invalid Content-Length header"})
                return
            if declared > self.max_bytes:
                await _send_json(send, 413, self._too_large(), {"Connection": "close"})
                return
        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> ASGIMessage:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: ASGIMessage) -> None:
            nonlocal started
            if exceeded:  # the app's answer to a body it could not read: ours replaces it
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _send_json(send, 413, self._too_large(), {"Connection": "close"})


class AccessLogMiddleware:
    """One line per HTTP request on the ``tinct.access`` logger, in logfmt:

    ``method=POST path=/api/v1/colorize status=200 bytes=48211 ms=812.4 in_bytes=95312 client=127.0.0.1``

    ``bytes`` is the response body, ``in_bytes`` the request body read. The same fields are on
    the record as ``record.access`` (a dict) for JSON formatters. Also sets ``nosniff`` on every answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        fields: dict[str, Any] = {"method": scope["method"], "path": scope["path"], "status": 500, "bytes": 0}
        in_bytes = 0

        async def counting_receive() -> ASGIMessage:
            nonlocal in_bytes
            message = await receive()
            in_bytes += len(message.get("body", b""))
            return message

        async def counting_send(message: ASGIMessage) -> None:
            if message["type"] == "http.response.start":
                fields["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]}
            elif message["type"] == "http.response.body":
                fields["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            client = scope.get("client")
            fields.update(
                ms=round((time.perf_counter() - t0) * 1000, 1), in_bytes=in_bytes, client=client[0] if client else "-"
            )
            access_log.info(" ".join(f"{k}={v}" for k, v in fields.items()), extra={"access": dict(fields)})


# the app ------------------------------------------------------------------------------------------
