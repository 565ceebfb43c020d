"""Sign-in sessions that end (OIDC): an absolute lifetime, and sign-out kept on the server.

Streamlit's identity cookie is signed and lives 30 days; deleting the browser's copy at sign-out
does not stop a copy saved before. So a session is over, whatever the cookie says, when

- it began (the ID token's ``iat``) more than ``EASYFLOW_SESSION_HOURS`` ago (default 12), or
- its user signed out after it began: ``revoke`` keeps the moment per user (``sub``, else e-mail)
  in an SQLite file (``EASYFLOW_SESSION_DB``, default ``.easyflow/sessions.sqlite``: the replicas
  of one machine) and, with ``EASYFLOW_REDIS_URL``, in Redis (every replica); while Redis is away
  the file still answers.

``ended`` is asked on every run and by the download route. A user whose session ended signs in
again, and the role comes afresh from the provider's claims of that sign-in.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from data_access import logs

DEFAULT_HOURS = 12.0
_REDIS_PREFIX = "efa:signed-out:"
_lock = threading.Lock()


def lifetime_seconds() -> float:
    try:
        hours = float(os.environ.get("EASYFLOW_SESSION_HOURS", DEFAULT_HOURS))
    except ValueError:
        hours = DEFAULT_HOURS
    return max(hours, 0.0) * 3600


def subject(user: Mapping) -> str:
    return str(user.get("sub") or user.get("email") or "")


def _database() -> Path:
    return Path(os.environ.get("EASYFLOW_SESSION_DB") or Path(".easyflow") / "sessions.sqlite")


def _sqlite() -> sqlite3.Connection:
    path = _database()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=5)
    conn.execute("CREATE TABLE IF NOT EXISTS signed_out (subject TEXT PRIMARY KEY, at REAL NOT NULL)")
    return conn


def _redis():
    url = os.environ.get("EASYFLOW_REDIS_URL", "").strip()
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def revoke(user: Mapping, at: float | None = None) -> None:
    """``user`` signed out at ``at`` (default now): their sessions begun before are over."""
    who, at = subject(user), time.time() if at is None else at
    if not who:
        return
    with _lock, _sqlite() as conn:
        conn.execute("INSERT INTO signed_out (subject, at) VALUES (?, ?) ON CONFLICT (subject) "
                     "DO UPDATE SET at = MAX(at, excluded.at)", (who, at))
    try:
        client = _redis()
        if client is not None:
            client.set(_REDIS_PREFIX + who, repr(at), ex=int(lifetime_seconds()) + 3600)
    except Exception as error:  # noqa: BLE001 - the file holds it; other machines learn it when Redis is back
        logs.get("easyflow.auth").error("session_store_unavailable", store="redis", problem=type(error).__name__)


def signed_out_at(user: Mapping) -> float | None:
    who = subject(user)
    if not who:
        return None
    with _lock, _sqlite() as conn:
        row = conn.execute("SELECT at FROM signed_out WHERE subject = ?", (who,)).fetchone()
    found = [row[0]] if row else []
    try:
        client = _redis()
        value = client.get(_REDIS_PREFIX + who) if client is not None else None
        if value:
            found.append(float(value))
    except Exception as error:  # noqa: BLE001 - the file still answers
        logs.get("easyflow.auth").warning("session_store_unavailable", store="redis", problem=type(error).__name__)
    return max(found) if found else None


def ended(user: Mapping, now: float | None = None) -> str | None:
    """Why the signed-in ``user``'s session is over (``expired``, ``signed_out``), or None.
    A session whose start cannot be told (no ``iat``), or whose end cannot be checked (the file
    unreadable), is over: fail closed."""
    now = time.time() if now is None else now
    try:
        began = float(user.get("iat"))
    except (TypeError, ValueError):
        return "expired"
    if now - began > lifetime_seconds():
        return "expired"
    try:
        out = signed_out_at(user)
    except Exception as error:  # noqa: BLE001 - the file unreadable: nobody stays signed in unchecked
        logs.get("easyflow.auth").error("session_store_unavailable", problem=type(error).__name__)
        return "unchecked"
    return "signed_out" if out is not None and out >= began else None
