"""Who is looking and what they may see: sign-in, roles, and the audit trail of what left.

Three ways in (docs/contract.md, "Sign-in and roles"):

- OIDC through Streamlit's ``st.login`` when ``[auth]`` is in ``.streamlit/secrets.toml``;
- an authenticating reverse proxy's headers (oauth2-proxy, nginx ``auth_request``), trusted only
  with ``EASYFLOW_AUTH=proxy``;
- anonymous: the embedded demo, or a real database with ``EASYFLOW_AUTH=none`` (a banner says so).

With a real database and none of these, no page reads data. Roles come from a claim (OIDC) or a
header (proxy), mapped by ``[easyflow.auth.roles]``; each role has what the one before it has:
viewer (every dashboard page, user ids masked), analyst (+ the Data export page, ids as stored),
admin (+ log import and the ``debug=1`` panel).
"""

from __future__ import annotations

import ipaddress
import os
import secrets as _secrets_module
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from data_access import logs
from data_access.filters import Filters
from dashboard import audit as trail, format as fmt, sessions
from dashboard.i18n import t

ROLES = ("viewer", "analyst", "admin")  # each has what the one before has, and more
# The least role that may do each thing. Checked where the data leaves: the router, the table and
# export downloads, the import, the debug panel.
LEAST_ROLE = {"user_ids": "analyst", "export": "analyst", "import": "admin", "debug": "admin", "silence": "admin",
              "setup": "admin"}
MODES = ("oidc", "proxy", "none")
DEFAULT_ROLE_MAP = {role: role for role in ROLES}  # only when [easyflow.auth.roles] is absent
DEFAULT_TRUSTED_PROXIES = ("127.0.0.0/8", "::1/128")
# uvicorn (Streamlit's server) replaces the peer address with this header's when the peer is one it
# trusts, so a request carrying it cannot be placed: the proxy must not send it (deploy/nginx.conf).
FORWARDED_FOR = "X-Forwarded-For"
_PRINCIPAL_KEY = "_principal"
_SIGNED_IN_KEY = "_audited_sign_in"
_WHERE_KEY = "_audit_where"
_SETTINGS_KEY = "_auth_settings"
_ENDED_KEY = "_audited_session_end"


class Refused(PermissionError):
    """The session's role does not include the action (its name is the message)."""


class AuthConfigError(ValueError):
    """The sign-in settings cannot be used (one line: which setting and what it accepts)."""


@dataclass(frozen=True)
class AuthSettings:
    """How visitors are identified (``mode``) and how their claims map to roles.

    ``mode``: ``oidc``, ``proxy``, ``none`` (anonymous, by the operator's choice), ``demo``
    (anonymous on the embedded demo) or ``locked`` (a real database and nothing configured)."""

    mode: str
    roles_claim: str = "roles"
    role_map: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ROLE_MAP))
    default_role: str | None = None  # a signed-in user none of whose values map: refused
    anonymous_role: str = "viewer"
    user_header: str = "X-Forwarded-Email"
    groups_header: str = "X-Forwarded-Groups"
    client_header: str = "X-Real-IP"  # the visitor's address, as the trusted proxy saw it
    trusted_proxies: tuple = tuple(ipaddress.ip_network(n) for n in DEFAULT_TRUSTED_PROXIES)
    provider: str | None = None  # a named provider of [auth.<name>]; None: the [auth] block itself
    sign_out_url: str | None = None  # the proxy's sign-out address (oauth2-proxy: /oauth2/sign_out)

    @property
    def anonymous(self) -> bool:
        return self.mode in ("none", "demo")


@dataclass(frozen=True)
class Principal:
    """The visitor: ``email`` (None when anonymous), ``role`` (one of ``ROLES``) and ``via``
    (``oidc``, ``proxy`` or ``anonymous``)."""

    email: str | None
    role: str
    via: str

    def may(self, action: str) -> bool:
        """Whether the role includes ``action`` (a key of ``LEAST_ROLE``). Raises ``KeyError`` for
        an unknown action, so a typo fails tests instead of granting or refusing silently."""
        return ROLES.index(self.role) >= ROLES.index(LEAST_ROLE[action])

    @property
    def who(self) -> str:
        return self.email or "anonymous"


