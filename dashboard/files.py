"""Downloads through the dashboard's own route, ``/files/<token>`` (``dashboard/server.py``), never
through Streamlit's ``/media`` URLs (open to anyone who has the link, kept in server memory).

A page offers a file with ``link``: a button whose URL holds a random token. The token is good
once, for ``TTL_SECONDS``, and only for whoever the page was drawn for, while that browser tab's
session is open (a refused request does not use it up). On a click, the route checks all of it again where the file leaves — the
session, the identity (the OIDC cookie or the trusted proxy's headers; anonymous visitors: the
client's address) and the role — then makes the file into a temporary file (never whole in
memory), streams it, deletes it, and writes the audit line. The button reruns the page, which
draws a fresh token: a used or copied link is worth nothing, and the access log holds nothing
reusable.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO
from urllib.parse import quote

from data_access import logs
from dashboard import auth, sessions

ROUTE = "/files/{token}"
TTL_SECONDS = 600
MAX_OFFERS = 10_000  # all sessions together: the oldest go first


@dataclass(frozen=True)
class Offer:
    """A file a page offered: how to make it and for whom."""

    make: Callable[[IO[bytes]], dict]  # writes the file; returns details for the audit line
    filename: str
    mime: str
    event: str
    action: str | None  # a key of auth.LEAST_ROLE the file needs, or None (every role)
    principal: auth.Principal
    settings: auth.AuthSettings
    session: str
    where: dict
    expires: float
    details: dict = field(default_factory=dict)


_offers: dict[str, Offer] = {}
_lock = threading.Lock()


def offer(item: Offer) -> str:
    """Keep ``item`` and return its token (32 random bytes, URL-safe)."""
    token = secrets.token_urlsafe(32)
    now = time.monotonic()
    with _lock:
        for old in [k for k, v in _offers.items() if v.expires < now]:
            del _offers[old]
        while len(_offers) >= MAX_OFFERS:
            del _offers[next(iter(_offers))]
        _offers[token] = item
    return token


def claim(token: str) -> Offer | None:
    """The offer of ``token``, taken out (a token works once); None when unknown or expired."""
    with _lock:
        item = _offers.pop(token, None)
    return item if item is not None and item.expires >= time.monotonic() else None


def _give_back(token: str, item: Offer) -> None:
    """A refused request does not use the link up: whoever it was for may still click it."""
    with _lock:
        _offers.setdefault(token, item)


def of_bytes(produce: Callable[[], bytes]) -> Callable[[IO[bytes]], dict]:
    """A ``make`` for a file that ``produce()`` returns whole (a table's CSV, a report)."""
    def make(out: IO[bytes]) -> dict:
        out.write(produce())
        return {}

    return make


def link(label: str, make: Callable[[IO[bytes]], dict], filename: str, mime: str, *, key: str, event: str,
         action: str | None = None, icon: str = ":material/download:", width="content", **details) -> None:
    """A download button for this session's principal (the page checked the role already; the
    route checks it again). ``make(out)`` writes the file when it is clicked and returns what the
    audit line adds (rows, sheets)."""
    import streamlit as st
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    principal = auth.current()
    if action is not None and not principal.may(action):
        raise auth.Refused(action)
    context = get_script_run_ctx()
    item = Offer(make, filename, mime, event, action, principal, auth.session_settings(),
                 context.session_id if context is not None else "", auth.place(),
                 time.monotonic() + TTL_SECONDS, details)
    token = offer(item)
    st.link_button(label, f"files/{token}", on_click="rerun", key=key, icon=icon, width=width)


# --- the route ----------------------------------------------------------------------------------------

def _session_open(session: str) -> bool:
    from streamlit import runtime

    return runtime.exists() and runtime.get_instance().is_active_session(session)


def _oidc_user(request) -> dict | None:
    """The signed-in user of Streamlit's identity cookie (signed with ``cookie_secret``); None
    without a valid one."""
    from streamlit.web.server.starlette.starlette_auth_routes import _get_cookie_value_from_request
    from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME

    try:
        raw = _get_cookie_value_from_request(request, USER_COOKIE_NAME)
        user = json.loads(raw) if raw else None
    except Exception:  # noqa: BLE001 - an unreadable cookie is no identity
        return None
    return user if isinstance(user, dict) and user.get("is_logged_in", True) else None


def requester(request, item: Offer) -> tuple[auth.Principal | None, str]:
    """Who asks for the file, by the rules of the mode the page was drawn under, and from where:
    ``(principal or None, reason)``."""
    settings = item.settings
    peer = request.client.host if request.client else ""
    if settings.mode == "oidc":
        user = _oidc_user(request)
        if user is None:
            return None, "signed_out"
        if sessions.ended(user) is not None:
            return None, "session_ended"
        return auth.principal_from_user(user, settings), "no_role"
    if settings.mode == "proxy":
        try:
            _, principal = auth.principal_from_headers(request.headers, settings, peer)
        except auth.ProxyRefusal as refusal:
            return None, refusal.reason
        return principal, "no_role"
    if not _same_client(auth.client_of(request.headers, peer, settings), item.where.get("client")):
        return None, "other_client"
    return item.principal, ""


def _same_client(asking: str, drawn_for: str | None) -> bool:
    """The same address, loopback ones all alike (Streamlit reports a loopback peer as none)."""
    import ipaddress

    if asking == drawn_for:
        return True
    try:
        return ipaddress.ip_address(asking).is_loopback and ipaddress.ip_address(drawn_for or "").is_loopback
    except ValueError:
        return False


def refusal(request, item: Offer | None) -> str | None:
    """Why the file may not leave (None: it may)."""
    if item is None:
        return "unknown_or_used"
    if not _session_open(item.session):
        return "session_closed"
    principal, reason = requester(request, item)
    if principal is None:
        return reason or "no_role"
    if principal.who != item.principal.who:
        return "other_user"
    if item.action is not None and not principal.may(item.action):
        return "role"
    return None


_REFUSED_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Easy Flow Analytics</title>
<body style="font-family: sans-serif; margin: 3em"><p>This download link is not valid any more (it works once,
for ten minutes, in the browser tab that showed it, while you are signed in).</p>
<p>Go back to the dashboard and click the download button again.</p>
<p lang="ru">Эта ссылка на файл больше не действует: она работает один раз, десять минут, во вкладке, где её
показали, и пока вы не вышли из панели. Вернитесь в панель и нажмите кнопку скачивания ещё раз.</p></body></html>"""
_FAILED_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Easy Flow Analytics</title>
<body style="font-family: sans-serif; margin: 3em"><p>The file could not be made (the database may be busy or
away). Go back to the dashboard and try again in a moment.</p>
<p lang="ru">Файл не удалось подготовить: возможно, база данных занята или недоступна. Вернитесь в панель и
попробуйте ещё раз чуть позже.</p></body></html>"""


async def serve(request):
    """``GET /files/<token>``: the file, or a 404 page that says what to do."""
    from starlette.background import BackgroundTask
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, HTMLResponse

    item = claim(request.path_params["token"])
    reason = await run_in_threadpool(refusal, request, item)
    client = auth.client_of(request.headers, request.client.host if request.client else "",
                            item.settings if item else auth.AuthSettings("none"))
    if reason is not None:
        if item is not None and reason != "session_closed":
            _give_back(request.path_params["token"], item)
        auth.audit("download_refused", item.principal if item else None,
                   where={**(item.where if item else {}), "client": client}, reason=reason,
                   file=item.filename if item else None)
        return HTMLResponse(_REFUSED_PAGE, status_code=404, headers={"Cache-Control": "no-store"})
    handle, path = tempfile.mkstemp(prefix="efa-download-")
    try:
        with os.fdopen(handle, "wb") as out:
            details = await run_in_threadpool(item.make, out) or {}
        size = os.path.getsize(path)
    except Exception as error:
        os.unlink(path)
        logs.get("easyflow.files").error("download_failed", file=item.filename, problem=type(error).__name__)
        auth.audit(item.event, item.principal, where={**item.where, "client": client}, file=item.filename,
                   failed=type(error).__name__, **item.details)
        return HTMLResponse(_FAILED_PAGE, status_code=500,
                            headers={"Cache-Control": "no-store"})
    auth.audit(item.event, item.principal, where={**item.where, "client": client}, file=item.filename, bytes=size,
               **{**item.details, **details})
    return FileResponse(path, media_type=item.mime, background=BackgroundTask(os.unlink, path),
                        headers={"Content-Disposition": _disposition(item.filename), "Cache-Control": "no-store",
                                 "X-Content-Type-Options": "nosniff"})


def _disposition(filename: str) -> str:
    """``attachment`` with the name as ASCII (others replaced) and as UTF-8 (RFC 6266, 5987)."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
