"""Beacon frames: Eddystone-URL, Eddystone-UID, Eddystone-TLM and iBeacon, both ways.

Eddystone frames are the service data that follows the 16-bit service UUID 0xFEAA in an
advertisement (the first byte is the frame type). iBeacon is the manufacturer-specific
data that follows Apple's company id 0x004C. Layouts follow Google's Eddystone
protocol specification and Apple's iBeacon specification; every multi-byte number is
big-endian except where the spec says otherwise.
"""

from __future__ import annotations

import struct
import uuid as uuid_module
from dataclasses import dataclass

EDDYSTONE_SERVICE_UUID = 0xFEAA
APPLE_COMPANY_ID = 0x004C

FRAME_UID = 0x00
FRAME_URL = 0x10
FRAME_TLM = 0x20

URL_MAX_ENCODED = 17  # bytes of scheme-encoded URL an Eddystone-URL frame can carry

URL_SCHEMES = ("http://www.", "https://www.", "http://", "https://")
URL_EXPANSIONS = (
    ".com/",
    ".org/",
    ".edu/",
    ".net/",
    ".info/",
    ".biz/",
    ".gov/",
    ".com",
    ".org",
    ".edu",
    ".net",
    ".info",
    ".biz",
    ".gov",
)

IBEACON_TYPE = b"\x02\x15"  # iBeacon indicator and length of what follows (21 bytes)


class FrameError(ValueError):
    """Bytes that are not a valid frame of the expected kind, or content that cannot be one."""


class UrlTooLong(FrameError):
    """The URL does not fit in an Eddystone-URL frame."""

    def __init__(self, url: str, encoded_length: int) -> None:
        self.url = url
        self.encoded_length = encoded_length
        self.excess = encoded_length - URL_MAX_ENCODED
        super().__init__(
            f"URL {url!r} is {self.excess} byte{'s' if self.excess != 1 else ''} too long for "
            f"an Eddystone-URL frame (it encodes to {encoded_length} bytes; the limit is "
            f"{URL_MAX_ENCODED}); use a shorter link or a beacon in 'id' mode"
        )


def _tx_power(value: int) -> int:
    if not -100 <= value <= 20:
        raise FrameError(f"tx power {value} dBm is outside -100..20")
    return value & 0xFF


def _signed(byte: int) -> int:
    return byte - 256 if byte > 127 else byte


# -- Eddystone-URL ------------------------------------------------------------------------


def encode_url(url: str) -> bytes:
    """The scheme prefix byte and the expansion-encoded rest of ``url`` (no length check)."""
    for code, scheme in enumerate(URL_SCHEMES):
        if url.startswith(scheme):
            prefix, rest = code, url[len(scheme) :]
            break
    else:
        raise FrameError(f"URL {url!r} must start with http:// or https://")
    encoded = bytearray([prefix])
    position = 0
    while position < len(rest):
        for expansion_code, expansion in enumerate(URL_EXPANSIONS):
            if rest.startswith(expansion, position):
                encoded.append(expansion_code)
                position += len(expansion)
                break
        else:
            char = rest[position]
            if not (0x21 <= ord(char) <= 0x7E):
                raise FrameError(
                    f"URL {url!r} has {char!r} at position {len(url) - len(rest) + position}; "
                    "only printable ASCII fits in a frame (percent-encode it)"
                )
            encoded.append(ord(char))
            position += 1
    return bytes(encoded)


def decode_url(encoded: bytes) -> str:
    """The URL from a scheme byte and expansion-encoded text."""
    if not encoded:
        raise FrameError("an Eddystone-URL needs at least the scheme byte")
    if encoded[0] >= len(URL_SCHEMES):
        raise FrameError(f"unknown URL scheme code 0x{encoded[0]:02x}")
    parts = [URL_SCHEMES[encoded[0]]]
    for byte in encoded[1:]:
        if byte < len(URL_EXPANSIONS):
            parts.append(URL_EXPANSIONS[byte])
        elif 0x21 <= byte <= 0x7E:
            parts.append(chr(byte))
        else:
            raise FrameError(f"byte 0x{byte:02x} is neither an expansion code nor a URL character")
    return "".join(parts)


def encode_eddystone_url(url: str, tx_power: int = -20) -> bytes:
    """Service data of an Eddystone-URL frame: 0x10, tx power at 0 m, encoded URL.

    Raises :class:`UrlTooLong` (saying by how many bytes) or :class:`FrameError`.
    """
    encoded = encode_url(url)
    if len(encoded) - 1 > URL_MAX_ENCODED:
        raise UrlTooLong(url, len(encoded) - 1)
    return bytes([FRAME_URL, _tx_power(tx_power)]) + encoded


def decode_eddystone_url(data: bytes) -> str:
    """The URL in an Eddystone-URL frame's service data."""
    if len(data) < 3 or data[0] != FRAME_URL:
        raise FrameError("not an Eddystone-URL frame (type 0x10, at least 3 bytes)")
    if len(data) - 3 > URL_MAX_ENCODED:
        raise FrameError(f"Eddystone-URL frame is {len(data)} bytes; at most 20 are allowed")
    return decode_url(data[2:])


def eddystone_url_tx_power(data: bytes) -> int:
    """The calibrated tx power (dBm at 0 m) of an Eddystone-URL or -UID frame."""
    if len(data) < 2:
        raise FrameError("frame too short for a tx power")
    return _signed(data[1])


# -- Eddystone-UID ------------------------------------------------------------------------


@dataclass(frozen=True)
class EddystoneUid:
    """A 10-byte namespace and a 6-byte instance, plus the calibrated tx power."""

    namespace: bytes
    instance: bytes
    tx_power: int = -20

    @property
    def id(self) -> str:
        """``namespace-instance`` in lower-case hex, as staff and the feed show it."""
        return f"{self.namespace.hex()}-{self.instance.hex()}"


