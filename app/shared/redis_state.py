"""What hosts share in Redis (REDIS_URL): session locks, signals about sessions, and the
registry of live hosts.

A session lock is a lease, renewed by each worker's keeper while the turn runs, so a host
that dies frees its sessions within LEASE_SECONDS. Signals (interrupt a session's turn,
end its waiting turn, forget its process) are a sorted set per kind, scored by the time
they were asked, read by every worker of every host on its housekeeping tick; the worker
that holds the session acts and clears it. Hosts beat into a hash every few seconds.
"""

import json
import threading
import hashlib
import time
from dataclasses import dataclass
from typing import cast

import redis
from redis.exceptions import LockError, RedisError

from app.errors import ServiceUnavailable
from app.shared.file_locks import busy

PREFIX = "ccg:"
LEASE_SECONDS = 30.0
RENEW_SECONDS = 10.0
SIGNAL_SECONDS = 10.0  # a signal nobody took in this long is void
BEAT_SECONDS = 5.0
ALIVE_SECONDS = 15.0  # a host that has not beaten for this long is gone


class RedisUnavailable(ServiceUnavailable):
    """Redis does not answer: what needs it answers 503, never guesses."""
    code = "redis_unavailable"


def connect(url: str) -> redis.Redis:
    """A client for REDIS_URL with short timeouts (a request waits seconds, not minutes)."""
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=5,
                                health_check_interval=30)


def _unavailable(exc: Exception) -> RedisUnavailable:
    return RedisUnavailable(f"Redis (the REDIS_URL setting) does not answer: {exc}.")


class RedisLock:
    """A held session; `release()` is idempotent."""

    def __init__(self, lock, keeper: "LeaseKeeper"):
        self._lock = lock
        self._keeper = keeper

    def release(self) -> None:
        if self._lock is None:
            return
        lock, self._lock = self._lock, None
        self._keeper.forget(lock)
        try:
            lock.release()
        except (LockError, RedisError):
            pass  # its lease ran out (or Redis went): nobody holds it for us any more


class LeaseKeeper:
    """Renews the leases this worker holds, from one thread."""

    def __init__(self) -> None:
        self._held: set = set()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def keep(self, lock) -> None:
        with self._guard:
            self._held.add(lock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._renew, daemon=True,
                                                name="lease-keeper")
                self._thread.start()

    def forget(self, lock) -> None:
        with self._guard:
            self._held.discard(lock)

    def _renew(self) -> None:
        while True:
            time.sleep(RENEW_SECONDS)  # a period, not a wait for something
            with self._guard:
                held = list(self._held)
            for lock in held:
                try:
                    lock.reacquire()
                except (LockError, RedisError):
                    pass  # lost: its turn goes on, but another may now take the session


class RedisSessionLocks:
    """One turn per session at a time, across every worker of every host."""

    def __init__(self, client: redis.Redis):
        self._client = client
        self._keeper = LeaseKeeper()

    def lock(self, session_id: str, wait_seconds: float) -> RedisLock:
        lock = self._client.lock(f"{PREFIX}session-lock:{session_id}", timeout=LEASE_SECONDS,
                                 sleep=0.05, thread_local=False)
        try:
            held = lock.acquire(blocking=wait_seconds > 0,
                                blocking_timeout=wait_seconds if wait_seconds > 0 else None)
        except RedisError as exc:
            raise _unavailable(exc) from None
        if not held:
            raise busy(session_id)
        self._keeper.keep(lock)
        return RedisLock(lock, self._keeper)

    def is_running(self, session_id: str) -> bool:
        try:
            return bool(self._client.exists(f"{PREFIX}session-lock:{session_id}"))
        except RedisError as exc:
            raise _unavailable(exc) from None


