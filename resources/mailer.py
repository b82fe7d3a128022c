"""Sending report summaries by e-mail through SMTP, configured from the environment.

E-mail is optional: with no SMTP host configured, nothing is sent and nothing fails. Each field
left empty is read from its environment variable (``dg.EnvVar``) when a run sends mail, never at
import time, so the Dagster UI shows variable names rather than values. The password is never
logged, never part of metadata or ``repr``, and never sent over an unencrypted connection unless
``security`` is explicitly ``none`` (for a relay on localhost).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import dagster as dg
from pydantic import Field

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}

ENV = {
    "host": "SEVENSTEP_SMTP_HOST",
    "port": "SEVENSTEP_SMTP_PORT",
    "security": "SEVENSTEP_SMTP_SECURITY",
    "username": "SEVENSTEP_SMTP_USER",
    "password": "SEVENSTEP_SMTP_PASSWORD",
    "sender": "SEVENSTEP_MAIL_FROM",
    "recipients": "SEVENSTEP_MAIL_TO",
}


class MailConfigError(ValueError):
    """The SMTP settings are incomplete or contradictory (the message names the variable)."""


@dataclass(frozen=True)
class SmtpSettings:
    """Resolved settings of one delivery; the password is left out of ``repr``."""

    host: str
    port: int
    security: str
    sender: str
    recipients: tuple[str, ...]
    username: str | None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0


@dataclass(frozen=True)
class Attachment:
    file_name: str
    content: bytes
    maintype: str = "text"
    subtype: str = "html"


class Mailer(dg.ConfigurableResource):
    """SMTP delivery of report summaries. Empty fields fall back to SEVENSTEP_SMTP_* and
    SEVENSTEP_MAIL_* environment variables; with no host at all, mail is switched off."""

    host: str | None = Field(default=None, description="SMTP server. Empty: $SEVENSTEP_SMTP_HOST "
                             "(unset: no e-mail is sent).")
    port: int | None = Field(default=None, description="Empty: $SEVENSTEP_SMTP_PORT, else 587 "
                             "(starttls), 465 (ssl) or 25 (none).")
    security: str | None = Field(default=None, description="starttls, ssl or none. Empty: "
                                 "$SEVENSTEP_SMTP_SECURITY, else starttls.")
    username: str | None = Field(default=None, description="Empty: $SEVENSTEP_SMTP_USER; unset: "
                                 "no login.")
    password: str | None = Field(default=None, repr=False, description="Set only as "
                                 "dg.EnvVar(...). Empty: $SEVENSTEP_SMTP_PASSWORD.")
    sender: str | None = Field(default=None, description="From address. Empty: "
                               "$SEVENSTEP_MAIL_FROM.")
    recipients: str | None = Field(default=None, description="Comma-separated To addresses. "
                                   "Empty: $SEVENSTEP_MAIL_TO.")
    timeout: float = Field(default=30.0, description="Seconds to wait for the SMTP server.")

    def __repr__(self) -> str:
        return f"Mailer(host={self.host!r}, sender={self.sender!r})"

    def _value(self, name: str) -> str | None:
        """The configured value (an EnvVar is read now), else the default environment variable."""
        configured = getattr(self, name)
        if isinstance(configured, dg.EnvVar):
            value = configured.get_value()
        elif configured not in (None, ""):
            return str(configured)
        else:
            value = dg.EnvVar(ENV[name]).get_value()
        return value.strip() if value and value.strip() else None

    def settings(self) -> SmtpSettings | None:
        """The delivery settings, or None when no SMTP host is configured (mail is off)."""
        host = self._value("host")
        if host is None:
            return None
        security = (self._value("security") or "starttls").lower()
        if security not in SECURITY:
            raise MailConfigError(
                f"{ENV['security']} must be one of {', '.join(SECURITY)}, got {security!r}")
        port_text = self._value("port")
        try:
            port = int(port_text) if port_text else DEFAULT_PORTS[security]
        except ValueError:
            raise MailConfigError(
                f"{ENV['port']} must be a port number, got {port_text!r}") from None
        sender = self._value("sender")
        recipients = tuple(
            r.strip() for r in (self._value("recipients") or "").split(",") if r.strip())
        if not sender or not recipients:
            raise MailConfigError(
                f"{ENV['host']} is set, so e-mail is on: set {ENV['sender']} (From) and "
                f"{ENV['recipients']} (comma-separated To addresses) too")
        username, password = self._value("username"), self._value("password")
        if password and not username:
            raise MailConfigError(f"{ENV['password']} is set without {ENV['username']}")
        return SmtpSettings(host, port, security, sender, recipients, username, password,
                            self.timeout)

    def send(self, subject: str, body: str, attachments: tuple[Attachment, ...] = ()) -> str:
        """Send one message to every recipient; returns its Message-ID.

        Raises MailConfigError when mail is off or misconfigured, and smtplib's errors (which
        carry the server's reply, never the password) when delivery fails.
        """
        settings = self.settings()
        if settings is None:
            raise MailConfigError(f"e-mail is off: {ENV['host']} is not set")
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = settings.sender
        message["To"] = ", ".join(settings.recipients)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
        message.set_content(body)
        for item in attachments:
            message.add_attachment(item.content, maintype=item.maintype, subtype=item.subtype,
                                   filename=item.file_name)
        context = ssl.create_default_context()
        smtp_class = smtplib.SMTP_SSL if settings.security == "ssl" else smtplib.SMTP
        extra = {"context": context} if settings.security == "ssl" else {}
        with smtp_class(settings.host, settings.port, timeout=settings.timeout, **extra) as smtp:
            if settings.security == "starttls":
                smtp.starttls(context=context)
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            smtp.send_message(message)
        return str(message["Message-ID"])
