"""Shared plumbing: database, errors, logging, schemas, pagination, clock. No domain code."""
