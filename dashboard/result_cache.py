"""Query results shared by the dashboard's replicas through Redis (``EASYFLOW_REDIS_URL``; off
without it).

A result computed on one replica is served to the others: keyed by the query, its arguments, the
filters, the database (its identity: PostgreSQL's system identifier and database name, an SQLite
file's device and inode, with the URL without the password; two URLs that read the same but reach
different databases never share) and the database's *generation* — a counter
in Redis that an import or a rollup refresh increments, so that what they changed is asked again
everywhere. Entries expire with the local cache's time to live, and a result larger than
``MAX_BYTES`` stays local. Frames cross as Arrow IPC streams (pyarrow, which Streamlit brings),
never as pickles: one process must not execute what another wrote. A frame Arrow cannot hold (a
column mixing types) is simply not shared. Every entry carries an HMAC-SHA256 of its key and
content under a secret the replicas share (``EASYFLOW_CACHE_SECRET``, else ``[auth] cookie_secret``;
without either nothing is shared): an entry that fails the check is ignored, logged, and computed
here, so whoever can write to Redis cannot change the figures shown.

Redis down or refusing: the dashboard goes on without it (each replica its own cache), logs it
once, and tries again after ``RETRY_SECONDS``.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import threading
import time
from collections.abc import Callable, Mapping

import pandas as pd

from data_access import logs

PREFIX = "efa:v2:"
SIGNATURE_BYTES = 32
MAX_BYTES = 8 * 2**20
RETRY_SECONDS = 30.0
TIMEOUT_SECONDS = 0.5
SHARED_PATH = "shared cache (Redis)"


class SharedCache:
    """One Redis server's cache of frames for one dashboard process."""

    def __init__(self, url: str, ttl_seconds: int, secret: bytes) -> None:
        import redis

        self.ttl = ttl_seconds
        self._secret = secret
        self.client = redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)
        self._down_until = 0.0
        self._said_down = False
        self._lock = threading.Lock()

    # --- availability: log once, back off, come back by itself ---------------------------------
    def _usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, error: Exception) -> None:
        with self._lock:
            self._down_until = time.monotonic() + RETRY_SECONDS
            if not self._said_down:
                self._said_down = True
                logs.get("easyflow.cache").warning("shared_cache_unavailable", problem=type(error).__name__,
                                                   retry_seconds=RETRY_SECONDS)

    def _worked(self) -> None:
        if self._said_down:
            with self._lock:
                if self._said_down:
                    self._said_down = False
                    logs.get("easyflow.cache").info("shared_cache_back")

    def _call(self, action: Callable, default=None):
        import redis

        if not self._usable():
            return default
        try:
            result = action()
        except (redis.RedisError, OSError) as error:
            self._failed(error)
            return default
        self._worked()
        return result

    # --- generations: what an import or a refresh invalidates -----------------------------------
    def generation(self, database: str) -> int:
        value = self._call(lambda: self.client.get(f"{PREFIX}generation:{database}"))
        return int(value) if value else 0

    def bump(self, database: str) -> None:
        """A write changed ``database``: every replica's shared entries of it are stale now."""
        self._call(lambda: self.client.incr(f"{PREFIX}generation:{database}"))

    # --- frames -------------------------------------------------------------------------------
    def _signature(self, key: str, raw: bytes) -> bytes:
        return hmac.new(self._secret, key.encode() + b"\0" + raw, hashlib.sha256).digest()

    def get(self, key: str) -> pd.DataFrame | None:
        stored = self._call(lambda: self.client.get(PREFIX + key))
        if not stored:
            return None
        signature, raw = stored[:SIGNATURE_BYTES], stored[SIGNATURE_BYTES:]
        if not hmac.compare_digest(signature, self._signature(key, raw)):
            logs.get("easyflow.cache").warning("shared_cache_entry_refused", reason="signature")
            return None
        return from_arrow(raw)

    def put(self, key: str, frame: pd.DataFrame) -> None:
        raw = to_arrow(frame)
        if raw is not None and len(raw) <= MAX_BYTES:
            stored = self._signature(key, raw) + raw
            self._call(lambda: self.client.set(PREFIX + key, stored, ex=self.ttl))

    def fetch(self, name: str, key_parts: tuple, compute: Callable[[], pd.DataFrame], database: str) -> pd.DataFrame:
        """The frame of ``key_parts`` from Redis (recorded for ``debug=1`` as served from the
        shared cache), else ``compute()``d here and shared."""
        key = hashlib.sha256(repr((*key_parts, database, self.generation(database))).encode()).hexdigest()
        started = time.perf_counter()
        found = self.get(key)
        if found is not None:
            with logs.read_path(SHARED_PATH), logs.timed_query(name, "redis") as info:
                info["rows"] = len(found)
            logs.get("easyflow.cache").debug("shared_cache_hit", query=name,
                                             ms=round((time.perf_counter() - started) * 1000, 1))
            return found
        frame = compute()
        self.put(key, frame)
        return frame


