"""The HTTP service: FastAPI app with `/v1/predict`, health, readiness, metrics and docs.

Every error is JSON `{"error": {"code", "message", "field"?}}` with the right status code,
and no request can make the server fail: the body is size-checked before it is parsed,
decoded and validated by hand so each failure gets its own status, and anything unexpected
becomes a 500 with the request id and no stack trace.
"""

import gc
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from triage.serve.api_schema import (
    EXAMPLE_REQUEST,
    MAX_BODY_BYTES,
    MAX_ITEMS,
    PredictRequest,
    PredictResponse,
)
from triage.serve.batching import ScoringQueue
from triage.serve.observability import LOGGER, ServiceMetrics
from triage.serve.predictor import Predictor, as_utc, iso_utc

log = logging.getLogger(LOGGER)
CLIENT_CLOSED = 499
"""Status recorded (never sent) when the client disconnects mid-request, as nginx does."""
MAX_JSON_DEPTH = 32
"""A valid request is at most 5 levels deep; deeper bodies are refused before validation."""
DOC_PATHS = {"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}
WARM_UP_TEXTS = ["Курьер опоздал", "Дякую за сервіс", "Благодаря", "the app crashes", "kurier opyat opozdal"]


def error(status: int, code: str, message: str, field: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


class RequestError(Exception):
    """A client error detected while reading the request; rendered by `error`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise RequestError(413, "payload_too_large", f"request body over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():  # raises ClientDisconnect when the client goes away
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise RequestError(413, "payload_too_large", f"request body over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _repair_surrogates(value: Any) -> Any:
    """JSON may carry lone surrogates (\\ud800), which UTF-8 cannot; they become U+FFFD."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_repair_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_repair_surrogates(k): _repair_surrogates(v) for k, v in value.items()}
    return value


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                stack.extend(
                    (child, level + 1) for child in (node.values() if isinstance(node, dict) else node)
                )
    return deepest


def _parse(body: bytes, content_type: str) -> PredictRequest:
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise RequestError(415, "unsupported_media_type", "send the request as application/json")
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RequestError(400, "invalid_encoding", f"body is not valid UTF-8 (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise RequestError(400, "invalid_json", f"malformed JSON: {exc.msg} at position {exc.pos}") from exc
    except (ValueError, RecursionError) as exc:  # a number of over 4,300 digits, or nesting too deep
        raise RequestError(
            422, "invalid_request", f"body: unsupported JSON value ({_first_line(exc)})"
        ) from exc
    depth = _depth(payload)
    if depth > MAX_JSON_DEPTH:
        raise RequestError(
            422, "invalid_request", f"body: JSON nested {depth} levels deep; at most {MAX_JSON_DEPTH}"
        )
    payload = _repair_surrogates(payload)
    items = payload.get("items") if isinstance(payload, dict) else None
    if isinstance(items, list) and len(items) > MAX_ITEMS:
        message = f"{len(items)} items; at most {MAX_ITEMS} per request"
        raise RequestError(413, "too_many_items", message, "items")
    try:
        return PredictRequest.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        message = first["msg"].removeprefix("Value error, ")
        raise RequestError(422, "invalid_request", f"{where}: {message}", where) from exc


def create_app(predictor: Predictor, api_key: str | None = None) -> FastAPI:
    """The service around one loaded predictor; `api_key` protects `/v1/*` when set."""
    metrics = ServiceMetrics()
    scoring = ScoringQueue(predictor.score)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.ready = False
        await run_in_threadpool(predictor.model.langid.warm_up)
        await run_in_threadpool(predictor.predict, WARM_UP_TEXTS)
        # The model is hundreds of thousands of long-lived objects; without this, every full
        # garbage collection walks them all and stalls requests (the latency tail).
        gc.freeze()
        app.state.ready = True
        log.info("ready", extra={"model": predictor.info.name, "version": predictor.info.version})
        yield
        app.state.ready = False
        scoring.close()

    app = FastAPI(
        title="triage",
        version="1",
        summary="Complaint cause, troll detection and reply suggestions for ru/uk/bg/en comments",
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request_id = request_id[:64]
        request.state.items = 0
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except ClientDisconnect:
            # Not a server error: nobody is left to answer. Counted and logged under its own status.
            response = error(CLIENT_CLOSED, "client_disconnected", "the client closed the connection")
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id, "path": request.url.path})
            response = error(500, "internal_error", "unexpected server error", request_id=request_id)
        route = getattr(request.scope.get("route"), "path", None)
        if route is None:
            route = request.url.path if request.url.path in DOC_PATHS else "unmatched"
        elapsed = time.perf_counter() - started
        response.headers["X-Request-ID"] = request_id
        metrics.requests.labels(route, request.method, str(response.status_code)).inc()
        metrics.latency.labels(route).observe(elapsed)
        log.info(
            "client disconnected" if response.status_code == CLIENT_CLOSED else "request",
            extra={
                "request_id": request_id,
                "route": route,
                "method": request.method,
                "status": response.status_code,
                "latency_ms": round(elapsed * 1000, 2),
                "items": request.state.items,
            },
        )
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="The model is loaded and a warm-up prediction succeeded")
    async def readyz(request: Request) -> JSONResponse:
        if getattr(request.app.state, "ready", False):
            return JSONResponse({"status": "ready", "model": predictor.info.model_dump()})
        return error(503, "not_ready", "the model is still loading")

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/predict",
        tags=["predictions"],
        summary="Score up to 256 comments: language, cause, troll, action and reply",
        response_model=PredictResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": PredictRequest.model_json_schema(
                            ref_template="#/components/schemas/{model}"
                        ),
                        "example": EXAMPLE_REQUEST,
                    }
                },
            }
        },
        responses={
            400: {"description": "malformed JSON or invalid UTF-8"},
            401: {"description": "missing or wrong API key (when TRIAGE_API_KEY is set)"},
            413: {"description": "body over 1 MiB or more than 256 items"},
            415: {"description": "content type is not application/json"},
            422: {"description": "wrong types, missing or unknown fields, empty or over-long text"},
        },
    )
    async def predict(request: Request) -> Response:
        if api_key is not None:
            supplied = request.headers.get("authorization", "")
            scheme, _, token = supplied.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), api_key.encode()):
                return error(401, "unauthorized", "send Authorization: Bearer <API key>")
        try:
            parsed = _parse(await _read_body(request), request.headers.get("content-type", ""))
        except RequestError as exc:
            return error(exc.status, exc.code, exc.message, exc.field)
        request.state.items = len(parsed.items)
        try:
            settings = predictor.replies.settings.merged(parsed.settings)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(["settings", *(str(p) for p in first["loc"])])
            return error(422, "invalid_settings", f"{where}: {first['msg']}", where)
        texts = [item.text for item in parsed.items]
        predictions = predictor.suggest(
            texts,
            await scoring.score(texts),
            ids=[item.id for item in parsed.items],
            names=[item.name for item in parsed.items],
            created_at=[item.created_at for item in parsed.items],
            settings=settings,
        )
        for p in predictions:
            metrics.predictions.labels(p.lang, p.cause, str(p.troll).lower(), p.action).inc()
        body = {
            "model": predictor.info.model_dump(),
            "predictions": [
                {"id": item.id, "created_at": iso_utc(as_utc(item.created_at)), **p.model_dump()}
                for item, p in zip(parsed.items, predictions, strict=True)
            ],
        }
        return Response(orjson.dumps(body), media_type="application/json")

    def openapi() -> dict[str, Any]:
        """FastAPI's schema plus the request models, which the handler validates itself."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            request_schema = PredictRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(request_schema.pop("$defs", {}))
            components["PredictRequest"] = request_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
