"""MQTT 3.1.1 section 3.1 (CONNECT) and 3.2 (CONNACK): just enough to vet a client.

The embedded broker reads a client's CONNECT itself before amqtt sees it, so that a
client is checked (credentials, client id) before anything of its can touch another
client's session (see ``hw_sim.mqtt_broker``). Only what the check needs is decoded;
the bytes are handed on to amqtt unchanged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

CONNECT = 0x10
MAX_CONNECT = 256 * 1024  # bytes; a display's CONNECT (with its last will) is < 1 KiB

# CONNACK return codes (3.2.2.3)
UNACCEPTABLE_PROTOCOL = 1
IDENTIFIER_REJECTED = 2
NOT_AUTHORIZED = 5


class BadConnect(ValueError):
    """The first packet is not a CONNECT this broker can read."""

    def __init__(self, reason: str, code: int = UNACCEPTABLE_PROTOCOL) -> None:
        """``reason`` for the log; ``code`` for the CONNACK that refuses it."""
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class Connect:
    """What a CONNECT says about who connects, and its raw bytes."""

    client_id: str
    username: str | None
    password: bytes | None
    clean_session: bool
    raw: bytes


async def read_connect(reader: asyncio.StreamReader) -> Connect:
    """Read the first packet from ``reader``; :class:`BadConnect` unless a CONNECT.

    Raises ``asyncio.IncompleteReadError`` if the client goes away first.
    """
    head = await reader.readexactly(1)
    if head[0] != CONNECT:
        raise BadConnect(f"first packet is type {head[0] >> 4}, not CONNECT")
    length_bytes = b""
    length, shift = 0, 0
    while True:  # 2.2.3: at most four bytes of 7 bits each
        byte = await reader.readexactly(1)
        length_bytes += byte
        length |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            break
        shift += 7
        if shift > 21:
            raise BadConnect("malformed remaining length")
    if length > MAX_CONNECT:
        raise BadConnect(f"CONNECT of {length} bytes (at most {MAX_CONNECT})")
    body = await reader.readexactly(length)
    connect = parse_connect(body)
    return Connect(
        connect.client_id,
        connect.username,
        connect.password,
        connect.clean_session,
        head + length_bytes + body,
    )


def parse_connect(body: bytes) -> Connect:
    """The fields of a CONNECT's variable header and payload (without the fixed header)."""
    cursor = _Cursor(body)
    protocol = cursor.string()
    level = cursor.byte()
    if (protocol, level) not in (("MQTT", 4), ("MQIsdp", 3)):
        raise BadConnect(f"protocol {protocol!r} level {level} (this broker speaks 3.1.1)")
    flags = cursor.byte()
    if flags & 0x01:
        raise BadConnect("reserved connect flag set")
    cursor.take(2)  # keep alive
    client_id = cursor.string()
    if flags & 0x04:  # will flag: will topic and will message
        cursor.string()
        cursor.binary()
    username = cursor.string() if flags & 0x80 else None
    password = cursor.binary() if flags & 0x40 else None
    return Connect(client_id, username, password, bool(flags & 0x02), b"")


def connack(code: int) -> bytes:
    """A CONNACK refusing (or, with 0, accepting) a connection; no session present."""
    return bytes((0x20, 2, 0, code))


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def take(self, count: int) -> bytes:
        if self._at + count > len(self._data):
            raise BadConnect("CONNECT ends early")
        chunk = self._data[self._at : self._at + count]
        self._at += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def binary(self) -> bytes:
        return self.take(int.from_bytes(self.take(2), "big"))

    def string(self) -> str:
        try:
            return self.binary().decode("utf-8")
        except UnicodeDecodeError:
            raise BadConnect("a CONNECT string is not UTF-8") from None
