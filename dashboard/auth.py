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

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from data_access import logs
from data_access.filters import Filters
from dashboard import format as fmt
from dashboard.i18n import t

ROLES = ("viewer", "analyst", "admin")  # each has what the one before has, and more
# The least role that may do each thing. Checked where the data leaves: the router, the table and
# export downloads, the import, the debug panel.
LEAST_ROLE = {"user_ids": "analyst", "export": "analyst", "import": "admin", "debug": "admin"}
MODES = ("oidc", "proxy", "none")
DEFAULT_ROLE_MAP = {role: role for role in ROLES}
_PRINCIPAL_KEY = "_principal"
_SIGNED_IN_KEY = "_audited_sign_in"


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
    anonymous_role: str = "admin"
    user_header: str = "X-Forwarded-Email"
    groups_header: str = "X-Forwarded-Groups"
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


def settings_from(secrets: Mapping, env: Mapping[str, str], *, is_demo: bool) -> AuthSettings:
    """The sign-in settings from Streamlit's secrets (``[auth]``, ``[easyflow.auth]``) and the
    environment (``EASYFLOW_AUTH`` wins over ``[easyflow.auth] mode``).

    Returns the settings; raises ``AuthConfigError`` for a mode or role that does not exist, or
    ``oidc`` asked for without an ``[auth]`` section."""
    auth_section = secrets.get("auth") or {}
    ours = dict((secrets.get("easyflow") or {}).get("auth") or {})
    mode = (env.get("EASYFLOW_AUTH") or ours.get("mode") or "").strip().lower()
    if mode and mode not in MODES:
        raise AuthConfigError(f"EASYFLOW_AUTH must be one of {', '.join(MODES)} (got {mode[:40]!r})")
    if not mode:
        mode = "oidc" if auth_section else ("demo" if is_demo else "locked")
    if mode == "oidc" and not auth_section:
        raise AuthConfigError("sign-in with OIDC needs an [auth] section in .streamlit/secrets.toml")
    role_map = dict(DEFAULT_ROLE_MAP)
    for value, role in dict(ours.get("roles") or {}).items():
        role_map[str(value)] = _role(role, f"[easyflow.auth.roles] {value!r}")
    provider = ours.get("provider")
    if mode == "oidc" and not provider and "client_id" not in auth_section:
        named = [name for name, value in auth_section.items() if isinstance(value, Mapping)]
        provider = named[0] if len(named) == 1 else None
    return AuthSettings(
        mode=mode, roles_claim=str(ours.get("roles_claim") or "roles"), role_map=role_map,
        default_role=_role(ours.get("default_role"), "[easyflow.auth] default_role"),
        anonymous_role=_role(env.get("EASYFLOW_ANONYMOUS_ROLE") or ours.get("anonymous_role") or "admin",
                             "EASYFLOW_ANONYMOUS_ROLE") or "admin",
        user_header=str(ours.get("user_header") or "X-Forwarded-Email"),
        groups_header=str(ours.get("groups_header") or "X-Forwarded-Groups"),
        provider=str(provider) if provider else None, sign_out_url=ours.get("sign_out_url") or None)


def claim_values(raw) -> list[str]:
    """A claim or header as a list of values: a list as is; a text split on commas and spaces."""
    if raw is None:
        return []
    if isinstance(raw, (list, tuple, set)):
        return [str(v).strip() for v in raw if str(v).strip()]
    return [part for part in str(raw).replace(",", " ").split() if part]


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


def principal_from_headers(headers: Mapping[str, str], settings: AuthSettings) -> tuple[str | None, Principal | None]:
    """The user the proxy names in its headers: ``(email, principal)``; ``(None, None)`` when
    the user header is missing, ``(email, None)`` when no group maps to a role."""
    email = (headers.get(settings.user_header) or "").strip()
    if not email:
        return None, None
    role = role_for(claim_values(headers.get(settings.groups_header)), settings)
    return email, (Principal(email, role, "proxy") if role else None)


