"""Reports by e-mail: the HTML report as the message (tables; mail readers run no scripts), the
same report with its charts as an HTML attachment that opens offline, and the XLSX attached;
sent over SMTP (STARTTLS, SSL or plain, with or without a login).

SMTP settings: ``EASYFLOW_SMTP_HOST``, ``_PORT``, ``_SECURITY`` (``starttls``, ``ssl``, ``none``),
``_USER``, ``_PASSWORD``, ``_FROM`` in the environment, else ``[smtp]`` (host, port, security, user,
password, from) in the secrets file. Every failure is a ``MailError`` of one line, without the
password.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from data_access import reports as rp

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class MailError(RuntimeError):
    """The report could not be mailed (one line: what and why, never a password)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str = "starttls"
    user: str | None = None
    password: str | None = None
    sender: str = "easyflow-reports@localhost"
    timeout: float = 30.0

    @classmethod
    def from_config(cls, env: Mapping[str, str], secrets: Mapping) -> "SmtpSettings":
        """Settings from ``EASYFLOW_SMTP_*`` (first) and ``[smtp]`` in the secrets. Raises
        ``MailError`` without a host, or for a port or security that cannot be."""
        section = dict(secrets.get("smtp") or {})

        def value(name: str) -> str | None:
            found = env.get(f"EASYFLOW_SMTP_{name.upper()}") or section.get(name)
            return str(found).strip() if found not in (None, "") else None

        host = value("host")
        if not host:
            raise MailError("no SMTP server: set EASYFLOW_SMTP_HOST (or [smtp] host in the secrets file)")
        security = (value("security") or "starttls").lower()
        if security not in SECURITY:
            raise MailError(f"EASYFLOW_SMTP_SECURITY must be one of {', '.join(SECURITY)} (got {security[:20]!r})")
        try:
            port = int(value("port") or DEFAULT_PORTS[security])
        except ValueError:
            raise MailError("EASYFLOW_SMTP_PORT must be a number") from None
        if not 0 < port < 65536:
            raise MailError("EASYFLOW_SMTP_PORT must be between 1 and 65535")
        user = value("user")
        return cls(host, port, security, user, value("password"), value("from") or user or cls.sender)


def recipients(text: str) -> list[str]:
    """``a@x,b@y`` as a list of addresses. Raises ``MailError`` for one that is not an address."""
    found = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if any(c in part for c in "\r\n<>,;\"'") or "@" not in part:
            raise MailError(f"not an e-mail address: {part[:60]!r}")
        try:
            Address(addr_spec=part)
        except (ValueError, IndexError):  # HeaderParseError is a ValueError
            raise MailError(f"not an e-mail address: {part[:60]!r}") from None
        found.append(part)
    if not found:
        raise MailError("--mail-to names no address")
    return found


def compose(report: rp.Report, lang: str, sender: str, to: list[str]) -> EmailMessage:
    """The message: subject = the report's title; a plain-text part (Markdown) and an HTML part
    (the report's tables); attached, the full HTML report (charts inline, opens offline) and the
    XLSX."""
    from dashboard import reports as rendering

    message = EmailMessage()
    message["Subject"] = rendering.title(report, lang)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or "localhost")
    message.set_content(rendering.to_markdown(report, lang))
    message.add_alternative(rendering.to_html(report, lang, charts=False), subtype="html")
    message.add_attachment(rendering.render(report, "html", lang), maintype="text", subtype="html",
                           filename=rendering.file_name(report, "html"))
    message.add_attachment(rendering.render(report, "xlsx", lang), maintype="application",
                           subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet", filename=rendering.file_name(report, "xlsx"))
    return message


def send(message: EmailMessage, settings: SmtpSettings) -> None:
    """Send ``message`` through ``settings``' server. Raises ``MailError`` (one line)."""
    context = ssl.create_default_context()
    try:
        if settings.security == "ssl":
            server = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            server = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with server:
            if settings.security == "starttls":
                server.starttls(context=context)
            if settings.user:
                server.login(settings.user, settings.password or "")
            refused = server.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise MailError(f"the SMTP server {settings.host}:{settings.port} refused the login of {settings.user}") from None
    except smtplib.SMTPRecipientsRefused as error:
        raise MailError(f"the SMTP server refused every recipient ({', '.join(error.recipients)})") from None
    except smtplib.SMTPNotSupportedError:
        raise MailError(f"the SMTP server {settings.host}:{settings.port} does not offer STARTTLS; "
                        "set EASYFLOW_SMTP_SECURITY=ssl or none") from None
    except (smtplib.SMTPException, OSError) as error:
        raise MailError(f"cannot send through {settings.host}:{settings.port}: {type(error).__name__}") from None
    if refused:
        raise MailError(f"the SMTP server refused {', '.join(refused)}")
