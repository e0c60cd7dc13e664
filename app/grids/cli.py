"""``flask grids …``: import unit grids and roads from GeoJSON, and locate a point."""

from __future__ import annotations

import json
from typing import NoReturn

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.errors import DomainError
from app.extensions import db
from app.grids import geo, importing, services

group = AppGroup("grids", help="Import unit grids and roads; locate a point.")


def _read_geojson(file) -> object:
    try:
        return json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{file.name} is not JSON: {error}") from None


def _progress(stage: str, count: int) -> None:
    click.echo(f"{stage}: {count} features")


def _fail(error: DomainError) -> NoReturn:
    click.echo(f"error: {error.message}", err=True)
    for field, problems in (error.errors or {}).items():
        if isinstance(problems, dict):
            for index, messages in problems.items():
                for message in messages:
                    click.echo(f"  feature {index}: {message}", err=True)
        else:
            for message in problems:
                click.echo(f"  {field}: {message}", err=True)
    click.echo("nothing was written", err=True)
    raise click.exceptions.Exit(1)


@group.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--overlap-tolerance",
    type=float,
    default=1.0,
    show_default=True,
    help="Square metres two grids may share before it counts as an overlap.",
)
def import_grids(file, overlap_tolerance):
    """Import unit grids from a GeoJSON FeatureCollection (WGS-84), all or nothing."""
    feature_collection = _read_geojson(file)
    try:
        report = importing.import_unit_grids(
            db.session,
            feature_collection,
            overlap_tolerance_m2=overlap_tolerance,
            progress=_progress,
        )
    except DomainError as error:
        _fail(error)
    if report.org_units_created:
        click.echo(f"created org units: {', '.join(report.org_units_created)}")
    click.echo(f"imported {report.created} unit grids")


@group.command("import-roads")
@click.argument("file", type=click.File("rb"))
@click.option("--buffer", "buffer_m", type=float, help="Default buffer in metres.")
def import_roads(file, buffer_m):
    """Import roads (LineStrings with code, name, buffer_m, street_code), all or nothing."""
    feature_collection = _read_geojson(file)
    try:
        report = importing.import_roads(
            db.session,
            feature_collection,
            default_buffer_m=buffer_m or current_app.config["ROAD_DEFAULT_BUFFER_M"],
            progress=_progress,
        )
    except DomainError as error:
        _fail(error)
    click.echo(f"imported {report.created} roads")


def _person(user) -> str:
    return f"{user.display_name} ({user.username})"


@group.command("locate")
@click.argument("lat", type=float)
@click.argument("lon", type=float)
@click.option("--crs", type=click.Choice(geo.CRS_VALUES), default="wgs84", show_default=True)
def locate(lat, lon, crs):
    """Which unit grid, street and people a point is in."""
    try:
        result = services.locate(
            db.session,
            lat,
            lon,
            crs,
            boundary_buffer_m=current_app.config["GRID_BOUNDARY_BUFFER_M"],
        )
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"point (WGS-84): {result.lat:.7f}, {result.lon:.7f}")
    click.echo(f"status: {result.status}")
    if result.grid is not None:
        click.echo(
            f"grid: {result.grid.code} {result.grid.name or ''} "
            f"({result.boundary_distance_m:.1f} m from its boundary)"
        )
        for label, unit in (
            ("community", result.community),
            ("street", result.street),
            ("district", result.district),
        ):
            if unit is not None:
                click.echo(f"{label}: {unit.code} {unit.name}")
    if result.responsibility_grid is not None:
        inspector = _person(result.inspector) if result.inspector else "no inspector"
        click.echo(f"responsibility grid: {result.responsibility_grid.code}, {inspector}")
    for chief in result.street_chiefs:
        click.echo(f"street chief: {_person(chief)}")
    for match in result.roads:
        chiefs = ", ".join(_person(chief) for chief in match.chiefs) or "no road chief"
        click.echo(f"road: {match.road.code} {match.road.name} {match.distance_m:.1f} m; {chiefs}")
    if result.status == "near_boundary":
        for candidate in result.candidates:
            where = "inside" if candidate.contains else "outside"
            click.echo(
                f"candidate: {candidate.grid.code} ({where}, "
                f"{candidate.distance_m:.1f} m from its boundary)"
            )
