"""Error answers: ``{"error": {"code", "message", "fields": [{"field", "reason"}]}}`` in the caller's language."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dronectl.api.i18n import MESSAGES, field_reason, pick_language, t
from dronectl.dispatch import DispatchError

__all__ = ["ApiError", "install_error_handlers", "BodyLimitMiddleware", "lang_of"]


class ApiError(Exception):
    def __init__(self, status: int, code: str, *, fields: list[dict[str, str]] | None = None,
                 headers: dict[str, str] | None = None, **params: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.params = params
        self.fields = fields or []
        self.headers = headers


def lang_of(request: Request) -> str:
    default = getattr(request.app.state, "default_language", "id")
    return pick_language(request.headers.get("accept-language"), default)


def error_body(code: str, lang: str, fields: list[dict[str, str]] | None = None, **params: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": t(code, lang, **params), "fields": fields or []}}


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        body = error_body(exc.code, lang_of(request), exc.fields, **exc.params)
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(DispatchError)
    async def _dispatch(request: Request, exc: DispatchError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, lang_of(request), **exc.params), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = lang_of(request)
        fields = [{"field": _loc(tuple(e["loc"])), "reason": field_reason(e, lang)} for e in exc.errors()]
        summary = "; ".join(f"{f['field']}: {f['reason']}" for f in fields)
        return JSONResponse(error_body("validation_error", lang, fields, summary=summary), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        lang = lang_of(request)
        code = f"http_{exc.status_code}"
        message = t(code, lang, path=request.url.path, method=request.method) if code in MESSAGES else str(exc.detail)
        return JSONResponse({"error": {"code": code, "message": message, "fields": []}},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimitMiddleware:
    """Refuses request bodies above ``limit`` bytes with 413 before any route sees them.

    The body is read (at most ``limit + 1`` bytes) and replayed, so a chunked upload without a
    Content-Length is caught as well. Also counts answers per method and status for ``/metrics``.
    """

    def __init__(self, app: ASGIApp, limit: int, default_language: str = "id",
                 count: Callable[[str, int], None] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.default_language = default_language
        self.count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        lang = pick_language(headers.get("accept-language"), self.default_language)
        status_box = [0]

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = int(message["status"])
            await send(message)

        try:
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.limit:
                await self._drain(receive)
                await self._refuse(int(declared), lang, counting_send)
                return
            if scope["method"] in ("POST", "PUT", "PATCH"):
                chunks: list[bytes] = []
                size = 0
                more = True
                while more:
                    msg = await receive()
                    if msg["type"] == "http.disconnect":
                        return
                    chunk = msg.get("body", b"")
                    size += len(chunk)
                    if size > self.limit:
                        if msg.get("more_body", False):
                            await self._drain(receive)
                        await self._refuse(size, lang, counting_send, at_least=True)
                        return
                    chunks.append(chunk)
                    more = bool(msg.get("more_body", False))
                body = b"".join(chunks)
                sent = [False]

                async def replay() -> Message:
                    if not sent[0]:
                        sent[0] = True
                        return {"type": "http.request", "body": body, "more_body": False}
                    return await receive()

                await self.app(scope, replay, counting_send)
            else:
                await self.app(scope, receive, counting_send)
        finally:
            if self.count is not None and status_box[0]:
                self.count(scope["method"], status_box[0])

    async def _drain(self, receive: Receive, cap: int = 4 << 20) -> None:
        """Read and discard the rest of a refused body (up to ``cap``), so the client reads our answer
        instead of a reset connection."""
        seen = 0
        while seen < cap:
            msg = await receive()
            if msg["type"] != "http.request":
                return
            seen += len(msg.get("body", b""))
            if not msg.get("more_body", False):
                return

    async def _refuse(self, size: int, lang: str, send: Send, at_least: bool = False) -> None:
        size_s = f">{self.limit}" if at_least else str(size)
        body = json.dumps(error_body("body_too_large", lang, [{"field": "body", "reason": t(
            "body_too_large", lang, size=size_s, limit=self.limit)}], size=size_s, limit=self.limit)).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
