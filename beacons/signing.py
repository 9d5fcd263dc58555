"""Signed content: a display shows only what Onthaal itself published.

Broker accounts decide who may publish on a display's topic; a signature lets the
display itself check that the content came from Onthaal, whatever the broker let
through (a misconfigured ACL, another privileged client). Ed25519 (``cryptography``):

- the signed bytes are the payload's *canonical* JSON without its ``signature`` field:
  keys sorted, no spaces (``separators=(",", ":")``), UTF-8, not ASCII-escaped;
- ``signature`` is that signature, base64url without padding;
- the site's public key is 32 raw bytes, shared the same way (base64url).

Any player can do the same in a few lines (docs/signage-protocol.md).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)


class Unsigned(ValueError):
    """A payload without a valid signature of the site's key."""


def canonical(payload: dict[str, Any]) -> bytes:
    """The bytes that are signed: ``payload`` without ``signature``, canonical JSON."""
    body = {k: v for k, v in payload.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs payloads with the site's private key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        """Sign with ``key``."""
        self._key = key

    @classmethod
    def load_or_create(cls, path: Path) -> Signer:
        """The key in ``path`` (raw 32 bytes, 0600), made once if there is none."""
        if path.exists():
            key = Ed25519PrivateKey.from_private_bytes(path.read_bytes())
            path.chmod(0o600)
            return cls(key)
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(raw)
        return cls(key)

    @property
    def public_key(self) -> str:
        """The public key displays verify with (base64url of 32 raw bytes)."""
        return _b64(self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, payload: bytes) -> bytes:
        """``payload`` (a JSON object) with its ``signature`` field added."""
        data = json.loads(payload)
        data["signature"] = _b64(self._key.sign(canonical(data)))
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class Verifier:
    """Checks payloads against the site's public key."""

    def __init__(self, public_key: str) -> None:
        """Verify with ``public_key`` (base64url, as :attr:`Signer.public_key`)."""
        self._key = Ed25519PublicKey.from_public_bytes(_unb64(public_key))

    def verify(self, payload: bytes) -> dict[str, Any]:
        """The payload's JSON object if its signature holds; raises :class:`Unsigned`."""
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise Unsigned(f"not JSON: {exc}") from None
        signature = data.get("signature") if isinstance(data, dict) else None
        if not isinstance(signature, str):
            raise Unsigned("no signature")
        try:
            self._key.verify(_unb64(signature), canonical(data))
        except (InvalidSignature, ValueError):
            raise Unsigned("the signature does not match the site's key") from None
        checked: dict[str, Any] = data
        return checked
