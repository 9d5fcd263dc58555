"""Pictures for the screens: what is accepted, told from the bytes themselves. Pure.

A screen player renders what it is given, so an upload is judged by its content, not by
its name or the browser's word: PNG or JPEG only (no SVG: it can carry script), at most
:data:`MAX_SIDE` pixels a side (a small file can unpack into gigabytes of pixels), and
named after its own hash so the same picture is stored once and a name says nothing
about who sent it.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

MAX_SIDE = 8192
NAME = re.compile(r"^[0-9a-f]{20}\.(png|jpg)$")
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


class ImageRefused(ValueError):
    """Not a picture a screen may show; the message says why, for staff."""


@dataclass(frozen=True)
class Picture:
    """An accepted picture: its stored name, size in pixels and media type."""

    name: str
    width: int
    height: int

    @property
    def media_type(self) -> str:
        """``image/png`` or ``image/jpeg``."""
        return MEDIA_TYPES[self.name.rsplit(".", 1)[1]]


def check_image(data: bytes, max_bytes: int) -> Picture:
    """Accept ``data`` as a PNG or JPEG picture, or raise :class:`ImageRefused`."""
    if not data:
        raise ImageRefused("the file is empty")
    if len(data) > max_bytes:
        raise ImageRefused(f"the file is {len(data):,} bytes; at most {max_bytes:,}")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        kind, (width, height) = "png", _png_size(data)
    elif data.startswith(b"\xff\xd8\xff"):
        kind, (width, height) = "jpg", _jpeg_size(data)
    else:
        raise ImageRefused("not a PNG or JPEG picture (other kinds, SVG too, are refused)")
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ImageRefused(f"{width} x {height} pixels; at most {MAX_SIDE} a side")
    name = f"{hashlib.sha256(data).hexdigest()[:20]}.{kind}"
    return Picture(name, width, height)


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ImageRefused("a damaged PNG (no IHDR header)")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise ImageRefused("a damaged JPEG (a marker was expected)")
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _SOF:
            if at + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return int(width), int(height)
        if marker == 0xDA or length < 2:
            break  # the image data began without a size: not a JPEG a screen can use
        at += 2 + length
    raise ImageRefused("a damaged JPEG (no frame header with its size)")
