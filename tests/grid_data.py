"""GeoJSON builders for grid tests: squares, lattices of unit grids, roads.

The default lattice lies in 思明区, Xiamen, in the community 350203001001 of ``world``:
3 × 3 squares of 0.002° (about 200 m), numbered west→east then north→south as the
standard numbers grids.
"""

from __future__ import annotations

COMMUNITY = "350203001001"
WEST, NORTH = 118.080, 24.476
CELL = 0.002


def square(west: float, south: float, size: float = CELL) -> dict:
    east, north = west + size, south + size
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(geometry: dict, **properties) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def collection(features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": features}


def lattice(
    rows: int = 3,
    cols: int = 3,
    *,
    community: str = COMMUNITY,
    west: float = WEST,
    north: float = NORTH,
    size: float = CELL,
    **properties,
) -> dict:
    """A rows × cols lattice of square grids sharing edges, codes <community>001, 002, …"""
    features = []
    for row in range(rows):
        for col in range(cols):
            number = row * cols + col + 1
            south = north - (row + 1) * size
            features.append(
                feature(
                    square(west + col * size, south, size),
                    code=f"{community}{number:03d}",
                    name=f"第{number}网格",
                    **properties,
                )
            )
    return collection(features)


def cell_centre(row: int, col: int, *, west: float = WEST, north: float = NORTH) -> tuple:
    """(lat, lon) of the middle of a lattice cell (row and col from 0)."""
    return north - (row + 0.5) * CELL, west + (col + 0.5) * CELL


def road(coordinates: list, **properties) -> dict:
    return feature({"type": "LineString", "coordinates": coordinates}, **properties)
