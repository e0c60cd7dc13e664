"""Background jobs for work that must not hold up an upload (EXIF, thumbnails, pHash).

An upload is acknowledged once its bytes are stored and verified; the processing is
queued through :class:`JobQueue`. Two implementations:

* :class:`InProcessQueue`: one worker thread inside the web process. The default, so the
  development server needs nothing else running.
* :class:`RedisQueue`: jobs in Redis via RQ, run by :func:`run_worker` in a separate
  process (``flask media worker`` or similar). Workers fork per job by default, so a
  pathological image cannot leak memory into the next one, and RQ's job timeout can kill
  a decode that hangs.

Both take jobs by *name* from a :class:`JobRegistry` with a JSON-serialisable payload,
retry a failing job with exponential backoff, and then keep it in an inspectable list of
failed jobs with its error. A failed job never deletes anything: processing can be rerun.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import heapq
import itertools
import json
import logging
import math
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

JobFunction = Callable[[dict[str, Any]], object]

# The id of the request that queued the job being run in this context (thread or work
# horse), so the job's log lines can be told apart and traced back to the request.
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "job_request_id", default=None
)


def current_request_id() -> str | None:
    """The request id the running job was queued with (None outside a job, or untagged)."""
    return _request_id.get()


@contextlib.contextmanager
def running_for(request_id: str | None) -> Iterator[None]:
    """Run the block as a job queued by request ``request_id``."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


@dataclass(frozen=True)
class QueueStats:
    """How far behind a queue is: jobs waiting (retries included) and the oldest's wait,
    read at scrape time by the metrics."""

    depth: int
    oldest_age_seconds: float


class UnknownJob(LookupError):
    """No job function is registered under this name."""


@dataclass(frozen=True)
class Backoff:
    """How often and how patiently a failing job is retried.

    ``retries`` attempts after the first; the n-th retry waits
    ``min(max_delay, first_delay * factor ** (n - 1))`` seconds.
    """

    retries: int = 3
    first_delay: float = 5.0
    factor: float = 4.0
    max_delay: float = 600.0

    def delays(self) -> list[float]:
        return [
            min(self.max_delay, self.first_delay * self.factor**attempt)
            for attempt in range(self.retries)
        ]


@dataclass(frozen=True)
class FailedJob:
    """A job that failed on every attempt, kept for an operator to see (and rerun)."""

    id: str
    name: str
    payload: dict[str, Any]
    error: str
    attempts: int


class JobRegistry:
    """Named job functions. The same registry is built in the web and worker processes.

    Functions must be defined at module level: the Redis queue stores their import path,
    which is how a separate worker process finds them.
    """

    def __init__(self) -> None:
        self._functions: dict[str, JobFunction] = {}

    def register(self, name: str, function: JobFunction) -> JobFunction:
        if "<locals>" in function.__qualname__ or "<lambda>" in function.__qualname__:
            raise ValueError(f"job {name!r} must be a module-level function")
        if name in self._functions and self._functions[name] is not function:
            raise ValueError(f"job {name!r} is already registered")
        self._functions[name] = function
        return function

    def job(self, name: str) -> Callable[[JobFunction], JobFunction]:
        """Decorator form of :meth:`register`."""
        return lambda function: self.register(name, function)

    def get(self, name: str) -> JobFunction:
        try:
            return self._functions[name]
        except KeyError:
            raise UnknownJob(name) from None

    def import_path(self, name: str) -> str:
        function = self.get(name)
        return f"{function.__module__}.{function.__qualname__}"


class JobQueue(Protocol):
    """Where use cases put work for later."""

    def enqueue(
        self, name: str, payload: Mapping[str, Any], *, request_id: str | None = None
    ) -> str:
        """Queue job ``name`` with ``payload`` (JSON-serialisable); return the job id.
        ``request_id`` (the queuing request's) is kept with the job, not in the payload."""
        ...

    def stats(self) -> QueueStats:
        """Jobs waiting and the age of the oldest."""
        ...

    def failed(self) -> list[FailedJob]:
        """Jobs that exhausted their retries, oldest first."""
        ...


def _json_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    # Round-trip through JSON in both queues, so a payload that works in development
    # (in-process) cannot fail in production (Redis), and the job gets its own copy.
    result: dict[str, Any] = json.loads(json.dumps(dict(payload)))
    return result


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(error), error)).strip()


