"""Settings from the environment, nothing else."""

from __future__ import annotations

import os
from pathlib import Path

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


# --- durable: the scheduler's jobs and how often each runs (seconds) ---
SCHEDULE_DEFAULTS = {
    "outbox_relay": 60,
    "notifications": 60,
    "pressing": 300,
    "evidence_recheck": 3600,
    "purge_uploads": 900,  # also finishes stalled S3 uploads (docs/photos.md)
    "sync_prune": 86400,
    "hotline_anonymise": 86400,
}


def _intervals(text: str) -> dict[str, int]:
    """``SCHEDULE_DEFAULTS`` with the ``job=seconds`` pairs of ``text`` over them."""
    intervals = dict(SCHEDULE_DEFAULTS)
    for pair in filter(None, (part.strip() for part in text.split(","))):
        job, _, seconds = pair.partition("=")
        if job.strip() not in SCHEDULE_DEFAULTS or not seconds.strip().isdigit():
            raise ValueError(f"SCHEDULE_INTERVALS: {pair!r} is not job=seconds of a known job")
        intervals[job.strip()] = int(seconds)
    return intervals


def from_environment() -> dict:
    """Build the app configuration from environment variables with safe defaults."""
    return {
        "SQLALCHEMY_DATABASE_URL": os.environ.get(
            "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'chengguan.sqlite3'}"
        ),
        "SQLALCHEMY_ECHO": os.environ.get("SQLALCHEMY_ECHO") == "1",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "dev-only-secret-change-me"),
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", str(INSTANCE_DIR / "media")),
        "UPLOADS_ROOT": os.environ.get("UPLOADS_ROOT", str(INSTANCE_DIR / "uploads")),
        # disk (MEDIA_ROOT/blobs) or s3 (S3_BUCKET at S3_ENDPOINT_URL; credentials from the
        # usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY variables).
        "MEDIA_BACKEND": os.environ.get("MEDIA_BACKEND", "disk"),
        "S3_BUCKET": os.environ.get("S3_BUCKET", ""),
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL", ""),
        "S3_REGION": os.environ.get("S3_REGION", ""),
        "S3_PREFIX": os.environ.get("S3_PREFIX", "blobs/"),
        # auto, path (MinIO) or virtual (providers that refuse path-style requests).
        "S3_ADDRESSING_STYLE": os.environ.get("S3_ADDRESSING_STYLE", "auto"),
        "PHOTO_MAX_BYTES": _int("PHOTO_MAX_BYTES", 30 * 1024 * 1024),
        "MAX_IMAGE_PIXELS": _int("MAX_IMAGE_PIXELS", 100_000_000),
        # PNG and WebP are decoded whole, at full size: a lower limit bounds their memory.
        "MAX_LOSSLESS_PIXELS": _int("MAX_LOSSLESS_PIXELS", 40_000_000),
        "THUMBNAIL_SIZES": [
            int(size) for size in os.environ.get("THUMBNAIL_SIZES", "320,1024").split(",")
        ],
        "UPLOAD_EXPIRES_HOURS": _int("UPLOAD_EXPIRES_HOURS", 7 * 24),
        # --- uploads: partial tus uploads any host can continue (docs/photos.md) ---
        # With MEDIA_BACKEND=s3 their pieces are objects under this prefix of S3_BUCKET.
        "S3_UPLOADS_PREFIX": os.environ.get("S3_UPLOADS_PREFIX", "uploads/"),
        # inprocess (a worker thread; nothing else to run) or redis (run `flask photos worker`).
        "JOB_QUEUE": os.environ.get("JOB_QUEUE", "inprocess"),
        "JOB_QUEUE_NAME": os.environ.get("JOB_QUEUE_NAME", "media"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "MEDIA_JOB_RETRIES": _int("MEDIA_JOB_RETRIES", 3),
        "MEDIA_JOB_DELAY": _float("MEDIA_JOB_DELAY", 5.0),
        # JSON bodies; photo routes raise their own limit per request.
        "MAX_CONTENT_LENGTH": _int("MAX_JSON_BYTES", 2 * 1024 * 1024),
        "CASE_DUPLICATE_RADIUS_M": _float("CASE_DUPLICATE_RADIUS_M", 50.0),
        "CASE_DUPLICATE_WINDOW_HOURS": _float("CASE_DUPLICATE_WINDOW_HOURS", 72.0),
        "CASE_VERIFY_LIMIT_HOURS": _float("CASE_VERIFY_LIMIT_HOURS", 4.0),
        "CASE_CHECK_LIMIT_HOURS": _float("CASE_CHECK_LIMIT_HOURS", 4.0),
        # The command centre's own steps, for the flow log's clocks: filing, dispatching
        # and closing each within this many working hours (docs/case-workflow.md).
        "CASE_REGISTER_LIMIT_HOURS": _float("CASE_REGISTER_LIMIT_HOURS", 1.0),
        "CASE_DISPATCH_LIMIT_HOURS": _float("CASE_DISPATCH_LIMIT_HOURS", 1.0),
        "CASE_CLOSE_LIMIT_HOURS": _float("CASE_CLOSE_LIMIT_HOURS", 1.0),
        "GRID_IMPORT_MAX_BYTES": _int("GRID_IMPORT_MAX_BYTES", 32 * 1024 * 1024),
        "LOGIN_MAX_FAILURES": _int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_MAX_FAILURES_PER_IP": _int("LOGIN_MAX_FAILURES_PER_IP", 30),
        "LOGIN_FAILURE_WINDOW_SECONDS": _int("LOGIN_FAILURE_WINDOW_SECONDS", 900),
        "TOKEN_TTL_DAYS": _int("TOKEN_TTL_DAYS", 180),
        "GRID_BOUNDARY_BUFFER_M": _float("GRID_BOUNDARY_BUFFER_M", 15.0),
        "ROAD_DEFAULT_BUFFER_M": _float("ROAD_DEFAULT_BUFFER_M", 20.0),
        # Evidence checks on closure and check photos (flags for the dispatcher, never a
        # block). pHash distances up to 3 are found in full through the indexed bands; from
        # 4 up, photos of other cases are found only when they share a band exactly.
        "EVIDENCE_MAX_DISTANCE_M": _float("EVIDENCE_MAX_DISTANCE_M", 200.0),
        "EVIDENCE_PHASH_DISTANCE": _int("EVIDENCE_PHASH_DISTANCE", 6),
        # Share of its limit an open case has used when it is pressed at level 1 (street),
        # 2 (district) and 3 (city): overdue, then 1.5x and 2x the limit by default.
        "PRESS_LEVEL_FRACTIONS": [
            float(value)
            for value in os.environ.get("PRESS_LEVEL_FRACTIONS", "1.0,1.5,2.0").split(",")
        ],
        # Offline sync: mutation outcomes are kept as long as a phone may stay offline; a
        # mid re-sent after that is answered duplicate, outcome_expired (`flask sync prune`).
        "SYNC_RETENTION_DAYS": _int("SYNC_RETENTION_DAYS", 90),
        "SYNC_MAX_BATCH": _int("SYNC_MAX_BATCH", 500),
        "SYNC_MAX_ATTEMPTS": _int("SYNC_MAX_ATTEMPTS", 5),
        # Seconds a push may spend deciding new mutations before it answers the decided
        # prefix (``complete: false``); well under gunicorn's ``timeout`` (gunicorn.conf.py),
        # which must also cover the commit and the after-commit work. 0: no budget.
        "SYNC_PUSH_BUDGET_SECONDS": _float("SYNC_PUSH_BUDGET_SECONDS", 20.0),
        # --- reads off the primary (app/core/replica.py, docs/deploy.md) ---
        # A read replica for pulls, case and task lists and ledger pages ("" = none); a
        # user's reads stay on the primary for REPLICA_STICKY_SECONDS after their own write,
        # and nobody reads a replica more than REPLICA_MAX_LAG_SECONDS behind.
        "DATABASE_REPLICA_URL": os.environ.get("DATABASE_REPLICA_URL", ""),
        "REPLICA_STICKY_SECONDS": _float("REPLICA_STICKY_SECONDS", 10.0),
        "REPLICA_MAX_LAG_SECONDS": _float("REPLICA_MAX_LAG_SECONDS", 5.0),
        # Runs of new reports in a push are taken in together (app.cases.bulk_intake); 0
        # turns that off and every mutation goes one by one (same outcomes, slower).
        "SYNC_BATCH_APPLY": _int("SYNC_BATCH_APPLY", 1) == 1,
        # The 两图一表 ledger (docs/ledger.md): up to this many rows an XLSX or PDF is answered
        # at once by GET /ledger (and an export made in the request); above it, exports
        # are jobs on the photo queue. Pictures are the thumbnails of this size.
        "LEDGER_SYNC_MAX_ROWS": _int("LEDGER_SYNC_MAX_ROWS", 200),
        "LEDGER_THUMBNAIL_SIZE": _int("LEDGER_THUMBNAIL_SIZE", 1024),
        "LEDGER_EXPORT_MAX_BYTES": _int("LEDGER_EXPORT_MAX_BYTES", 8 * 1024**3),
        # Where files are written before they go to the blob store (default: the system's).
        "LEDGER_WORK_DIR": os.environ.get("LEDGER_WORK_DIR", ""),
        # The console (/console/): its session cookie is Secure over TLS, and always with
        # CONSOLE_SECURE_COOKIE=1 (behind a proxy that terminates TLS without saying so);
        # an intranet tile server's URL template for the maps (none: no basemap).
        "SESSION_COOKIE_SECURE": os.environ.get("CONSOLE_SECURE_COOKIE") == "1",
        "CONSOLE_TILE_URL": os.environ.get("CONSOLE_TILE_URL", ""),
        "CONSOLE_POLL_SECONDS": _int("CONSOLE_POLL_SECONDS", 5),
        # console: sync — a phone queue with neither a push nor a pull for this many hours
        # is shown as quiet on the device health page (the page's default filter).
        "CONSOLE_QUIET_HOURS": _int("CONSOLE_QUIET_HOURS", 24),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        # --- ops: proxies, readiness, metrics (docs/deploy.md) ---
        # The reverse proxies (IPs or CIDRs, comma list) whose X-Forwarded-For/-Proto/-Host
        # and X-Request-Id are believed, when one of them is the direct peer; empty: never.
        "TRUSTED_PROXIES": os.environ.get("TRUSTED_PROXIES", ""),
        # Each /readyz check (database, job queue, blob store) gives up after this long.
        "READY_TIMEOUT_SECONDS": _float("READY_TIMEOUT_SECONDS", 2.0),
        # /metrics: with a token, only `Authorization: Bearer <token>`; without, only
        # from a loopback client (a Prometheus on the same host; through a trusted proxy,
        # the client is the address it forwards, so the proxy does not open it to all).
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        "API_TITLE": "城管 field backend",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        # Served from the swagger-ui-bundle package: no CDN, works on an intranet.
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs/assets/",
        "API_SPEC_OPTIONS": {
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                }
            },
            "security": [{"bearerAuth": []}],
        },
        # intake: open311 — GeoReport v2 at /open311/v2/ (docs/open311.md): the one
        # jurisdiction_id served (a request naming another is a 404), the discovery
        # contact, the most requests one GET answers, the largest POST body (photo
        # included; default: the photo limit) and the point a request given only an
        # address_string is placed at until a dispatcher confirms its grid ("lat,lon").
        "OPEN311_JURISDICTION_ID": os.environ.get("OPEN311_JURISDICTION_ID", ""),
        "OPEN311_CONTACT": os.environ.get("OPEN311_CONTACT", ""),
        "OPEN311_KEY_SERVICE": os.environ.get("OPEN311_KEY_SERVICE", ""),
        "OPEN311_MAX_REQUESTS": _int("OPEN311_MAX_REQUESTS", 1000),
        "OPEN311_MAX_BODY_BYTES": _int("OPEN311_MAX_BODY_BYTES", 16 * 1024 * 1024),
        "OPEN311_DEFAULT_POINT": tuple(
            float(part)
            for part in os.environ.get("OPEN311_DEFAULT_POINT", "24.4798,118.0894").split(",")
        ),
        # intake: hotline and notifications — the outbox's retries (attempts, first wait in
        # seconds, doubled each time) and its webhook signature secret and timeout; the
        # 12345 bridge's shared HMAC secret, replay window, largest body, the days caller
        # data is kept, where closures are called back, the dispatcher account orders are
        # filed as, and the point a case without one gets (the dispatcher confirms it).
        "NOTIFY_MAX_ATTEMPTS": _int("NOTIFY_MAX_ATTEMPTS", 5),
        "NOTIFY_BACKOFF_SECONDS": _float("NOTIFY_BACKOFF_SECONDS", 30.0),
        "NOTIFY_WEBHOOK_SECRET": os.environ.get("NOTIFY_WEBHOOK_SECRET", ""),
        "NOTIFY_WEBHOOK_TIMEOUT": _float("NOTIFY_WEBHOOK_TIMEOUT", 10.0),
        "HOTLINE_SECRET": os.environ.get("HOTLINE_SECRET", ""),
        "HOTLINE_REPLAY_WINDOW_SECONDS": _int("HOTLINE_REPLAY_WINDOW_SECONDS", 300),
        "HOTLINE_MAX_BODY_BYTES": _int("HOTLINE_MAX_BODY_BYTES", 64 * 1024),
        "HOTLINE_PII_RETENTION_DAYS": _int("HOTLINE_PII_RETENTION_DAYS", 180),
        "HOTLINE_CALLBACK_URL": os.environ.get("HOTLINE_CALLBACK_URL", ""),
        "HOTLINE_REPORTER": os.environ.get("HOTLINE_REPORTER", "hotline-12345"),
        "HOTLINE_DEFAULT_LAT": _float("HOTLINE_DEFAULT_LAT", 24.4798),
        "HOTLINE_DEFAULT_LON": _float("HOTLINE_DEFAULT_LON", 118.0894),
        "HOTLINE_PHOTO_BASE_URL": os.environ.get("HOTLINE_PHOTO_BASE_URL", ""),
        # intake: cameras — an AI event's body (form fields and snapshot) at most this many
        # bytes; a category nobody configured takes events at this confidence or more, in
        # mode verify, attaching a camera's repeats within this many minutes to its case.
        "CAMERA_MAX_BODY_BYTES": _int("CAMERA_MAX_BODY_BYTES", 8 * 1024 * 1024),
        "CAMERA_MIN_CONFIDENCE": float(os.environ.get("CAMERA_MIN_CONFIDENCE", "0.6")),
        "CAMERA_WINDOW_MINUTES": _int("CAMERA_WINDOW_MINUTES", 30),
        # … and the public and 门前三包: a merchant's report within this many metres of their
        # own shop is bound to it; farther it is flagged far_from_own_shop.
        "FRONTAGE_MERCHANT_NEAR_M": float(os.environ.get("FRONTAGE_MERCHANT_NEAR_M", "100")),
        # --- durable: the transactional outbox and the scheduler (docs/scheduler.md) ---
        # An outbox row is tried this many times, waiting base, 2×base … seconds between
        # tries; a claimed row is left to its dispatcher this many seconds (then the relay
        # takes it again: the process died); rows per claimed batch.
        "OUTBOX_MAX_ATTEMPTS": _int("OUTBOX_MAX_ATTEMPTS", 8),
        "OUTBOX_BACKOFF_SECONDS": _float("OUTBOX_BACKOFF_SECONDS", 30.0),
        "OUTBOX_LEASE_SECONDS": _float("OUTBOX_LEASE_SECONDS", 300.0),
        "OUTBOX_BATCH_SIZE": _int("OUTBOX_BATCH_SIZE", 100),
        # Done rows are kept this many days (the scheduler's relay job prunes them).
        "OUTBOX_KEEP_DAYS": _int("OUTBOX_KEEP_DAYS", 7),
        # The scheduler's jobs and their intervals in seconds ("job=seconds,…" overrides
        # some; "job=0" turns one off), and where SQLite's per-job lock files go.
        "SCHEDULE_INTERVALS": _intervals(os.environ.get("SCHEDULE_INTERVALS", "")),
        "SCHEDULE_LOCK_DIR": os.environ.get("SCHEDULE_LOCK_DIR", str(INSTANCE_DIR)),
        # The category of the case a self-check with an issue opens, by its first issue.
        "SELFCHECK_ISSUE_CATEGORIES": {
            "sanitation": {"kind": "event", "edition": "cjt214", "code": "0102"},  # 暴露垃圾
            "order": {"kind": "event", "edition": "cjt214", "code": "0504"},  # 店外经营
            "greenery": {"kind": "event", "edition": "cjt214", "code": "0106"},  # 绿地脏乱
        },
    }
