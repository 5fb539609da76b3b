"""uvicorn's httptools protocol with the limits uvicorn has no setting for, and JSON errors.

Why: uvicorn bounds idle keep-alive connections (`timeout_keep_alive`) and, only for its h11
parser, the size of an incomplete request (`h11_max_incomplete_event_size`); the faster
httptools parser we run has neither a header-size cap (a 100 MB `Authorization` header was
read into memory) nor a deadline for a request whose headers or body never finish arriving.
This subclass adds both, and answers what the parser rejects (conflicting Content-Length and
Transfer-Encoding, unknown methods, malformed request lines) with the service's JSON error
body instead of uvicorn's plain text.
"""

import asyncio
import json
import logging

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 32 * 1024
"""Request line plus all headers; larger requests get 431 and the connection is closed."""
HEADER_TIMEOUT_SECONDS = 10.0
"""From a new connection (or the first byte of a request) until its headers are complete."""
BODY_TIMEOUT_SECONDS = 30.0
"""From complete headers until the whole body has arrived."""
LINGER_SECONDS = 2.0
"""After refusing a request, how long to drain what the client still sends before closing."""

log = logging.getLogger("triage.http")
_REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Header-size cap, header/body deadlines and JSON errors for what never reaches the app."""

    max_header_bytes = MAX_HEADER_BYTES
    header_timeout = HEADER_TIMEOUT_SECONDS
    body_timeout = BODY_TIMEOUT_SECONDS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_bytes, self._headers_done, self._discarding = 0, False, False
        self._deadline: asyncio.TimerHandle | None = None
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        self._unset_keepalive_if_required()
        if not self._headers_done:
            self._header_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            self._refuse(400, "bad_request", f"invalid HTTP request: {str(exc)[:120]}")
            return
        # httptools buffers an unfinished header line itself: bound what it may hold.
        if not self._headers_done and self._header_bytes > self.max_header_bytes:
            self._refuse(
                431, "headers_too_large", f"request line and headers over {self.max_header_bytes} bytes"
            )

    # Parser callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._headers_done = False
        self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._headers_done, self._header_bytes = True, 0
        self._arm(self.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # Limits ----------------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = asyncio.get_running_loop().call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        if self.cycle is not None:
            self.cycle.disconnected = True  # the app stops waiting for the rest of the body
        self._refuse(408, "request_timeout", "the request did not arrive in time")

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer with the service's JSON error body and close the connection."""
        self._disarm()
        log.warning("refused below the application", extra={"status": status, "code": code})
        if self.transport.is_closing() or self._discarding:
            return
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + body)
        # Lingering close: closing while the client is still sending would reset the connection
        # and lose this answer, so half-close, discard what still arrives, then close.
        self._discarding = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)
