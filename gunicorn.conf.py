"""gunicorn settings of an app server: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Read by gunicorn's master before it loads the app; command-line options (``--bind``)
override these. See docs/deploy.md for the settings and the topology around it.

Timeouts, and why they fit together:

* ``timeout`` 60 s: a worker silent for this long is killed (its request answers 502 at
  the proxy). The longest legitimate request is a push of a full batch; the push stops
  at ``SYNC_PUSH_BUDGET_SECONDS`` (default 20) and answers the decided prefix, so it must
  stay well under ``timeout``: here at most half of it, else the server refuses to start.
  The rest is headroom for the commit after the budget, a slow disk and a busy host.
  Photo uploads are streamed in 1 MB chunks and tus PATCHes are short, so neither
  comes near it. A reverse proxy's read timeout must be above ``timeout`` (nginx
  ``proxy_read_timeout 75s``) so the proxy never gives up first.
* ``graceful_timeout`` 30 s: on a restart or deploy a worker finishes what it holds (a
  push within its budget) before it is killed.
* ``keepalive`` 5 s: the proxy keeps connections to us open; a little longer than the
  proxy's own idle time is not needed, as the proxy opens new ones at will.

Workers are processes with ``threads`` 4 each (``gthread``): requests mostly wait on
PostgreSQL, Redis and S3, so a few threads per process serve more phones in the same
memory; image work runs in ``flask photos worker`` processes, not here.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

# Prometheus: every worker writes its counters to files here, and any worker answering
# /metrics sums them (app/core/metrics.py). It must be set before the app (and
# prometheus_client) is imported, which gunicorn does after reading this file.
_OWN_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="chengguan-metrics-")
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Two per core and one, capped: past a dozen processes the database connections (each
# worker holds a pool) cost more than the extra workers bring.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * (os.cpu_count() or 1) + 1, 12))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
# The app is loaded in each worker, not in the master: the in-process job thread and the
# database pools must not cross a fork.
preload_app = False
# Heartbeat files on tmpfs: a worker on a busy disk is not taken for dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn believes X-Forwarded-Proto (wsgi.url_scheme) from the same proxies the app
# believes (app/core/proxies.py); empty: from nobody.
forwarded_allow_ips = os.environ.get("TRUSTED_PROXIES", "")

_budget = float(os.environ.get("SYNC_PUSH_BUDGET_SECONDS", 20))
if _budget > timeout / 2:
    raise RuntimeError(
        f"SYNC_PUSH_BUDGET_SECONDS={_budget:g} must be at most half the worker timeout "
        f"({timeout} s): a push past the timeout is killed and the phone gets nowhere"
    )


def on_starting(server) -> None:
    """Forget the counters of a previous run in a reused metrics directory."""
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(path)


def child_exit(server, worker) -> None:
    """A worker's live gauges die with it; its counters stay summed in the files."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def post_worker_init(worker) -> None:
    """The app is loaded: move its modules, metadata and caches out of the collector's way.
    A request allocates many short-lived objects (werkzeug, SQLAlchemy), and every full
    collection they trigger walked all of the app's long-lived ones too (issue 16: 2.6 %
    of a worker's CPU on the tus bench, in perf)."""
    import gc

    gc.freeze()
