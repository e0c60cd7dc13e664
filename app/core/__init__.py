"""Shared plumbing: database, errors, logging, schemas, pagination, clock, the permission check.

No domain code.
"""
