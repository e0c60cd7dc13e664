"""Org units: the district, its streets (街道) and communities (社区), and handling departments."""
