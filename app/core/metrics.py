"""Prometheus metrics: requests by route and status, and gauges read when scraped.

The mechanism knows no domain. Two kinds of metric:

* counters and histograms a process updates as it works (:data:`HTTP_REQUESTS`,
  :data:`HTTP_LATENCY`, a domain's own from :func:`counter`). Under gunicorn each worker
  is a process: with ``PROMETHEUS_MULTIPROC_DIR`` set (``gunicorn.conf.py`` sets it) their
  values live in files there and a scrape, answered by any worker, sums them all
  (``prometheus_client.multiprocess``); a dead worker's files are marked by the
  ``child_exit`` hook.
* gauges read at scrape time (queue depth, the oldest unprocessed photo, the feed's newest
  change): a domain registers a reader with :data:`METRICS` from ``create_app`` (as the
  feed registry is filled), and the scraping worker runs it then, in the request's app
  context. They are not stored anywhere, so they need nothing multi-process.

``GET /metrics`` (text exposition format) is on the Flask app, not the API: it is for
Prometheus, not phones, and stays out of the OpenAPI document. Access: with
``METRICS_TOKEN`` set, a matching ``Authorization: Bearer`` header; without it, only a
loopback client.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

PREFIX = "chengguan_"
# Seconds; a push of 500 mutations takes several, a photo PUT of 6 MB one or two.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)

HTTP_REQUESTS = Counter(
    f"{PREFIX}http_requests",
    "HTTP requests answered, by method, route (the URL rule, not the path) and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    f"{PREFIX}http_request_duration_seconds",
    "Time from the request reaching Flask to its response, by method and route.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)

# Any other method a client makes up is counted as "other": labels stay a bounded set.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# A reader returns the gauge's value, or several values by label values; None: no sample.
Reading = float | int | None | Iterable[tuple[tuple[str, ...], float]]


@dataclasses.dataclass
class ScrapeGauge:
    name: str
    documentation: str
    labels: tuple[str, ...]
    readers: list[Callable[[], Reading]]


class ScrapeGauges:
    """The gauges read at scrape time. Process-wide and idempotent, as the feed registry:
    every app of the process shares them. Several domains may feed one gauge (the job
    queue and the notifications outbox are both ``queue_depth``, by label ``queue``)."""

    def __init__(self) -> None:
        self._gauges: dict[str, ScrapeGauge] = {}
        self.isolate: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext

    def isolate_reads_with(self, isolate: Callable[[], contextlib.AbstractContextManager]) -> None:
        """Run each reader inside ``isolate()`` (the app gives a savepoint), so one that
        fails in the database leaves the others a usable transaction."""
        self.isolate = isolate

    def gauge(
        self,
        name: str,
        documentation: str,
        read: Callable[[], Reading],
        labels: tuple[str, ...] = (),
    ) -> None:
        """Add ``read`` (a module-level function) to gauge ``chengguan_<name>``."""
        gauge = self._gauges.setdefault(
            name, ScrapeGauge(f"{PREFIX}{name}", documentation, labels, [])
        )
        if gauge.labels != labels:
            raise ValueError(f"gauge {name} has labels {gauge.labels}, not {labels}")
        if read not in gauge.readers:
            gauge.readers.append(read)

    def __iter__(self) -> Iterator[ScrapeGauge]:
        return iter(list(self._gauges.values()))


METRICS = ScrapeGauges()


def counter(name: str, documentation: str, labels: Iterable[str]) -> Counter:
    """A domain's own counter, multi-process safe like the request counter (module level:
    create it once per process)."""
    return Counter(f"{PREFIX}{name}", documentation, list(labels))


class _ScrapeCollector:
    """Runs each registered reader; one that fails is logged and left out of the answer,
    so a slow or broken domain does not blind the rest."""

    def __init__(self, gauges: ScrapeGauges) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        for gauge in self.gauges:
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
            for read in gauge.readers:
                try:
                    with self.gauges.isolate():
                        value = read()
                except Exception:
                    log.exception("metric %s could not be read", gauge.name)
                    continue
                if isinstance(value, int | float):
                    family.add_metric([], float(value))
                elif value is not None:
                    for labels, sample in value:
                        family.add_metric(list(labels), float(sample))
            yield family


def exposition(gauges: ScrapeGauges = METRICS) -> bytes:
    """Every metric of every worker, then the scrape-time gauges, in the text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)
    else:
        workers = REGISTRY
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(_ScrapeCollector(gauges))
    return generate_latest(workers) + generate_latest(scraped)


def _may_scrape() -> bool:
    token = current_app.config.get("METRICS_TOKEN", "")
    if token:
        supplied = request.headers.get("Authorization", "")
        return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def metrics_view() -> Response:
    """The Prometheus scrape."""
    if not _may_scrape():
        return Response("metrics are not open to this client\n", 403, mimetype="text/plain")
    return Response(exposition(), mimetype=CONTENT_TYPE_LATEST)


# (method, route, status) → the counter's and the histogram's child. Resolving a child
# through ``labels()`` stringifies the values and takes the metric's lock on every request;
# the set is bounded (methods × URL rules × statuses), so each is resolved once per process.
_Series = tuple[Any, Any]
_series: dict[tuple[str, str, int], _Series] = {}


def _series_of(method: str, route: str, status: int) -> _Series:
    key = (method, route, status)
    series = _series.get(key)
    if series is None:
        series = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_LATENCY.labels(method, route),
        )
        _series[key] = series  # a race only resolves the same children twice
    return series


def init_metrics(app: Flask) -> None:
    """Time and count every request by its URL rule, and serve ``/metrics``."""

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("metrics_started")
        # The rule, never the raw path: one series per route, whatever ids a client sends.
        rule = request.url_rule
        method = request.method
        requests, latency = _series_of(
            method if method in METHODS else "other",
            rule.rule if rule is not None else "unmatched",
            response.status_code,
        )
        requests.inc()
        if started is not None:
            latency.observe(time.perf_counter() - started)
        return response

    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
