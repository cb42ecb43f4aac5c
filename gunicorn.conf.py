"""gunicorn settings for `gunicorn 'app:create_app()'`; every value says why it is so.

Reads the same settings as the app (environment, then `.env`), refuses to start
on a bad one, and refuses a non-loopback bind when no API key is set.
"""

import gc
import os
import signal
import sys
import threading
from pathlib import Path

from dotenv import load_dotenv

from app import logs
from app.web import early_errors
from app.settings import SettingsError, is_loopback, load_settings

load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
try:
    _settings = load_settings(os.environ)
except SettingsError as exc:
    sys.exit(f"claude-code-gateway: refusing to start: {exc}")

# gunicorn answers malformed requests (bad request line, huge headers) itself, in HTML
# unless told otherwise: ours are JSON like every other error.
early_errors.install()

# Where to listen: HOST and PORT, as the Node server used (Heroku sets PORT).
bind = f"{_settings.host}:{_settings.port}"

# Threads, not processes, carry concurrent streams: each open stream holds one
# thread while its `claude` child does the heavy work in its own process. One worker
# by default: a loaded conversation's process belongs to the worker that started it,
# so with one worker every next turn finds it (with more, some resume cold).
# gthread is our own subclass, which answers 429 at once when every thread is busy rather
# than leave a request waiting unseen (app/overload_worker.py).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
if worker_class == "gthread":
    worker_class = "app.web.overload_worker.OverloadAwareThreadWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# Enough threads for every process the host may run and every request its queue may hold,
# plus room for the other endpoints: past that, requests are refused, never kept waiting.
threads = int(os.environ.get("GUNICORN_THREADS") or
              max(32, _settings.max_processes + _settings.queue_max + 16))
# gevent workers: how many greenlets (streams) one worker serves at once.
worker_connections = 1000

# A worker is only "silent" if its main loop stalls; streams may last an hour.
timeout = 120
# On restart, in-flight turns get this long to finish before their CLI is stopped.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5

# gunicorn's control socket lives at one path per user: several gateways on a machine
# would fight over it, and nothing here uses it.
control_socket_disable = True

# Never preload: under gevent the app must be imported after the worker patches.
preload_app = False
# One stderr log stream; the app's own request lines come from loguru.
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower() if _settings.log_level != "SUCCESS" else "info"
if loglevel == "trace":
    loglevel = "debug"
# LOG_FORMAT=json: gunicorn's own lines are JSON too, shaped like the app's loguru records.
logconfig_dict = logs.gunicorn_logconfig(_settings.log_format, loglevel)


def on_starting(server):
    """Before any worker forks: refuse an unkeyed network bind; give metrics their folder."""
    _refuse_unkeyed_bind(server)
    _metrics_folder()


def _refuse_unkeyed_bind(server):
    """Refuse to serve a network address with no API key configured."""
    if _settings.keys:
        return
    for address in server.cfg.address:
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not is_loopback(host):
            sys.exit(f"claude-code-gateway: refusing to bind {host} without API_KEY or "
                     "API_KEYS: set a key or bind to 127.0.0.1.")


def _metrics_folder():
    """Point PROMETHEUS_MULTIPROC_DIR (unless the operator did) at STATE_DIR/metrics, where
    each worker keeps its samples for /metrics to add up, and empty it of the last run's.

    Set here in the master, so every worker has it before it first imports prometheus_client.
    """
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or _settings.state_dir / "metrics"
                ).resolve()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def post_worker_init(worker):
    """On SIGTERM, end idle and warm processes at once, and running turns' processes before
    the arbiter's SIGKILL.

    And the app, loaded once, is frozen out of the garbage collector's sight: a full
    collection scanned its 90,000 objects in 30-40 ms, a pause that fell into streams
    (a long answer's reader stalled for 70-100 ms in the profiles)."""
    gc.collect()
    gc.freeze()
    previous = signal.getsignal(signal.SIGTERM)
    grace = max(0.0, worker.cfg.graceful_timeout - _settings.kill_timeout_ms / 1000 - 1)
    gevent_loop = "gevent" in type(worker).__module__  # also when chosen with `-k gevent`

    def on_term(signum, frame):
        _later(0, _close_pools, gevent_loop)
        _later(grace, _stop_children, gevent_loop)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)


def worker_int(worker):
    """Ctrl-C or SIGQUIT: ask the CLI children to end now, without waiting in a signal handler;
    the master's child_exit kills what is left."""
    _ask_children_to_end()


def worker_abort(worker):
    """The arbiter timed the worker out: the same, before it dies."""
    _ask_children_to_end()


def worker_exit(server, worker):
    """Whatever ended the worker, leave no `claude` process behind."""
    _stop_children()


def child_exit(server, worker):
    """In the master: end the process groups of a worker that died without cleaning up.

    A worker killed by SIGKILL (the OOM killer) runs none of its hooks; its budget
    slots still name the groups of its `claude` children. SIGINT first, so the CLI ends
    the Bash commands it runs in groups of their own; SIGKILL a second later.
    """
    from app.claude.budget import Budget
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)  # its counts stay; its live gauges go
    budget = Budget(_settings.state_dir / "budget", _settings.max_processes, 0)
    groups = budget.reclaim(worker.pid)
    for pgid in groups:
        server.log.warning("worker %s died; ending its claude process group %s", worker.pid, pgid)
        _signal_groups([pgid], signal.SIGINT)
    if groups:
        timer = threading.Timer(1.0, _signal_groups, (groups, signal.SIGKILL))
        timer.daemon = True
        timer.start()


def _signal_groups(groups, signum):
    for pgid in groups:
        try:
            os.killpg(pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _later(seconds, callback, gevent_loop):
    """Run `callback` after `seconds`, from a signal handler: a greenlet under gevent (whose
    loop may not block in a handler), else a timer thread."""
    if gevent_loop:
        import gevent
        gevent.spawn_later(seconds, callback)
        return
    timer = threading.Timer(seconds, callback)
    timer.daemon = True
    timer.start()


def _close_pools():
    from app.claude.pool import close_all
    close_all()


def _ask_children_to_end():
    from app.claude.process import terminate_all
    terminate_all()


def _stop_children():
    from app.claude.process import stop_all
    stop_all()
