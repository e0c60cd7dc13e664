"""Grids: unit grids (单元网格), responsibility grids (责任网格), roads, and point lookup."""