# --- the audit trail --------------------------------------------------------------------------------

def audit(event: str, principal: Principal | None, **details) -> None:
    """One audit line (structlog JSON, logger ``easyflow.audit``): who did ``event`` and its
    details. Never a secret: details are names, counts and filters."""
    who = principal or Principal(None, "viewer", "anonymous")
    logs.get("easyflow.audit").info(event, audit=True, user=who.who, role=who.role, via=who.via, **details)


def audited_download(make: Callable[[], bytes], event: str, **details) -> Callable[[], bytes]:
    """``make`` (a download button's callable) wrapped to write an audit line, as this session's
    principal, when the file is made."""
    principal = current()

    def download() -> bytes:
        content = make()
        audit(event, principal, bytes=len(content), **details)
        return content

    return download


def filters_for_audit(filters: Filters) -> dict:
    return {"start": filters.start.isoformat(), "end": filters.end.isoformat(), "tz": filters.tz,
            "platforms": list(filters.platforms), "intents": list(filters.intents), "models": list(filters.models)}


# --- in a Streamlit run -----------------------------------------------------------------------------

def current() -> Principal:
    """This session's principal, set by the entry point; an anonymous viewer outside it (the
    least role, so a page run without the entry point shows no more than a viewer's)."""
    return st.session_state.get(_PRINCIPAL_KEY) or Principal(None, "viewer", "anonymous")


def _secrets() -> Mapping:
    try:
        return st.secrets.to_dict()
    except Exception:  # no secrets file at all: Streamlit raises FileNotFoundError
        return {}


def settings(*, is_demo: bool) -> AuthSettings:
    return settings_from(_secrets(), os.environ, is_demo=is_demo)


def gate(*, is_demo: bool) -> Principal | None:
    """Identify the visitor. Returns the principal, or None after drawing the page that says why
    they go no further (sign in, no role, no proxy user, nothing configured, bad settings)."""
    try:
        config = settings(is_demo=is_demo)
    except AuthConfigError as error:
        logs.get("easyflow.auth").error("auth_config_error", problem=str(error))
        st.error(t("auth.config_error", problem=str(error)), icon=":material/lock:")
        return None
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
        email, principal = principal_from_headers(request_headers(), config)
        if email is None:
            _refuse("no_proxy_user", None, t("auth.proxy_missing", header=config.user_header))
        elif principal is None:
            _refuse("no_role", email, t("auth.no_role", email=fmt.md_text(email)))
        return principal
    if not st.user.get("is_logged_in"):
        st.title(t("app.title"))
        st.markdown(t("auth.sign_in.body"))
        if st.button(t("auth.sign_in"), type="primary", icon=":material/login:", key="auth_sign_in"):
            st.login(config.provider)
        return None
    principal = principal_from_user(st.user.to_dict(), config)
    if principal is None:
        email = str(st.user.get("email") or st.user.get("sub") or "")
        _refuse("no_role", email, t("auth.no_role", email=fmt.md_text(email)))
        if st.button(t("auth.sign_out"), key="auth_sign_out_refused", icon=":material/logout:"):
            st.logout()
    return principal


def request_headers() -> Mapping[str, str]:
    """The headers of the request that opened this session (case-insensitive names)."""
    return st.context.headers


def _refuse(reason: str, email: str | None, message: str) -> None:
    logs.get("easyflow.audit").warning("access_refused", audit=True, reason=reason, user=email or "unknown")
    st.error(message, icon=":material/lock:")


def account(principal: Principal) -> None:
    """Who is signed in, with their role, and the way out (sidebar)."""
    if principal.via == "anonymous":
        return
    with st.sidebar:
        st.caption(t("auth.signed_in_as", email=fmt.md_text(principal.email), role=t(f"auth.role.{principal.role}")))
        if principal.via == "oidc":
            if st.button(t("auth.sign_out"), key="auth_sign_out", icon=":material/logout:"):
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
