"""Where alerts go: e-mail (SMTP) and a webhook (signed JSON). Blocking; run in threads.

Both are bounded (:data:`TIMEOUT` real seconds per attempt) and fail with
:class:`ChannelError` naming what went wrong, so the fleet watcher records it and tries
again later. Secrets come from the environment variables the config names, never from
the config file itself.

The webhook body is JSON; ``X-Onthaal-Signature: sha256=<hex>`` is HMAC-SHA256 with the
site's secret over ``<X-Onthaal-Timestamp>.<body>`` (Unix seconds, real time), so a
receiver checks both who sent it and that it is fresh (docs/alerts.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Any, Protocol

from onthaal.config import EmailConfig, WebhookConfig

TIMEOUT = 10.0  # real seconds one delivery attempt may take


class ChannelError(Exception):
    """A channel did not take the alert (the reason says why)."""


class Channel(Protocol):
    """One way of telling people."""

    name: str

    def send(self, subject: str, body: str, payload: Mapping[str, Any]) -> None:
        """Deliver one alert (raises :class:`ChannelError`)."""
        ...


class EmailChannel:
    """Alerts by e-mail through the site's SMTP server."""

    name = "email"

    def __init__(self, config: EmailConfig, env: Mapping[str, str] = os.environ) -> None:
        """Send through ``config`` (login and password from the named variables)."""
        self._config = config
        self._username = env.get(config.username_env, "") if config.username_env else ""
        self._password = env.get(config.password_env, "") if config.password_env else ""

    def send(self, subject: str, body: str, payload: Mapping[str, Any]) -> None:
        """Send ``subject``/``body`` to every recipient."""
        config = self._config
        message = EmailMessage()
        message["From"] = config.sender
        message["To"] = ", ".join(config.to)
        message["Subject"] = subject
        message.set_content(body)
        context = ssl.create_default_context()
        try:
            if config.security == "tls":
                server: smtplib.SMTP = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=TIMEOUT, context=context
                )
            else:
                server = smtplib.SMTP(config.host, config.port, timeout=TIMEOUT)
            with server:
                if config.security == "starttls":
                    server.starttls(context=context)
                if self._username:
                    server.login(self._username, self._password)
                server.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"SMTP {config.host}:{config.port}: {exc}") from exc


class WebhookChannel:
    """Alerts as a signed JSON POST."""

    name = "webhook"

    def __init__(
        self,
        config: WebhookConfig,
        env: Mapping[str, str] = os.environ,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """POST to ``config.url``, signing with the secret in ``config.secret_env``."""
        self._url = config.url
        self._secret = (env.get(config.secret_env, "") if config.secret_env else "").encode()
        self._wall = wall  # real time: the receiver checks freshness against its own clock

    def send(self, subject: str, body: str, payload: Mapping[str, Any]) -> None:
        """POST ``payload`` (with ``subject`` and ``text``); any 2xx is success."""
        data = json.dumps({**payload, "subject": subject, "text": body}, sort_keys=True).encode()
        stamp = str(int(self._wall()))
        headers = {"Content-Type": "application/json", "X-Onthaal-Timestamp": stamp}
        if self._secret:
            digest = hmac.new(self._secret, stamp.encode() + b"." + data, hashlib.sha256)
            headers["X-Onthaal-Signature"] = f"sha256={digest.hexdigest()}"
        request = urllib.request.Request(self._url, data=data, headers=headers, method="POST")
        try:
            # The site's own URL, checked to be http(s) by the config.
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise ChannelError(f"webhook {self._url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ChannelError(f"webhook {self._url}: {exc}") from exc
        if not 200 <= status < 300:
            raise ChannelError(f"webhook {self._url}: HTTP {status}")


def signature_ok(secret: bytes, stamp: str, body: bytes, header: str) -> bool:
    """Whether ``header`` is the webhook signature of ``body`` at ``stamp`` (receivers)."""
    expected = hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header, f"sha256={expected}")


def channels_of(email: EmailConfig, webhook: WebhookConfig) -> list[Channel]:
    """The channels the config sets up (none: alerts are only recorded and shown)."""
    found: list[Channel] = []
    if email.host:
        found.append(EmailChannel(email))
    if webhook.url:
        found.append(WebhookChannel(webhook))
    return found
