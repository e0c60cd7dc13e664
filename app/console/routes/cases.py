"""Console pages: cases (filled in below)."""

from __future__ import annotations
