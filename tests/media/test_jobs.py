"""Job queues: the in-process worker and the Redis (RQ) queue against the real Redis."""

from __future__ import annotations

import time
import uuid

import pytest

from media.jobs import Backoff, InProcessQueue, JobRegistry, RedisQueue, UnknownJob, run_worker
from tests.media import jobfns

REDIS_URL = "redis://127.0.0.1:6379/15"  # db 15 is reserved for tests


@pytest.fixture
def registry() -> JobRegistry:
    jobfns.reset()
    registry = JobRegistry()
    registry.register("flaky", jobfns.flaky)
    return registry


def key() -> str:
    return uuid.uuid4().hex


def test_backoff_grows_and_is_capped():
    assert Backoff(retries=4, first_delay=1, factor=3, max_delay=10).delays() == [1, 3, 9, 10]
    assert Backoff(retries=0).delays() == []


def test_registry_refuses_unknown_names_and_local_functions(registry):
    def local(payload):
        return None

    with pytest.raises(UnknownJob):
        registry.get("nope")
    with pytest.raises(ValueError):
        registry.register("local", local)
    assert registry.import_path("flaky") == "tests.media.jobfns.flaky"


# -- in process ----------------------------------------------------------------------


@pytest.fixture
def in_process(registry):
    queue = InProcessQueue(registry, Backoff(retries=2, first_delay=0.01, factor=2))
    yield queue
    queue.stop(timeout=5)


def test_in_process_job_runs(in_process):
    name = key()

    in_process.enqueue("flaky", {"key": name, "failures": 0})

    assert in_process.join(timeout=5)
    assert jobfns.done == [name]
    assert in_process.failed() == []


def test_in_process_worker_is_restarted_when_its_thread_is_gone(in_process):
    # As after fork (gunicorn --preload): the queue object survives, its thread does not.
    in_process.stop(timeout=5)
    name = key()

    in_process.enqueue("flaky", {"key": name, "failures": 0})

    assert in_process.join(timeout=5)
    assert jobfns.done[-1] == name


def test_in_process_job_is_retried_until_it_succeeds(in_process):
    name = key()

    in_process.enqueue("flaky", {"key": name, "failures": 2})

    assert in_process.join(timeout=5)
    assert jobfns.calls[name] == 3
    assert jobfns.done == [name]
    assert in_process.failed() == []


def test_in_process_job_that_keeps_failing_is_listed_with_its_error(in_process):
    name = key()

    job_id = in_process.enqueue("flaky", {"key": name, "failures": 99})

    assert in_process.join(timeout=5)
    assert jobfns.calls[name] == 3
    [failed] = in_process.failed()
    assert (failed.id, failed.name, failed.attempts) == (job_id, "flaky", 3)
    assert failed.payload == {"key": name, "failures": 99}
    assert "RuntimeError: attempt 3" in failed.error


def test_in_process_retries_wait_for_their_backoff(registry):
    queue = InProcessQueue(registry, Backoff(retries=1, first_delay=0.3))
    try:
        name = key()
        started = time.monotonic()
        queue.enqueue("flaky", {"key": name, "failures": 1})
        assert queue.join(timeout=5)
        assert time.monotonic() - started >= 0.3
        assert jobfns.done == [name]
    finally:
        queue.stop(timeout=5)


def test_in_process_refuses_unknown_jobs_and_unserialisable_payloads(in_process):
    with pytest.raises(UnknownJob):
        in_process.enqueue("nope", {})
    with pytest.raises(TypeError):
        in_process.enqueue("flaky", {"key": object()})


# -- Redis ---------------------------------------------------------------------------


@pytest.fixture
def redis_connection():
    redis = pytest.importorskip("redis")
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    yield connection
    connection.close()


@pytest.fixture
def redis_queue(registry, redis_connection):
    name = f"test-media-{uuid.uuid4().hex[:10]}"
    queue = RedisQueue(
        registry, redis_connection, name=name, backoff=Backoff(retries=2, first_delay=0)
    )
    yield queue
    forget(redis_connection, name)


def forget(connection, name: str) -> None:
    """Delete what RQ stored for one test queue: every key of it, its jobs and workers
    carries the queue name, and the global sets list it."""
    for stale in connection.scan_iter(match=f"*{name}*"):
        connection.delete(stale)
    for index in ("rq:queues", "rq:workers"):
        for member in connection.smembers(index):
            if name.encode() in member:
                connection.srem(index, member)


def work(queue: RedisQueue) -> None:
    run_worker(queue.connection, queue.queue.name, burst=True, fork=False)


def test_redis_job_runs_in_the_worker(redis_queue):
    name = key()

    redis_queue.enqueue("flaky", {"key": name, "failures": 0})
    work(redis_queue)

    assert jobfns.done == [name]
    assert redis_queue.failed() == []


def test_redis_job_is_retried_until_it_succeeds(redis_queue):
    name = key()

    redis_queue.enqueue("flaky", {"key": name, "failures": 2})
    work(redis_queue)

    assert jobfns.calls[name] == 3
    assert jobfns.done == [name]
    assert redis_queue.failed() == []


def test_redis_job_that_keeps_failing_is_listed_with_its_error(redis_queue):
    name = key()

    job_id = redis_queue.enqueue("flaky", {"key": name, "failures": 99})
    work(redis_queue)

    assert jobfns.calls[name] == 3
    [failed] = redis_queue.failed()
    assert (failed.id, failed.name, failed.attempts) == (job_id, "flaky", 3)
    assert failed.payload == {"key": name, "failures": 99}
    assert "RuntimeError: attempt 3" in failed.error


def test_redis_retry_waits_for_its_backoff_in_the_scheduler(registry, redis_connection):
    name = f"test-media-{uuid.uuid4().hex[:10]}"
    queue = RedisQueue(
        registry, redis_connection, name=name, backoff=Backoff(retries=1, first_delay=1)
    )
    try:
        job = key()
        queue.enqueue("flaky", {"key": job, "failures": 1})

        work(queue)
        assert jobfns.calls[job] == 1
        assert jobfns.done == []

        time.sleep(1.2)
        work(queue)
        assert jobfns.done == [job]
    finally:
        forget(redis_connection, name)


def test_a_failed_redis_job_can_be_requeued(redis_queue):
    name = key()
    job_id = redis_queue.enqueue("flaky", {"key": name, "failures": 3})
    work(redis_queue)
    assert [f.id for f in redis_queue.failed()] == [job_id]

    redis_queue.requeue_failed(job_id)
    work(redis_queue)

    assert jobfns.done == [name]
    assert redis_queue.failed() == []
