"""The demo district: 思明区, Xiamen (GB/T 2260 code 350203), laid out as a lattice.

Three streets side by side west → east, each with two communities (north and south), each
community with eight unit grids of about 400 m × 400 m, numbered west → east, then
north → south as CJ/T 213 does. Coordinates are WGS-84 around the old town of Xiamen.
Names are real places; the boundaries are illustrative, not surveyed.
"""

from __future__ import annotations

DISTRICT = ("350203", "思明区")
WEST, NORTH = 118.0780, 24.4700
CELL_LON, CELL_LAT = 0.0040, 0.0036
COLUMNS_PER_STREET, ROWS_PER_COMMUNITY = 4, 2

STREETS = [
    ("350203001", "中华街道", [("350203001001", "中山社区"), ("350203001002", "民立社区")]),
    ("350203002", "鹭江街道", [("350203002001", "鹭江社区"), ("350203002002", "大同社区")]),
    ("350203003", "开元街道", [("350203003001", "开元社区"), ("350203003002", "美仁社区")]),
]

DEPARTMENTS = [
    ("D-HW", "思明区环境卫生管理处"),
    ("D-SZYL", "思明区市政园林局"),
    ("D-ZF", "思明区城市管理行政执法局"),
    ("D-JJ", "厦门市公安局交通警察支队思明大队"),
    ("D-GD", "国网厦门供电公司思明分公司"),
    ("D-GS", "厦门水务集团思明供水所"),
]


def _cell(column: int, row: int) -> list[list[float]]:
    west = round(WEST + column * CELL_LON, 6)
    east = round(west + CELL_LON, 6)
    north = round(NORTH - row * CELL_LAT, 6)
    south = round(north - CELL_LAT, 6)
    return [[west, north], [east, north], [east, south], [west, south], [west, north]]


def unit_grids() -> dict:
    """The 48 unit grids as a GeoJSON FeatureCollection for the grid importer."""
    features = []
    for street_index, (_street_code, street_name, communities) in enumerate(STREETS):
        for community_index, (community_code, community_name) in enumerate(communities):
            sequence = 0
            for row in range(ROWS_PER_COMMUNITY):
                for column in range(COLUMNS_PER_STREET):
                    sequence += 1
                    polygon = _cell(
                        street_index * COLUMNS_PER_STREET + column,
                        community_index * ROWS_PER_COMMUNITY + row,
                    )
                    features.append(
                        {
                            "type": "Feature",
                            "geometry": {"type": "Polygon", "coordinates": [polygon]},
                            "properties": {
                                "code": f"{community_code}{sequence:03d}",
                                "name": f"{community_name}{sequence}号网格",
                                "street_name": street_name,
                                "community_name": community_name,
                            },
                        }
                    )
    return {"type": "FeatureCollection", "features": features}


def _line(code: str, name: str, points: list[tuple[float, float]], street_code: str) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [list(p) for p in points]},
        "properties": {"code": code, "name": name, "street_code": street_code, "buffer_m": 20},
    }


def roads() -> dict:
    """Three roads crossing the lattice."""
    east = WEST + 3 * COLUMNS_PER_STREET * CELL_LON
    south = NORTH - 2 * ROWS_PER_COMMUNITY * CELL_LAT
    middle_lat = round(NORTH - ROWS_PER_COMMUNITY * CELL_LAT + 0.0011, 6)
    return {
        "type": "FeatureCollection",
        "features": [
            _line(
                "R350203001",
                "中山路",
                [(WEST + 0.0005, middle_lat), (east - 0.0005, middle_lat)],
                "350203001",
            ),
            _line(
                "R350203002",
                "思明南路",
                [(WEST + 0.0061, NORTH - 0.0005), (WEST + 0.0061, south + 0.0005)],
                "350203001",
            ),
            _line(
                "R350203003",
                "厦禾路",
                [(WEST + 0.0170, south + 0.0010), (east - 0.0010, NORTH - 0.0020)],
                "350203003",
            ),
        ],
    }


SHOPS = [
    # name, address, community code, (lon, lat) of the shop door
    ("黄则和花生汤", "中山路22号", "350203001001", (WEST + 0.0022, NORTH - 0.0061)),
    ("叶氏麻糍", "中山路58号", "350203001001", (WEST + 0.0049, NORTH - 0.0061)),
    ("鼓浪屿馅饼", "中山路101号", "350203001001", (WEST + 0.0093, NORTH - 0.0061)),
    ("新华书店中山路店", "中山路190号", "350203002001", (WEST + 0.0191, NORTH - 0.0061)),
    ("思明南路便利店", "思明南路12号", "350203001002", (WEST + 0.0066, NORTH - 0.0090)),
    ("开元水果店", "开元路8号", "350203003001", (WEST + 0.0362, NORTH - 0.0031)),
]


def frontage(lon: float, lat: float) -> dict:
    """A 12 m × 5 m frontage zone south of the shop door, towards the kerb."""
    half_width, depth = 0.00006, 0.000045
    ring = [
        [lon - half_width, lat],
        [lon + half_width, lat],
        [lon + half_width, lat - depth],
        [lon - half_width, lat - depth],
        [lon - half_width, lat],
    ]
    return {"type": "Polygon", "coordinates": [[[round(x, 7), round(y, 7)] for x, y in ring]]}