def encode_eddystone_uid(namespace: bytes, instance: bytes, tx_power: int = -20) -> bytes:
    """Service data of an Eddystone-UID frame (0x00, tx power, namespace, instance, RFU)."""
    if len(namespace) != 10:
        raise FrameError(f"an Eddystone-UID namespace is 10 bytes, not {len(namespace)}")
    if len(instance) != 6:
        raise FrameError(f"an Eddystone-UID instance is 6 bytes, not {len(instance)}")
    return bytes([FRAME_UID, _tx_power(tx_power)]) + namespace + instance + b"\x00\x00"


def decode_eddystone_uid(data: bytes) -> EddystoneUid:
    """The id in an Eddystone-UID frame (the two reserved bytes may be absent)."""
    if len(data) not in (18, 20) or data[0] != FRAME_UID:
        raise FrameError("not an Eddystone-UID frame (type 0x00, 18 or 20 bytes)")
    return EddystoneUid(bytes(data[2:12]), bytes(data[12:18]), _signed(data[1]))


# -- Eddystone-TLM ------------------------------------------------------------------------


@dataclass(frozen=True)
class EddystoneTlm:
    """Unencrypted telemetry: battery, temperature, counters."""

    battery_mv: int | None  # None: the beacon has no battery reading (0 on the air)
    temperature_c: float | None  # None: not supported (0x8000 on the air)
    adv_count: int
    uptime_s: float  # the frame counts tenths of a second since power-up

    @property
    def battery_percent(self) -> int | None:
        """A rough charge estimate for a 3 V lithium cell (2.2 V empty, 3.0 V full)."""
        if self.battery_mv is None:
            return None
        return max(0, min(100, round((self.battery_mv - 2200) / 8)))


def encode_eddystone_tlm(
    battery_mv: int | None, temperature_c: float | None, adv_count: int, uptime_s: float
) -> bytes:
    """Service data of an unencrypted Eddystone-TLM frame (version 0)."""
    battery = battery_mv or 0
    if not 0 <= battery <= 0xFFFF:
        raise FrameError(f"battery {battery} mV does not fit in 16 bits")
    if temperature_c is None:
        temperature = 0x8000
    else:
        # 8.8 fixed point; -128.0 would be 0x8000, which a TLM frame reserves for
        # "not supported".
        if not -128 < temperature_c < 128:
            raise FrameError(
                f"temperature {temperature_c} °C is outside what TLM carries (-128..128)"
            )
        temperature = round(temperature_c * 256) & 0xFFFF
    tenths = round(uptime_s * 10)
    if not (0 <= adv_count <= 0xFFFFFFFF and 0 <= tenths <= 0xFFFFFFFF):
        raise FrameError("TLM counters must fit in 32 bits")
    return struct.pack(">BBHHII", FRAME_TLM, 0x00, battery, temperature, adv_count, tenths)


def decode_eddystone_tlm(data: bytes) -> EddystoneTlm:
    """Battery voltage, temperature (8.8 fixed point) and counters of a TLM frame."""
    if len(data) != 14 or data[0] != FRAME_TLM:
        raise FrameError("not an Eddystone-TLM frame (type 0x20, 14 bytes)")
    if data[1] != 0x00:
        raise FrameError(f"TLM version 0x{data[1]:02x} is encrypted or unknown")
    _, _, battery, temperature, adv_count, tenths = struct.unpack(">BBHHII", data)
    return EddystoneTlm(
        battery_mv=battery or None,
        temperature_c=None if temperature == 0x8000 else _signed16(temperature) / 256,
        adv_count=adv_count,
        uptime_s=tenths / 10,
    )


def _signed16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


# -- iBeacon ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IBeacon:
    """An iBeacon id and its measured power (RSSI at 1 m)."""

    uuid: uuid_module.UUID
    major: int
    minor: int
    measured_power: int


def encode_ibeacon(
    uuid: uuid_module.UUID | str, major: int, minor: int, measured_power: int = -59
) -> bytes:
    """Manufacturer data after Apple's company id: 0x02 0x15, UUID, major, minor, power."""
    proximity = uuid if isinstance(uuid, uuid_module.UUID) else uuid_module.UUID(uuid)
    for name, value in (("major", major), ("minor", minor)):
        if not 0 <= value <= 0xFFFF:
            raise FrameError(f"iBeacon {name} {value} is outside 0..65535")
    if not -128 <= measured_power <= 127:
        raise FrameError(f"measured power {measured_power} dBm does not fit in a signed byte")
    return IBEACON_TYPE + proximity.bytes + struct.pack(">HHb", major, minor, measured_power)


def decode_ibeacon(data: bytes) -> IBeacon:
    """The id in iBeacon manufacturer data (after the company id)."""
    if len(data) != 23 or data[:2] != IBEACON_TYPE:
        raise FrameError("not iBeacon data (0x02 0x15 and 21 bytes)")
    major, minor, power = struct.unpack(">HHb", data[18:23])
    return IBeacon(uuid_module.UUID(bytes=bytes(data[2:18])), major, minor, power)


# -- any frame ----------------------------------------------------------------------------

Frame = str | EddystoneUid | EddystoneTlm | IBeacon


def decode_eddystone(data: bytes) -> Frame:
    """Decode Eddystone service data of any supported frame type."""
    if not data:
        raise FrameError("empty Eddystone service data")
    if data[0] == FRAME_URL:
        return decode_eddystone_url(data)
    if data[0] == FRAME_UID:
        return decode_eddystone_uid(data)
    if data[0] == FRAME_TLM:
        return decode_eddystone_tlm(data)
    raise FrameError(f"unsupported Eddystone frame type 0x{data[0]:02x}")
