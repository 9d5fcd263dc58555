"""The Eddystone GATT Configuration Service: UUIDs, lock states and the unlock token.

Both the driver (``beacons/ble.py``) and the simulated beacons (``hw_sim/ble``) use
these definitions, so they agree with each other and with the specification
(github.com/google/eddystone, "Eddystone Configuration GATT Service").
"""

from __future__ import annotations

import enum

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SERVICE = "a3c87500-8ed3-4bdf-8a39-a01bebede295"


def _characteristic(number: int) -> str:
    return f"a3c875{number:02x}-8ed3-4bdf-8a39-a01bebede295"


CAPABILITIES = _characteristic(0x01)
ACTIVE_SLOT = _characteristic(0x02)
ADVERTISING_INTERVAL = _characteristic(0x03)  # uint16 big-endian, milliseconds
RADIO_TX_POWER = _characteristic(0x04)  # int8, dBm
ADVERTISED_TX_POWER = _characteristic(0x05)  # int8, dBm at 0 m
LOCK_STATE = _characteristic(0x06)
UNLOCK = _characteristic(0x07)  # read: 16-byte challenge; write: AES-128(key, challenge)
PUBLIC_ECDH_KEY = _characteristic(0x08)
EID_IDENTITY_KEY = _characteristic(0x09)
ADV_SLOT_DATA = _characteristic(0x0A)
FACTORY_RESET = _characteristic(0x0B)
REMAIN_CONNECTABLE = _characteristic(0x0C)

ALL_CHARACTERISTICS = tuple(_characteristic(n) for n in range(0x01, 0x0D))

# Readable and writable while the beacon is locked; everything else needs an unlock.
OPEN_WHEN_LOCKED = frozenset({CAPABILITIES, LOCK_STATE, UNLOCK})

KEY_LENGTH = 16


class LockState(enum.IntEnum):
    """Values of the Lock State characteristic (read)."""

    LOCKED = 0x00
    UNLOCKED = 0x01
    UNLOCKED_AUTO_RELOCK_DISABLED = 0x02


def unlock_token(key: bytes, challenge: bytes) -> bytes:
    """The unlock token: the 16-byte challenge encrypted with AES-128-ECB under ``key``."""
    if len(key) != KEY_LENGTH or len(challenge) != KEY_LENGTH:
        raise ValueError("the lock key and the challenge are 16 bytes each")
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(challenge) + encryptor.finalize()


def parse_lock_key(text: str) -> bytes:
    """A lock key from its 32 hex digits; raises ValueError saying what is wrong."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ValueError("a lock key is 32 hexadecimal digits") from None
    if len(key) != KEY_LENGTH:
        raise ValueError(f"a lock key is 16 bytes (32 hex digits), not {len(key)}")
    return key
