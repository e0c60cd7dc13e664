"""Liveness (`/healthz`) and readiness (`/readyz`: database, job queue, blob store)."""
