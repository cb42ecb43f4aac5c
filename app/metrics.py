"""Prometheus metrics: every metric the gateway keeps is defined here, and other modules move
them through the small calls below.

Under gunicorn each worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR (set by
gunicorn.conf.py in the master before workers fork) and a scrape adds up every worker's,
dead ones included. prometheus_client chooses that mode when it is first imported, and the
master imports this package before it sets the folder, so nothing here imports it before a
metric is first used. Without the folder (Flask's test client) this process alone counts.
"""

import functools
import glob
import os
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from loguru import logger

PREFIX = "claude_gateway_"
PROCESS_STATES = ("running", "idle", "warm")
MIN_SAMPLE_FILE_BYTES = 8  # a sample file's header: anything shorter is still being made
# 429s by why they were refused, from the error's code
REFUSALS = {"capacity_exceeded": "capacity", "rate_limit_exceeded": "rate_limit",
            "daily_budget_exceeded": "budget", "upstream_error": "upstream"}
# seconds; a request or a stream may last up to CLAUDE_TOTAL_TIMEOUT_MS (an hour)
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120)
QUEUE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_defining = threading.Lock()


def folder() -> Path | None:
    """Where the workers keep their samples (None: this process counts alone)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(path) if path else None


def keep_folder(db) -> None:
    """Have STATE_DIR's healing make the samples folder again, when it lies inside."""
    path = folder()
    if path is not None and path.resolve().is_relative_to(db.dir.resolve()):
        db.folder(str(path.resolve().relative_to(db.dir.resolve())))


@functools.cache
def _metrics() -> SimpleNamespace:
    """Define every metric, once per process, when one is first used."""
    from prometheus_client import CollectorRegistry, Counter, Histogram
    own = CollectorRegistry()

    def counter(name: str, about: str, *labels: str) -> Counter:
        return Counter(PREFIX + name, about, labels, registry=own)

    def histogram(name: str, about: str, buckets: tuple, *labels: str) -> Histogram:
        return Histogram(PREFIX + name, about, labels, registry=own, buckets=buckets)

    return SimpleNamespace(
        registry=own,
        requests=counter("requests", "HTTP requests by route, method and status",
                         "endpoint", "method", "status"),
        duration=histogram("request_duration_seconds", "Time from a request's start until "
                           "its response closed (a stream's whole length)", DURATION_BUCKETS,
                           "endpoint"),
        first_token=histogram("time_to_first_token_seconds", "Time from a request's start "
                              "to the first content of Claude's answer", FIRST_TOKEN_BUCKETS,
                              "endpoint"),
        queue_wait=histogram("queue_wait_seconds", "Time a request waited in the queue for a "
                             "process: served, or abandoned without one", QUEUE_BUCKETS,
                             "outcome"),
        refused=counter("too_many_requests", "429 answers by reason", "reason"),
        turns=counter("turns", "Finished turns by how they ended (success, timeout, "
                      "interrupted, disconnected, error_...)", "outcome"),
        tokens=counter("tokens", "Tokens by key and direction (input counts cache reads and "
                       "writes)", "key", "direction"),
        cost=counter("cost_usd", "Cost in US dollars by key, by Claude Code's own figures",
                     "key"),
        approvals=counter("approvals", "Permission questions by outcome", "outcome"),
    )


def _get() -> SimpleNamespace:
    with _defining:  # two first requests at once must not define everything twice
        return _metrics()


def _quietly(record: Callable) -> Callable:
    """A failure to count is logged, never the request's failure."""
    @functools.wraps(record)
    def guarded(*args, **kwargs) -> None:
        try:
            record(*args, **kwargs)
        except Exception as exc:
            logger.opt(exception=exc).warning("recording the metric {} failed", record.__name__)
    return guarded


@_quietly
def request_done(endpoint: str, method: str, status: int, seconds: float) -> None:
    m = _get()
    m.requests.labels(endpoint, method, str(status)).inc()
    m.duration.labels(endpoint).observe(seconds)


@_quietly
def first_token(endpoint: str, seconds: float) -> None:
    _get().first_token.labels(endpoint).observe(seconds)


@_quietly
def queue_left(seconds: float, served: bool) -> None:
    _get().queue_wait.labels("served" if served else "abandoned").observe(seconds)


@_quietly
def refused(code: str | None) -> None:
    """Count a 429 by its reason: capacity, rate_limit, budget, upstream (else other)."""
    _get().refused.labels(REFUSALS.get(code or "", "other")).inc()


@_quietly
def turn_ended(ended) -> None:
    """Count a finished turn (an app/chat/ended.py TurnEnded): how it ended, what it used."""
    m = _get()
    m.turns.labels(ended.outcome).inc()
    m.tokens.labels(ended.key, "input").inc(ended.input_tokens)
    m.tokens.labels(ended.key, "output").inc(ended.output_tokens)
    m.cost.labels(ended.key).inc(max(0.0, ended.cost_usd))


@_quietly
def approval_settled(outcome: str) -> None:
    _get().approvals.labels(outcome).inc()


def exposition(counts: Callable[[], dict]) -> tuple[bytes, str]:
    """Every metric as Prometheus text, and its content type: all workers' samples, and the
    host's processes as `counts()` (the budget's) reports them now."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        generate_latest,
    )
    registry = CollectorRegistry()
    if folder() is not None:
        registry.register(_Workers(folder()))
    else:
        registry.register(_Own(_get().registry))
    registry.register(_Processes(counts))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Workers:
    """Every worker's sample files added up, but for files a worker is still creating: a
    scrape while one starts would otherwise fail on its empty file."""

    def __init__(self, path):
        self.path = path

    def collect(self):
        from prometheus_client.multiprocess import MultiProcessCollector
        files = [f for f in glob.glob(os.path.join(self.path, "*.db"))
                 if _readable(f)]
        return MultiProcessCollector.merge(files, accumulate=True)


def _readable(path: str) -> bool:
    try:
        return os.path.getsize(path) >= MIN_SAMPLE_FILE_BYTES
    except OSError:
        return False  # a dead worker's file, removed meanwhile


class _Own:
    """This process's metrics, when it counts alone."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


class _Processes:
    """The host's claude processes and queue, read at scrape time (the same for any worker)."""

    def __init__(self, counts: Callable[[], dict]):
        self.counts = counts

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily
        counts = self.counts()
        processes = GaugeMetricFamily(PREFIX + "processes", "claude processes on this host "
                                      "by state", labels=["state"])
        for state in PROCESS_STATES:
            processes.add_metric([state], counts[state])
        yield processes
        yield GaugeMetricFamily(PREFIX + "queue_length", "Requests waiting for a process",
                                value=counts["queued"])
        yield GaugeMetricFamily(PREFIX + "processes_max", "The cap on claude processes "
                                "(MAX_CLAUDE_PROCESSES)", value=counts["cap"])