@dataclass(order=True)
class _Pending:
    ready_at: float
    sequence: int
    id: str = ""
    name: str = ""
    payload: dict[str, Any] | None = None
    attempts: int = 0
    request_id: str | None = None
    queued_at: float = 0.0  # wall clock, for the age of the oldest job


class InProcessQueue:
    """A worker thread in this process, with retries and a failed list.

    Jobs run one at a time (image work is CPU-bound; one thread keeps the web process
    responsive). Pending jobs are lost if the process exits; that is acceptable in
    development, and the reason production uses :class:`RedisQueue`.
    """

    def __init__(
        self,
        registry: JobRegistry,
        backoff: Backoff = Backoff(),
        *,
        clock: Callable[[], float] = time.monotonic,
        start: bool = True,
    ) -> None:
        self.registry = registry
        self.backoff = backoff
        self._clock = clock
        self._pending: list[_Pending] = []
        self._failed: list[FailedJob] = []
        self._running = 0
        self._sequence = itertools.count()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._started = start
        if start:
            self.start()

    def start(self) -> None:
        # A thread does not survive fork (gunicorn --preload builds the app in the master):
        # a dead or missing worker is started again here, and on every enqueue.
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._work, name="media-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current job; jobs still pending are dropped."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def enqueue(
        self, name: str, payload: Mapping[str, Any], *, request_id: str | None = None
    ) -> str:
        self.registry.get(name)
        job = _Pending(self._clock(), next(self._sequence), uuid.uuid4().hex, name)
        job.payload = _json_payload(payload)
        job.request_id = request_id
        job.queued_at = time.time()
        with self._changed:
            heapq.heappush(self._pending, job)
            self._changed.notify_all()
        if self._started:
            self.start()
        return job.id

    def failed(self) -> list[FailedJob]:
        with self._changed:
            return list(self._failed)

    def stats(self) -> QueueStats:
        with self._changed:
            oldest = min((job.queued_at for job in self._pending), default=None)
            depth = len(self._pending)
        return QueueStats(depth, 0.0 if oldest is None else max(0.0, time.time() - oldest))

    def join(self, timeout: float) -> bool:
        """Wait until nothing is pending or running (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._pending or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def _work(self) -> None:
        while True:
            with self._changed:
                job = self._next_due()
                if job is None:
                    return
                self._running += 1
            try:
                self._run(job)
            finally:
                with self._changed:
                    self._running -= 1
                    self._changed.notify_all()

    def _next_due(self) -> _Pending | None:
        """Block until a job is due (or we are stopping); called holding the condition."""
        while not self._stopping:
            if self._pending:
                wait = self._pending[0].ready_at - self._clock()
                if wait <= 0:
                    return heapq.heappop(self._pending)
                self._changed.wait(wait)
            else:
                self._changed.wait()
        return None

    def _run(self, job: _Pending) -> None:
        assert job.payload is not None
        job.attempts += 1
        with running_for(job.request_id):
            self._attempt(job)

    def _attempt(self, job: _Pending) -> None:
        assert job.payload is not None
        try:
            self.registry.get(job.name)(dict(job.payload))
        except Exception as error:
            delays = self.backoff.delays()
            if job.attempts <= len(delays):
                delay = delays[job.attempts - 1]
                log.warning(
                    "job %s %s (request %s) failed, retry in %.1fs: %s",
                    job.name,
                    job.id,
                    job.request_id,
                    delay,
                    error,
                )
                job.ready_at = self._clock() + delay
                job.sequence = next(self._sequence)
                with self._changed:
                    heapq.heappush(self._pending, job)
                return
            log.error(
                "job %s %s (request %s) failed for good: %s",
                job.name,
                job.id,
                job.request_id,
                error,
            )
            with self._changed:
                self._failed.append(
                    FailedJob(job.id, job.name, job.payload, _describe(error), job.attempts)
                )


class RedisQueue:
    """Jobs in Redis through RQ (JSON-serialised, never pickled, so Redis cannot inject
    code). ``connection`` is a ``redis.Redis``; run :func:`run_worker` to process them.

    Retries after a delay are scheduled in Redis and need a worker started with its
    scheduler (the default of :func:`run_worker`). ``job_timeout`` kills a job that runs
    longer (a hung decode); ``failed_ttl`` is how long failed jobs stay listed.
    """

    def __init__(
        self,
        registry: JobRegistry,
        connection: Any,
        *,
        name: str = "media",
        backoff: Backoff = Backoff(),
        job_timeout: int = 120,
        failed_ttl: int = 30 * 24 * 3600,
    ) -> None:
        # rq and redis are imported where used: they are an optional extra, and the
        # in-process queue must work without them.
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.registry = registry
        self.backoff = backoff
        self.job_timeout = job_timeout
        self.failed_ttl = failed_ttl
        self.connection = connection
        self.queue = Queue(name, connection=connection, serializer=JSONSerializer)

    def enqueue(
        self, name: str, payload: Mapping[str, Any], *, request_id: str | None = None
    ) -> str:
        from rq import Retry

        path = self.registry.import_path(name)
        delays = [math.ceil(delay) for delay in self.backoff.delays()]
        job = self.queue.enqueue(
            path,
            _json_payload(payload),
            job_id=f"{self.queue.name}-{uuid.uuid4().hex}",
            job_timeout=self.job_timeout,
            failure_ttl=self.failed_ttl,
            retry=Retry(max=len(delays), interval=delays) if delays else None,
            meta={"name": name, "request_id": request_id},
        )
        return str(job.id)

    def failed(self) -> list[FailedJob]:
        from rq.job import Job
        from rq.registry import FailedJobRegistry

        registry = FailedJobRegistry(queue=self.queue)
        ids = registry.get_job_ids()
        jobs = Job.fetch_many(ids, connection=self.connection, serializer=self.queue.serializer)
        failed = []
        for job in jobs:
            if job is None:  # expired between listing and fetching
                continue
            result = job.latest_result()
            error = (result.exc_string if result else None) or "unknown error"
            retried = self.backoff.retries - (job.retries_left or 0)
            failed.append(
                FailedJob(
                    id=str(job.id),
                    name=str(job.meta.get("name", job.func_name)),
                    payload=dict(job.args[0]) if job.args else {},
                    error=error.strip().splitlines()[-1],
                    attempts=retried + 1,
                )
            )
        return failed

    def stats(self) -> QueueStats:
        from rq.job import Job

        depth = self.queue.count
        oldest = 0.0
        first = self.queue.get_job_ids(0, 0)
        if first:
            job = Job.fetch(first[0], connection=self.connection, serializer=self.queue.serializer)
            if job.enqueued_at is not None:
                queued = job.enqueued_at.replace(tzinfo=job.enqueued_at.tzinfo or dt.UTC)
                oldest = max(0.0, (dt.datetime.now(dt.UTC) - queued).total_seconds())
        return QueueStats(depth, oldest)

    def requeue_failed(self, job_id: str) -> None:
        """Put a failed job back in the queue (after fixing what made it fail)."""
        from rq.registry import FailedJobRegistry

        FailedJobRegistry(queue=self.queue).requeue(job_id)


class _Tagging:
    """Runs each job inside :func:`running_for` its queuing request (in the work horse)."""

    def perform_job(self, job: Any, queue: Any) -> bool:
        with running_for(job.meta.get("request_id")):
            return bool(super().perform_job(job, queue))  # type: ignore[misc]


def _worker_classes() -> tuple[type, type]:
    from rq import SimpleWorker, Worker

    return (
        type("TaggingWorker", (_Tagging, Worker), {}),
        type("TaggingSimpleWorker", (_Tagging, SimpleWorker), {}),
    )


def run_worker(
    connection: Any,
    queue_name: str = "media",
    *,
    burst: bool = False,
    fork: bool = True,
    with_scheduler: bool = True,
) -> bool:
    """Process jobs from ``queue_name`` until stopped (or until empty with ``burst``).

    The caller must have imported the modules that define the job functions (building the
    same :class:`JobRegistry` as the web process does that). ``fork=False`` runs jobs in
    this process, which tests use; production keeps the default.
    """
    from rq import Queue
    from rq.serializers import JSONSerializer

    queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
    forking, simple = _worker_classes()
    worker_class = forking if fork else simple
    worker = worker_class(
        [queue],
        connection=connection,
        serializer=JSONSerializer,
        name=f"{queue_name}-{uuid.uuid4().hex[:12]}",
    )
    return bool(worker.work(burst=burst, with_scheduler=with_scheduler))