def _role(value, setting: str) -> str | None:
    if value in (None, ""):
        return None
    if value not in ROLES:
        raise AuthConfigError(f"{setting} must be one of {', '.join(ROLES)} (got {str(value)[:40]!r})")
    return value


def _networks(raw, setting: str) -> tuple:
    values = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    try:
        return tuple(ipaddress.ip_network(str(v).strip(), strict=False) for v in values if str(v).strip())
    except ValueError:
        raise AuthConfigError(f"{setting} must be IP addresses or networks, comma-separated "
                              f"(got {str(raw)[:60]!r})") from None


def settings_from(secrets: Mapping, env: Mapping[str, str], *, is_demo: bool) -> AuthSettings:
    """The sign-in settings from Streamlit's secrets (``[auth]``, ``[easyflow.auth]``) and the
    environment (``EASYFLOW_AUTH`` wins over ``[easyflow.auth] mode``).

    Roles map from exact claim values or group names: ``[easyflow.auth.roles]`` when present, else
    the role names themselves. Anonymous visitors are viewers unless configured; on the embedded
    demo they are admins, so every page can be tried.

    Returns the settings; raises ``AuthConfigError`` for a mode, role or address that does not
    exist, or ``oidc`` asked for without an ``[auth]`` section."""
    auth_section = secrets.get("auth") or {}
    ours = dict((secrets.get("easyflow") or {}).get("auth") or {})
    mode = (env.get("EASYFLOW_AUTH") or ours.get("mode") or "").strip().lower()
    if mode and mode not in MODES:
        raise AuthConfigError(f"EASYFLOW_AUTH must be one of {', '.join(MODES)} (got {mode[:40]!r})")
    if not mode:
        mode = "oidc" if auth_section else ("demo" if is_demo else "locked")
    if mode == "oidc" and not auth_section:
        raise AuthConfigError("sign-in with OIDC needs an [auth] section in .streamlit/secrets.toml")
    configured = ours.get("roles")
    role_map = ({str(value): _role(role, f"[easyflow.auth.roles] {value!r}") for value, role in dict(configured).items()}
                if configured is not None else dict(DEFAULT_ROLE_MAP))
    provider = ours.get("provider")
    if mode == "oidc" and not provider and "client_id" not in auth_section:
        named = [name for name, value in auth_section.items() if isinstance(value, Mapping)]
        provider = named[0] if len(named) == 1 else None
    return AuthSettings(
        mode=mode, roles_claim=str(ours.get("roles_claim") or "roles"), role_map=role_map,
        default_role=_role(ours.get("default_role"), "[easyflow.auth] default_role"),
        anonymous_role=_role(env.get("EASYFLOW_ANONYMOUS_ROLE") or ours.get("anonymous_role"),
                             "EASYFLOW_ANONYMOUS_ROLE") or ("admin" if mode == "demo" else "viewer"),
        user_header=str(ours.get("user_header") or "X-Forwarded-Email"),
        groups_header=str(ours.get("groups_header") or "X-Forwarded-Groups"),
        client_header=str(ours.get("client_header") or "X-Real-IP"),
        trusted_proxies=_networks(env.get("EASYFLOW_TRUSTED_PROXIES") or ours.get("trusted_proxies")
                                  or ",".join(DEFAULT_TRUSTED_PROXIES), "EASYFLOW_TRUSTED_PROXIES"),
        provider=str(provider) if provider else None, sign_out_url=ours.get("sign_out_url") or None)


def claim_values(raw) -> list[str]:
    """A claim or header as a list of exact values: a list as is; a text split on commas only (a
    group named "not admin yet" is that one name, never the word "admin")."""
    if raw is None:
        return []
    parts = raw if isinstance(raw, (list, tuple, set)) else str(raw).split(",")
    return [str(v).strip() for v in parts if str(v).strip()]


