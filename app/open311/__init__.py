"""Open311 GeoReport v2: other systems file and follow cases (docs/open311.md)."""
