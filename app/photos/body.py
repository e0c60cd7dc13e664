"""A PATCH body read straight from the socket when gunicorn serves the request.

Through ``request.stream`` every byte of a body passes werkzeug's ``LimitedStream`` and
gunicorn's ``Body``/``LengthReader``/``Unreader``, which gather each ``recv()`` into a
``BytesIO``, copy it out and cut it up again, holding the GIL: on the tus bench that was
most of a worker's Python time (issue 16). For a body of known length gunicorn gives the
application its socket (``gunicorn.socket``); this reads the body from it with one
``recv()`` per piece and tells gunicorn's reader the bytes are consumed, so keep-alive and
the next request on the connection work as before.

Anything else (another server, a chunked body, a body already partly read) gets
``request.stream``, as before.
"""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import ClientDisconnected


class SocketBody:
    """``read(n)`` over the rest of one request body of known length."""

    def __init__(self, reader: Any, unreader: Any, sock: Any) -> None:
        self._reader = reader
        self._sock = sock
        pending = unreader.take_buffered()
        if len(pending) > reader.length:
            unreader.unread(pending[reader.length :])  # the next request's bytes
            pending = pending[: reader.length]
        self._pending = pending

    def read(self, size: int = -1, /) -> bytes:
        remaining = self._reader.length
        if remaining <= 0:
            return b""
        size = remaining if size is None or size < 0 else min(size, remaining)
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
        else:
            data = self._sock.recv(size)
            if not data:
                raise ClientDisconnected()
        self._reader.length -= len(data)
        return data


def socket_body(environ: dict) -> SocketBody | None:
    """The body as a :class:`SocketBody` if gunicorn serves it with a known length."""
    body = environ.get("wsgi.input")
    reader = getattr(body, "reader", None)
    unreader = getattr(reader, "unreader", None)
    sock = environ.get("gunicorn.socket")
    if (
        sock is None
        or type(reader).__name__ != "LengthReader"
        or not hasattr(unreader, "take_buffered")
        or not isinstance(getattr(reader, "length", None), int)
        or body.buf.tell()
    ):
        return None
    return SocketBody(reader, unreader, sock)
