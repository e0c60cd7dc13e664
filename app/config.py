"""Settings from the environment, nothing else."""

from __future__ import annotations

import os
from pathlib import Path

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def from_environment() -> dict:
    """Build the app configuration from environment variables with safe defaults."""
    return {
        "SQLALCHEMY_DATABASE_URL": os.environ.get(
            "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'chengguan.sqlite3'}"
        ),
        "SQLALCHEMY_ECHO": os.environ.get("SQLALCHEMY_ECHO") == "1",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "dev-only-secret-change-me"),
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", str(INSTANCE_DIR / "media")),
        # JSON bodies; photo routes raise their own limit per request.
        "MAX_CONTENT_LENGTH": _int("MAX_JSON_BYTES", 2 * 1024 * 1024),
        "GRID_IMPORT_MAX_BYTES": _int("GRID_IMPORT_MAX_BYTES", 32 * 1024 * 1024),
        "LOGIN_MAX_FAILURES": _int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_MAX_FAILURES_PER_IP": _int("LOGIN_MAX_FAILURES_PER_IP", 30),
        "LOGIN_FAILURE_WINDOW_SECONDS": _int("LOGIN_FAILURE_WINDOW_SECONDS", 900),
        "TOKEN_TTL_DAYS": _int("TOKEN_TTL_DAYS", 180),
        "GRID_BOUNDARY_BUFFER_M": _float("GRID_BOUNDARY_BUFFER_M", 15.0),
        "ROAD_DEFAULT_BUFFER_M": _float("ROAD_DEFAULT_BUFFER_M", 20.0),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        "API_TITLE": "城管 field backend",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # Served from the swagger-ui-bundle package: no CDN, works on an intranet.
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs/assets/",
        "API_SPEC_OPTIONS": {
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                }
            },
            "security": [{"bearerAuth": []}],
        },
    }