class RedisSignals:
    """One kind of request about sessions, seen by every worker of every host."""

    def __init__(self, client: redis.Redis, kind: str):
        self._client = client
        self._key = f"{PREFIX}signals:{kind}"

    def request(self, session_id: str) -> None:
        try:
            self._client.zadd(self._key, {session_id: time.time()})
        except RedisError as exc:
            raise _unavailable(exc) from None

    def pending(self) -> list[str]:
        """The sessions asked about lately (older requests are dropped)."""
        try:
            pipe = self._client.pipeline()
            pipe.zremrangebyscore(self._key, "-inf", time.time() - SIGNAL_SECONDS)
            pipe.zrange(self._key, 0, -1)
            return [member.decode() for member in pipe.execute()[1]]
        except RedisError:
            return []  # housekeeping tries again on its next tick

    def clear(self, session_id: str) -> None:
        try:
            self._client.zrem(self._key, session_id)
        except RedisError:
            pass


@dataclass(frozen=True)
class Host:
    """A live host of the cluster."""
    id: str
    url: str
    beat_at: float = 0.0

    @classmethod
    def at(cls, url: str) -> "Host":
        """The host that serves at NODE_URL `url` (its id is derived from it)."""
        return cls(hashlib.sha256(url.encode()).hexdigest()[:16], url)


class HostRegistry:
    """The hosts of one cluster, each beating every few seconds."""

    def __init__(self, client: redis.Redis, me: Host):
        self._client = client
        self.me = me
        self._key = f"{PREFIX}hosts"
        self._next_beat = 0.0

    def beat(self) -> None:
        """Say this host is alive (a housekeeping chore: at most every BEAT_SECONDS)."""
        now = time.time()
        if now < self._next_beat:
            return
        self._next_beat = now + BEAT_SECONDS
        try:
            self._client.hset(self._key, self.me.id, json.dumps({"url": self.me.url,
                                                                 "beat_at": now}))
        except RedisError:
            pass  # the next tick tries again; meanwhile others may think this host gone

    def alive(self) -> list[Host]:
        """The hosts that beat lately, this one included."""
        try:
            # a sync client without decode_responses: bytes, never an awaitable
            entries = cast(dict[bytes, bytes], self._client.hgetall(self._key))
        except RedisError as exc:
            raise _unavailable(exc) from None
        now, hosts = time.time(), []
        for host_id, raw in entries.items():
            data = json.loads(raw)
            if now - data["beat_at"] < ALIVE_SECONDS:
                hosts.append(Host(host_id.decode(), data["url"], data["beat_at"]))
        return sorted(hosts, key=lambda host: host.id)

    def find(self, host_id: str) -> Host | None:
        """A live host by its id."""
        return next((host for host in self.alive() if host.id == host_id), None)


class SessionHomes:
    """Which host holds each session: where its workspace and the CLI's transcript are, so
    where its next turn must run. Set by the session's first turn; kept in Redis with the
    registry (run it with persistence: losing this loses the way to the sessions)."""

    def __init__(self, client: redis.Redis, me: Host):
        self._client = client
        self.me = me
        self._key = f"{PREFIX}session-homes"

    def home_of(self, session_id: str) -> str | None:
        """The id of the host that holds the session, if one does."""
        try:
            found = cast(bytes | None, self._client.hget(self._key, session_id))
        except RedisError as exc:
            raise _unavailable(exc) from None
        return found.decode() if found else None

    def settle(self, session_id: str) -> None:
        """Record this host as the session's home, unless it has one."""
        try:
            self._client.hsetnx(self._key, session_id, self.me.id)
        except RedisError as exc:
            raise _unavailable(exc) from None

    def follow(self, session_id: str, source: str) -> None:
        """A fork lives where its source does (its first turn reads the source's file)."""
        home = self.home_of(source)
        if home is not None:
            try:
                self._client.hsetnx(self._key, session_id, home)
            except RedisError as exc:
                raise _unavailable(exc) from None

    def take_over(self, session_id: str) -> None:
        """Make this host the session's home (its old one is gone; the volume is shared)."""
        try:
            self._client.hset(self._key, session_id, self.me.id)
        except RedisError as exc:
            raise _unavailable(exc) from None

    def forget(self, session_id: str) -> None:
        try:
            self._client.hdel(self._key, session_id)
        except RedisError:
            pass