def role_for(values: list[str], settings: AuthSettings) -> str | None:
    """The highest role any of ``values`` maps to, else ``settings.default_role`` (None: refused)."""
    roles = [settings.role_map[v] for v in values if v in settings.role_map]
    if not roles:
        return settings.default_role
    return max(roles, key=ROLES.index)


def principal_from_user(user: Mapping, settings: AuthSettings) -> Principal | None:
    """The signed-in OIDC user (``st.user``) as a principal; None when no value maps to a role."""
    role = role_for(claim_values(user.get(settings.roles_claim)), settings)
    email = str(user.get("email") or user.get("sub") or "") or None
    return Principal(email, role, "oidc") if role else None


def _all(headers, name: str) -> list[str]:
    get_all = getattr(headers, "get_all", None) or getattr(headers, "getlist", None)  # Streamlit's, Starlette's
    if get_all is not None:
        return list(get_all(name))
    value = headers.get(name)
    return [] if value is None else [value]


def trusted_peer(peer: str | None, settings: AuthSettings) -> bool:
    """Whether the connection's peer address is one of the trusted proxies."""
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return False
    return any(address in network for network in settings.trusted_proxies)


class ProxyRefusal(PermissionError):
    """A request whose proxy headers cannot be trusted; ``reason`` is the audit's word for why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def principal_from_headers(headers: Mapping[str, str], settings: AuthSettings,
                           peer: str | None = "127.0.0.1") -> tuple[str | None, Principal | None]:
    """The user the proxy names in its headers: ``(email, principal)``; ``(None, None)`` when
    the user header is missing, ``(email, None)`` when no group maps to a role.

    Raises ``ProxyRefusal`` when the connection does not come from a trusted proxy
    (``untrusted_peer``), carries ``X-Forwarded-For`` (``forwarded_for``: the peer address may be
    the header's), or names the user or the groups more than once (``repeated_header``: a proxy
    that appends would let the client's copy through)."""
    if not trusted_peer(peer, settings):
        raise ProxyRefusal("untrusted_peer")
    if _all(headers, FORWARDED_FOR):
        raise ProxyRefusal("forwarded_for")
    users, groups = _all(headers, settings.user_header), _all(headers, settings.groups_header)
    if len(users) > 1 or len(groups) > 1:
        raise ProxyRefusal("repeated_header")
    email = (users[0] if users else "").strip()
    if not email:
        return None, None
    role = role_for(claim_values(groups[0] if groups else None), settings)
    return email, (Principal(email, role, "proxy") if role else None)


def listener_problem(settings: AuthSettings, address: str | None) -> str | None:
    """Why proxy mode cannot run on a server listening at ``address`` (Streamlit's
    ``server.address``; empty: every interface), or None: anyone who reaches a non-loopback
    listener directly could claim to be the proxy unless a trusted proxy lives off this host."""
    if settings.mode != "proxy":
        return None
    try:
        loopback = bool(address) and ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = address == "localhost"
    if loopback or any(not network.is_loopback for network in settings.trusted_proxies):
        return None
    return ("EASYFLOW_AUTH=proxy with Streamlit listening on every interface: set server.address to "
            "127.0.0.1 or name the proxy's address in EASYFLOW_TRUSTED_PROXIES")


# --- the audit trail --------------------------------------------------------------------------------

def audit(event: str, principal: Principal | None, *, where: Mapping | None = None, **details) -> None:
    """One audit line (structlog JSON, logger ``easyflow.audit``): who did ``event``, from where
    (the client's address and the session, in a Streamlit run) and its details. Never a secret:
    details are names, counts and filters."""
    who = principal or Principal(None, "viewer", "anonymous")
    _record(event, {"user": who.who, "role": who.role, "via": who.via,
                    **(where if where is not None else place()), **details})


def _record(event: str, fields: dict, *, warning: bool = False) -> None:
    log = logs.get("easyflow.audit")
    (log.warning if warning else log.info)(event, audit=True, **fields)
    trail.write({"event": event, **fields})


def place() -> dict:
    """This session's client address and session id, as the gate recorded them; empty outside a run."""
    try:
        return dict(st.session_state.get(_WHERE_KEY) or {})
    except Exception:  # no Streamlit run (a command-line export)
        return {}



def session_settings() -> AuthSettings:
    """The sign-in settings this session's gate used (a viewer's anonymous settings outside one)."""
    try:
        found = st.session_state.get(_SETTINGS_KEY)
    except Exception:  # no Streamlit run
        found = None
    return found or AuthSettings("none")


def filters_for_audit(filters: Filters) -> dict:
    return {"start": filters.start.isoformat(), "end": filters.end.isoformat(), "tz": filters.tz,
            "platforms": list(filters.platforms), "intents": list(filters.intents), "models": list(filters.models)}


# --- in a Streamlit run -----------------------------------------------------------------------------

def current() -> Principal:
    """This session's principal, set by the entry point; an anonymous viewer outside it (the
    least role, so a page run without the entry point shows no more than a viewer's)."""
    return st.session_state.get(_PRINCIPAL_KEY) or Principal(None, "viewer", "anonymous")


def app_secrets() -> Mapping:
    """Streamlit's secrets as a dict; empty without a secrets file."""
    try:
        return st.secrets.to_dict()
    except Exception:  # no secrets file at all: Streamlit raises FileNotFoundError
        return {}


def settings(*, is_demo: bool) -> AuthSettings:
    """``settings_from`` this app's secrets and environment; also raises ``AuthConfigError`` for
    proxy mode on a listener anyone could reach (``listener_problem``)."""
    config = settings_from(app_secrets(), os.environ, is_demo=is_demo)
    problem = listener_problem(config, st.get_option("server.address"))
    if problem:
        raise AuthConfigError(problem)
    return config


def gate(*, is_demo: bool) -> Principal | None:
    """Identify the visitor. Returns the principal, or None after drawing the page that says why
    they go no further (sign in, no role, no proxy user, nothing configured, bad settings)."""
    try:
        config = settings(is_demo=is_demo)
    except AuthConfigError as error:
        logs.get("easyflow.auth").error("auth_config_error", problem=str(error))
        st.error(t("auth.config_error", problem=str(error)), icon=":material/lock:")
        return None
    st.session_state.setdefault(_WHERE_KEY, {"session": _secrets_module.token_hex(8)})
    st.session_state[_WHERE_KEY]["client"] = client_address(config)
    st.session_state[_SETTINGS_KEY] = config
    principal = _identify(config)
    if principal is None:
        st.session_state.pop(_PRINCIPAL_KEY, None)
        return None
    if principal.via != "anonymous" and st.session_state.get(_SIGNED_IN_KEY) != principal.email:
        st.session_state[_SIGNED_IN_KEY] = principal.email
        audit("sign_in", principal)
    st.session_state[_PRINCIPAL_KEY] = principal
    if config.mode == "none":
        st.warning(t("auth.anonymous_banner"), icon=":material/lock_open:")
    return principal


def _identify(config: AuthSettings) -> Principal | None:
    if config.anonymous:
        return Principal(None, config.anonymous_role, "anonymous")
    if config.mode == "locked":
        st.title(t("auth.locked.title"))
        st.markdown(t("auth.locked.body"))
        return None
    if config.mode == "proxy":
        try:
            email, principal = principal_from_headers(request_headers(), config, peer_address())
        except ProxyRefusal as refusal:
            _refuse(refusal.reason, None, t("auth.proxy_untrusted"))
            return None
        if email is None:
            _refuse("no_proxy_user", None, t("auth.proxy_missing", header=config.user_header))
        elif principal is None:
            _refuse("no_role", email, t("auth.no_role", email=fmt.md_text(email)))
        return principal
    ended = sessions.ended(st.user.to_dict()) if st.user.get("is_logged_in") else None
    if ended is not None:
        email = str(st.user.get("email") or st.user.get("sub") or "")
        if st.session_state.get(_ENDED_KEY) != email:
            st.session_state[_ENDED_KEY] = email
            st.session_state.pop(_SIGNED_IN_KEY, None)
            _record("session_ended", {"user": email or "unknown", "reason": ended, **place()})
    if not st.user.get("is_logged_in") or ended is not None:
        st.title(t("app.title"))
        st.markdown(t("auth.session_ended") if ended is not None else t("auth.sign_in.body"))
        if st.button(t("auth.sign_in"), type="primary", icon=":material/login:", key="auth_sign_in"):
            st.login(config.provider)
        return None
    st.session_state.pop(_ENDED_KEY, None)
    principal = principal_from_user(st.user.to_dict(), config)
    if principal is None:
        email = str(st.user.get("email") or st.user.get("sub") or "")
        _refuse("no_role", email, t("auth.no_role", email=fmt.md_text(email)))
        if st.button(t("auth.sign_out"), key="auth_sign_out_refused", icon=":material/logout:"):
            st.logout()
    return principal


def request_headers() -> Mapping[str, str]:
    """The headers of the request that opened this session (case-insensitive names; ``get_all``
    for a repeated one)."""
    return st.context.headers


def peer_address() -> str:
    """The address of the connection's other end. Streamlit reports a loopback peer (127.0.0.1,
    ::1) as None; anything else that is not an address is unknown (""), which no list trusts."""
    address = st.context.ip_address
    if address is None:
        return "127.0.0.1"
    return address if isinstance(address, str) else ""


def client_address(config: AuthSettings) -> str:
    """This session's visitor address (``client_of`` its request)."""
    return client_of(request_headers(), peer_address(), config)


def client_of(headers, peer: str, config: AuthSettings) -> str:
    """The visitor's address for the audit: the trusted proxy's ``client_header`` when the peer
    is that proxy and names it once, else the peer."""
    if trusted_peer(peer, config):
        named = _all(headers, config.client_header)
        if len(named) == 1 and named[0].strip():
            return named[0].strip()[:64]
    return peer


def _refuse(reason: str, email: str | None, message: str) -> None:
    _record("access_refused", {"user": email or "unknown", "reason": reason, **place()}, warning=True)
    st.error(message, icon=":material/lock:")


def account(principal: Principal) -> None:
    """Who is signed in, with their role, and the way out (sidebar)."""
    if principal.via == "anonymous":
        return
    with st.sidebar:
        st.caption(t("auth.signed_in_as", email=fmt.md_text(principal.email), role=t(f"auth.role.{principal.role}")))
        if principal.via == "oidc":
            if st.button(t("auth.sign_out"), key="auth_sign_out", icon=":material/logout:"):
                sessions.revoke(st.user.to_dict())  # a copy of the cookie saved before is worth nothing now
                audit("sign_out", principal)
                st.session_state.pop(_SIGNED_IN_KEY, None)
                st.logout()
        else:
            sign_out = settings(is_demo=False).sign_out_url
            if sign_out:
                st.link_button(t("auth.sign_out"), sign_out, icon=":material/logout:")


def refused_page(page_title_key: str, action: str):
    """A page in place of one the role lacks: a direct URL to it says so, and nothing is read."""

    def refused() -> None:
        principal = current()
        audit("page_refused", principal, page=page_title_key.removeprefix("page."))
        st.title(t(page_title_key))
        st.error(t("auth.page_refused", role=t(f"auth.role.{principal.role}"),
                   needed=t(f"auth.role.{LEAST_ROLE[action]}")), icon=":material/lock:")

    return refused


def shown_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``user_id`` column masked unless the session's role may see ids (the
    same stable salted hash as the export's mask). Without a usable salt the ids are blanked."""
    if "user_id" not in frame.columns or current().may("user_ids"):
        return frame
    from data_access import export

    try:
        salt = export.mask_salt()
    except export.ExportError:
        return frame.assign(user_id=None)
    return frame.assign(user_id=frame["user_id"].map(lambda v: export.mask(v, salt)))
