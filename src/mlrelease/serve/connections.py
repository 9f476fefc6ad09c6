"""Limits on client connections that uvicorn lacks: deadlines for a request's headers and body, a
cap on the size of its headers, and a cap on open connections.

uvicorn (0.54, httptools) closes a connection only when it idles after an answer
(``timeout_keep_alive``): a client that connects and then sends its headers a byte at a time, or
not at all, holds the connection for ever (1,500 of them held a server for a minute). Its
``limit_concurrency`` answers 503 only once a request's headers are complete, so it does not stop
those clients either, and it counts with ``>=``: a limit of N serves N - 1 connections.

``limited_protocol(limits)`` returns uvicorn's httptools protocol with:

- a header deadline, armed when a connection opens and when a request's first byte arrives on a
  kept-alive one, disarmed when the headers are complete; past it the client gets a 408 and the
  connection is closed;
- a body deadline from the headers to the end of the body; past it the connection is closed (the
  application then sees the client leave);
- a cap on the size of a request's line and headers (``limits.max_header_bytes``): past it the
  client gets a 431 and the connection is closed;
- a cap: a connection beyond ``limits.max`` open ones gets a 503 and is closed at once.

While the server itself has stopped reading (a pipelined request waits for the one before it,
or the application has not taken the body yet), a deadline is put off, not enforced: the client
cannot be late for what the server does not read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlrelease.config import ConnectionsConfig

logger = logging.getLogger("uvicorn.error")


def _response(status: bytes, message: str) -> bytes:
    body = b'{"error":"' + message.encode() + b'"}'
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: close\r\n\r\n"
        + body
    )


TOO_BIG = _response(b"431 Request Header Fields Too Large", "the request line and headers are too large")
TOO_MANY = _response(b"503 Service Unavailable", "too many open connections; retry later")
TOO_SLOW = _response(b"408 Request Timeout", "the request's headers did not arrive in time")


class LimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body deadlines and header-size and connection caps."""

    limits: ClassVar[ConnectionsConfig] = ConnectionsConfig()
    on_close: ClassVar[Callable[[str], None] | None] = None  # called with the reason
    _warned: ClassVar[float] = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_head = True  # until the request line and headers are complete
        self._head_bytes = 0  # read while they were not
        self._parsed_head_bytes = 0  # of the request line and headers parsed
        self._head_too_big = False

    # -------------------------------------------------------------- deadlines

    def _arm(self, seconds: float, handler: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, handler)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, reason: str, seconds: float, handler: Callable[[], None], answer: bytes) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.flow is not None and self.flow.read_paused:
            self._arm(seconds, handler)  # the server is not reading: not the client's delay
            return
        if answer:
            self.transport.write(answer)
        self.transport.close()
        self._closed(reason)

    def _header_expired(self) -> None:
        s = self.limits.header_timeout_s
        self._expired("header_timeout", s, self._header_expired, TOO_SLOW)

    def _body_expired(self) -> None:
        s = self.limits.body_timeout_s
        self._expired("body_timeout", s, self._body_expired, b"")

    def _closed(self, reason: str) -> None:
        if type(self).on_close is not None:
            type(self).on_close(reason)  # type: ignore[misc]

    # ---------------------------------------------------------- uvicorn hooks

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max:
            transport.write(TOO_MANY)
            transport.close()
            self._closed("max_connections")
            now = time.monotonic()
            if now - LimitedProtocol._warned > 10:  # one line per 10 s, not one per refusal
                LimitedProtocol._warned = now
                logger.warning(
                    "refusing connections: %d open, serving.connections.max is %d",
                    len(self.connections) - 1,
                    self.limits.max,
                )
            return
        self._arm(self.limits.header_timeout_s, self._header_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a new request on a kept-alive connection
            self._arm(self.limits.header_timeout_s, self._header_expired)

    # httptools sets no limit on the size of a request's head (h11 has one, 16 KB). Counted twice:
    # the bytes read while a head is incomplete (httptools buffers a header until its end, so
    # this is what bounds memory), and the parts of a head that arrived whole within one read.
    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        too_big = self._in_head and self._head_bytes > self.limits.max_header_bytes
        if too_big and not self.transport.is_closing():
            self._refuse_head()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_head(self, n: int) -> None:
        self._parsed_head_bytes += n
        if self._parsed_head_bytes > self.limits.max_header_bytes:
            self._head_too_big = True
            raise ValueError("request head too large")  # stops the parser: see send_400_response

    def send_400_response(self, msg: str) -> None:
        if self._head_too_big:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def _refuse_head(self) -> None:
        self._disarm()
        self.transport.write(TOO_BIG)
        self.transport.close()
        self._closed("header_too_large")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm(self.limits.body_timeout_s, self._body_expired)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head, self._head_bytes = True, 0  # what comes next is the next request's head
        self._parsed_head_bytes = 0
        super().on_message_complete()


def limited_protocol(
    limits: ConnectionsConfig, on_close: Callable[[str], None] | None = None
) -> type[LimitedProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)``, bound to these limits."""
    return type(
        "LimitedProtocol",
        (LimitedProtocol,),
        {"limits": limits, "on_close": staticmethod(on_close) if on_close else None},
    )
