"""Console pages: maps (filled in below)."""

from __future__ import annotations
