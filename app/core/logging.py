"""Structured request logging: one JSON line per request, tagged with a request id."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, has_app_context, request

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
        if "request_id" not in entry and has_app_context() and g.get("request_id"):
            # Every line logged while serving a request carries its id, tracebacks too.
            entry["request_id"] = g.request_id
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
        g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
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
