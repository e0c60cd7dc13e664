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

import heapq
import itertools
import json
import logging
import math
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

JobFunction = Callable[[dict[str, Any]], object]


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

    def enqueue(self, name: str, payload: Mapping[str, Any]) -> str:
        """Queue job ``name`` with ``payload`` (JSON-serialisable); return the job id."""
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

    def enqueue(self, name: str, payload: Mapping[str, Any]) -> str:
        self.registry.get(name)
        job = _Pending(self._clock(), next(self._sequence), uuid.uuid4().hex, name)
        job.payload = _json_payload(payload)
        with self._changed:
            heapq.heappush(self._pending, job)
            self._changed.notify_all()
        if self._started:
            self.start()
        return job.id

    def failed(self) -> list[FailedJob]:
        with self._changed:
            return list(self._failed)

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
        try:
            self.registry.get(job.name)(dict(job.payload))
        except Exception as error:
            delays = self.backoff.delays()
            if job.attempts <= len(delays):
                delay = delays[job.attempts - 1]
                log.warning("job %s %s failed, retry in %.1fs: %s", job.name, job.id, delay, error)
                job.ready_at = self._clock() + delay
                job.sequence = next(self._sequence)
                with self._changed:
                    heapq.heappush(self._pending, job)
                return
            log.error("job %s %s failed for good: %s", job.name, job.id, error)
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

    def enqueue(self, name: str, payload: Mapping[str, Any]) -> str:
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
            meta={"name": name},
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

    def requeue_failed(self, job_id: str) -> None:
        """Put a failed job back in the queue (after fixing what made it fail)."""
        from rq.registry import FailedJobRegistry

        FailedJobRegistry(queue=self.queue).requeue(job_id)


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
    from rq import Queue, SimpleWorker, Worker
    from rq.serializers import JSONSerializer

    queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
    worker_class = Worker if fork else SimpleWorker
    worker = worker_class(
        [queue],
        connection=connection,
        serializer=JSONSerializer,
        name=f"{queue_name}-{uuid.uuid4().hex[:12]}",
    )
    return bool(worker.work(burst=burst, with_scheduler=with_scheduler))
