"""Structured request logging: one JSON line per request, tagged with a request id.

The id is the ``X-Request-Id`` a trusted reverse proxy sent (``TRUSTED_PROXIES``, so the
proxy's access log and ours share it) when well formed, else a new one; it is echoed in
the response, and jobs queued while serving the request carry it (``media.jobs``): every
line logged by such a job names the request too.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, has_app_context, request

from app.core.proxies import TRUSTED_PEER
from media.jobs import current_request_id

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
logger = logging.getLogger("chengguan.request")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if "request_id" not in entry:
            # Every line logged while serving a request carries its id, tracebacks too, and
            # so does every line of a job that request queued.
            request_id = (g.get("request_id") if has_app_context() else None) or (
                current_request_id()
            )
            if request_id:
                entry["request_id"] = request_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (a test's capture, gunicorn's redirect)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def init_request_logging(app: Flask) -> None:
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    for name in ("chengguan", app.logger.name):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(app.config.get("LOG_LEVEL", "INFO"))
        log.propagate = False

    @app.before_request
    def _start() -> None:
        supplied = request.headers.get("X-Request-ID", "")
        trusted = request.environ.get(TRUSTED_PEER) and _REQUEST_ID.match(supplied)
        g.request_id = supplied if trusted else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        started = g.get("request_started")
        user = g.get("current_user")
        logger.info(
            "request",
            extra={
                "fields": {
                    "request_id": request_id,
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
                    "user_id": getattr(user, "id", None),
                    "remote": request.remote_addr,
                }
            },
        )
        return response
