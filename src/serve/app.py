"""The HTTP service: FastAPI app with `/v1/predict`, health, readiness, metrics and docs.

Every error is JSON `{"error": {"code", "message", "field"?}}` with the right status code,
and no request can make the server fail: the body is size-checked before it is parsed,
decoded and validated by hand so each failure gets its own status, and anything unexpected
becomes a 500 with the request id and no stack trace.
"""

import asyncio
import contextlib
import gc
import hmac
import json
import logging
import signal
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
    ServedModel,
)
from triage.serve.observability import LOGGER, ServiceMetrics
from triage.serve.predictor import Predictor, as_utc, iso_utc
from triage.serve.rollout import Follower, warm_up
from triage.serve.serving import ServingModel

log = logging.getLogger(LOGGER)
CLIENT_CLOSED = 499
"""Status recorded (never sent) when the client disconnects mid-request, as nginx does."""
MAX_JSON_DEPTH = 32
"""A valid request is at most 5 levels deep; deeper bodies are refused before validation."""
DOC_PATHS = {"/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}


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


def _listen_for_sighup(follower: Follower) -> bool:
    """`SIGHUP` asks the follower to check the source now. Only the main thread may install a
    signal handler (an app run by uvicorn in a test thread does without)."""
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, follower.request_check)
    except (ValueError, RuntimeError, NotImplementedError):
        return False
    return True


def create_app(
    predictor: Predictor,
    api_key: str | None = None,
    *,
    source: str | None = None,
    poll_seconds: float = 0.0,
) -> FastAPI:
    """The service around a loaded predictor; `api_key` protects `/v1/*` when set. With `source`
    (where `predictor` came from), the service follows it: checked every `poll_seconds` (0:
    never) and on `SIGHUP`, and a new model there is swapped in without downtime."""
    metrics = ServiceMetrics()
    serving = ServingModel(predictor)
    follower = Follower(serving, source, poll_seconds, metrics) if source is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.ready = False
        await run_in_threadpool(warm_up, predictor)
        # The model is hundreds of thousands of long-lived objects; without this, every full
        # garbage collection walks them all and stalls requests (the latency tail).
        gc.freeze()
        metrics.serving(serving.current.labels)
        following = None
        hangup = False
        if follower is not None:
            hangup = _listen_for_sighup(follower)
            following = asyncio.create_task(follower.run())
        app.state.ready = True
        info = predictor.info
        log.info("ready", extra={"model": info.name, "version": info.version, "digest": predictor.digest})
        yield
        app.state.ready = False
        if following is not None:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
        if hangup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        serving.close()
        metrics.close()

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
            return JSONResponse({"status": "ready", "model": serving.current.predictor.info.model_dump()})
        return error(503, "not_ready", "the model is still loading")

    def unauthorized(request: Request) -> JSONResponse | None:
        if api_key is None:
            return None
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), api_key.encode()):
            return error(401, "unauthorized", "send Authorization: Bearer <API key>")
        return None

    @app.get(
        "/v1/model",
        tags=["operations"],
        summary="The model answering now: name, registry version, artifact digest",
        response_model=ServedModel,
        responses={401: {"description": "missing or wrong API key (when TRIAGE_API_KEY is set)"}},
    )
    async def model_info(request: Request) -> Response:
        if (refused := unauthorized(request)) is not None:
            return refused
        current = serving.current
        served = ServedModel(
            name=current.predictor.info.name,
            version=current.predictor.info.version,
            digest=current.predictor.digest,
            kind=current.predictor.model.kind,
            loaded_at=iso_utc(current.loaded_at) or "",
        )
        return JSONResponse(served.model_dump())

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
        if (refused := unauthorized(request)) is not None:
            return refused
        try:
            parsed = _parse(await _read_body(request), request.headers.get("content-type", ""))
        except RequestError as exc:
            return error(exc.status, exc.code, exc.message, exc.field)
        request.state.items = len(parsed.items)
        try:
            settings = serving.current.predictor.replies.settings.merged(parsed.settings)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(["settings", *(str(p) for p in first["loc"])])
            return error(422, "invalid_settings", f"{where}: {first['msg']}", where)
        texts = [item.text for item in parsed.items]
        with serving.use() as generation:  # scored, replied to and labelled by one model
            scorer = generation.predictor
            lookup = scorer.lookup(texts)  # cached comments skip the queue
            if lookup.missing:
                lookup.fill(await generation.queue.score(lookup.missing))
            metrics.cache_hits.inc(lookup.hits)
            metrics.cache_misses.inc(lookup.misses)
            metrics.cache_entries.set(len(scorer.cache))
            predictions = scorer.suggest(
                texts,
                lookup.scores(scorer.model.troll_threshold),
                ids=[item.id for item in parsed.items],
                names=[item.name for item in parsed.items],
                created_at=[item.created_at for item in parsed.items],
                settings=settings,
            )
        for p in predictions:
            metrics.predictions.labels(p.lang, p.cause, str(p.troll).lower(), p.action).inc()
        body = {
            "model": scorer.info.model_dump(),
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