def to_arrow(frame: pd.DataFrame) -> bytes | None:
    """The frame as an Arrow IPC stream; None for a frame Arrow cannot hold (or not a frame)."""
    import pyarrow as pa

    if not isinstance(frame, pd.DataFrame):
        return None
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError, AttributeError):
        return None
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def from_arrow(raw: bytes) -> pd.DataFrame | None:
    """The frame of an Arrow IPC stream (data only: nothing in it runs); None if unreadable."""
    import pyarrow as pa

    try:
        return pa.ipc.open_stream(raw).read_all().to_pandas()
    except (pa.ArrowException, ValueError):
        return None


def database_id(url: str, identity: str = "") -> str:
    """The database as a cache key: its URL without the password and its ``identity``
    (``database_identity``), hashed."""
    import sqlalchemy as sa

    try:
        shown = sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - any URL still names one database
        shown = url
    return hashlib.sha256(f"{shown}\0{identity}".encode()).hexdigest()[:16]


def database_identity(engine) -> str:
    """What tells this database from another that a look-alike URL reaches: PostgreSQL's system
    identifier and database name; an SQLite file's device and inode (and path)."""
    import sqlalchemy as sa

    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            system, name = conn.execute(sa.text(
                "SELECT (SELECT system_identifier FROM pg_control_system()), current_database()")).one()
        return f"postgresql:{system}:{name}"
    database = engine.url.database or ""
    try:
        status = os.stat(database)
        return f"sqlite:{status.st_dev}:{status.st_ino}:{os.path.realpath(database)}"
    except OSError:
        return f"sqlite:{database}"


def secret(secrets: Mapping | None = None) -> bytes | None:
    """The key of the entries' HMAC: ``EASYFLOW_CACHE_SECRET``, else the secrets file's
    ``[easyflow] cache_secret`` or ``[auth] cookie_secret`` (the same on every replica)."""
    value = os.environ.get("EASYFLOW_CACHE_SECRET", "").strip()
    if not value and secrets:
        value = str((secrets.get("easyflow") or {}).get("cache_secret") or (secrets.get("auth") or {}).get("cookie_secret")
                    or "").strip()
    return value.encode() if value else None


_shared: dict[tuple[str, bytes], SharedCache] = {}
_shared_lock = threading.Lock()
_said_unsigned = False


def shared(ttl_seconds: int, secrets: Mapping | None = None) -> SharedCache | None:
    """This process's shared cache when ``EASYFLOW_REDIS_URL`` is set and a secret signs its
    entries (``secret``), else None (logged once: without a secret, nothing is shared)."""
    url = os.environ.get("EASYFLOW_REDIS_URL", "").strip()
    if not url:
        return None
    global _said_unsigned
    key = secret(secrets)
    if key is None:
        if not _said_unsigned:
            _said_unsigned = True
            logs.get("easyflow.cache").warning("shared_cache_off", reason="no EASYFLOW_CACHE_SECRET or cookie_secret")
        return None
    with _shared_lock:
        if (url, key) not in _shared:
            _shared[(url, key)] = SharedCache(url, ttl_seconds, key)
        return _shared[(url, key)]
