"""The OpenAPI document's shared parts and the interactive docs' assets (served locally: a
city intranet has no CDN)."""

from __future__ import annotations

from http import HTTPStatus

from apispec import BasePlugin
from flask import Blueprint, Flask, send_from_directory
from flask_smorest import Api as SmorestApi
from flask_smorest.pagination import PaginationMetadataSchema
from swagger_ui_bundle import swagger_ui_path

# X-Pagination carries its metadata as a JSON text, not as OpenAPI's `simple` style of an
# object (`total,3,page,1`) that flask-smorest's `schema: object` would declare.
PAGINATION_HEADER = {
    "description": "Pagination metadata, a JSON object",
    "content": {"application/json": {"schema": PaginationMetadataSchema}},
}


class ErrorResponses(BasePlugin):
    """The errors every operation of a kind can answer, written once: 404 for a path that
    names something (unknown, out of the caller's scope, or an id past any column), and
    400/413 for a JSON body that is no JSON object or over the size limit."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            if "{" in (path or ""):
                responses.setdefault("404", HTTPStatus.NOT_FOUND.name)
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                responses.setdefault("400", HTTPStatus.BAD_REQUEST.name)
                # REQUEST_ENTITY_TOO_LARGE, or CONTENT_TOO_LARGE from Python 3.13 on.
                responses.setdefault("413", HTTPStatus(413).name)


class SchemaExtras(BasePlugin):
    """JSON Schema keywords a marshmallow schema cannot say by its fields, declared on the
    schema class as ``OPENAPI_EXTRA`` (e.g. ``{"minProperties": 1}``)."""

    def schema_helper(self, name, definition, **kwargs):
        schema = kwargs.get("schema")
        return dict(getattr(schema, "OPENAPI_EXTRA", None) or {})


class Api(SmorestApi):
    """flask-smorest's Api, saying exactly what the server answers: no catch-all `default`
    response (each operation lists its status codes) and the pagination header as sent."""

    DEFAULT_ERROR_RESPONSE_NAME = None

    def _init_spec(self, *, extra_plugins=None, **kwargs):
        plugins = [ErrorResponses(), SchemaExtras(), *(extra_plugins or ())]
        super()._init_spec(extra_plugins=plugins, **kwargs)

    def _register_pagination_header(self):
        self.spec.components.header("PAGINATION", PAGINATION_HEADER, lazy=True)


def register_docs_assets(app: Flask) -> None:
    assets = Blueprint("docs_assets", __name__)

    @assets.route("/api/v1/docs/assets/<path:filename>")
    def swagger_asset(filename: str):
        return send_from_directory(swagger_ui_path, filename, max_age=86400)

    app.register_blueprint(assets)
