"""Domain errors and their mapping to the flask-smorest error body.

Services raise these; one handler turns them into
``{"code", "status", "message", "errors"}`` so every route answers alike.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, errors: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.headers = headers or {}


class ValidationFailed(DomainError):
    status_code = 422


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class TooManyRequests(DomainError):
    status_code = 429


# Codes outside the IANA registry that protocols we speak define (tus checksum: 460).
EXTRA_PHRASES = {460: "Checksum Mismatch"}


def status_phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return EXTRA_PHRASES.get(status_code, "Error")


def error_body(status_code: int, message: str, errors: dict | None = None) -> dict:
    body = {"code": status_code, "status": status_phrase(status_code), "message": message}
    if errors:
        body["errors"] = errors
    return body


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        response = jsonify(error_body(error.status_code, error.message, error.errors))
        response.status_code = error.status_code
        if error.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        response.headers.update(error.headers)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        # Werkzeug errors outside flask-smorest (404 on an unknown path, 405, 413) answer
        # in the same JSON shape as everything else.
        data = getattr(error, "data", None) or {}
        message = data.get("message") or error.description or status_phrase(error.code)
        body = error_body(error.code, message, data.get("messages") or data.get("errors"))
        response = jsonify(body)
        response.status_code = error.code
        for key, value in (data.get("headers") or {}).items():
            response.headers[key] = value
        # What werkzeug's error says in its headers (a 405's Allow, a 429's Retry-After).
        for key, value in error.get_headers():
            if key.lower() != "content-type":
                response.headers.setdefault(key, value)
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        app.logger.exception("unhandled error", exc_info=error)
        response = jsonify(error_body(500, "Internal server error; the request id is in the log."))
        response.status_code = 500
        return response
