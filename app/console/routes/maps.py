"""The city map: grids and open cases in view (or of one street), coloured by light."""

from __future__ import annotations

from flask import current_app, jsonify, request

from app.console import mapdata, services
from app.console.schemas import MapQuerySchema, load_form
from app.console.web import CASE_READERS, blp, page, render, signed_in_user
from app.core.clock import utcnow
from app.core.errors import ValidationFailed
from app.extensions import db


@blp.route("/map")
@page(*CASE_READERS)
def map_page():
    """The map page; its layers come from ``map_data`` for the view."""
    return render(
        "map.html",
        streets=services.units_of_kind(db.session, "street"),
        tile_url=current_app.config["CONSOLE_TILE_URL"],
    )


@blp.route("/map/data")
@page(*CASE_READERS)
def map_data():
    """Without ``bbox``: where to start (the extent of the grids, of a street). With it:
    the grids and open cases inside it."""
    query, errors = load_form(MapQuerySchema(), request.args)
    if errors:
        raise ValidationFailed("bad map query", errors)
    street_id = query.get("street_id")
    if "bbox" not in query:
        return jsonify(extent=mapdata.extent(db.session, street_id))
    return jsonify(mapdata.layers(db.session, signed_in_user(), query["bbox"], street_id, utcnow()))
