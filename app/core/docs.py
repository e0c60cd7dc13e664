"""The interactive docs' assets, served locally: a city intranet has no CDN."""

from __future__ import annotations

from flask import Blueprint, Flask, send_from_directory
from swagger_ui_bundle import swagger_ui_path


def register_docs_assets(app: Flask) -> None:
    assets = Blueprint("docs_assets", __name__)

    @assets.route("/api/v1/docs/assets/<path:filename>")
    def swagger_asset(filename: str):
        return send_from_directory(swagger_ui_path, filename, max_age=86400)

    app.register_blueprint(assets)
