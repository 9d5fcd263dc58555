"""Beacon frames: known vectors from the specs, round trips, and errors that say why."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beacons.frames import (
    URL_SCHEMES,
    FrameError,
    UrlTooLong,
    decode_eddystone,
    decode_eddystone_tlm,
    decode_eddystone_uid,
    decode_eddystone_url,
    decode_ibeacon,
    encode_eddystone_tlm,
    encode_eddystone_uid,
    encode_eddystone_url,
    encode_ibeacon,
    encode_url,
)


def test_eddystone_url_uses_scheme_prefix_and_expansion_codes() -> None:
    # The specification's own example: https://goo.gl/S6zT6P style, and .com/ expansion.
    frame = encode_eddystone_url("https://www.aalter.be/", tx_power=-20)
    assert frame[0] == 0x10 and frame[1] == 0xEC  # -20 dBm as a signed byte
    assert frame[2] == 0x01  # https://www.
    assert frame[3:] == b"aalter.be/"
    assert encode_eddystone_url("http://example.com/x")[2:] == b"\x02example\x00x"
    assert (
        decode_eddystone_url(bytes.fromhex("10ec03616c746572000708"))
        == "https://alter.com/.com.org"
    )


def test_an_over_long_url_is_refused_saying_by_how_many_bytes() -> None:
    url = "https://www.aalter.be/burgerzaken/paspoort"
    with pytest.raises(UrlTooLong) as info:
        encode_eddystone_url(url)
    assert info.value.excess == len(encode_url(url)) - 1 - 17
    assert f"{info.value.excess} bytes too long" in str(info.value)
    assert "limit is 17" in str(info.value)


def test_the_17_byte_limit_is_exact() -> None:
    fits = "https://" + "a" * 17
    assert decode_eddystone_url(encode_eddystone_url(fits)) == fits
    with pytest.raises(UrlTooLong, match="1 byte too long"):
        encode_eddystone_url("https://" + "a" * 18)


@pytest.mark.parametrize(
    ("url", "reason"),
    [("ftp://aalter.be", "must start with http"), ("https://aalter.be/é", "printable ASCII")],
)
def test_urls_that_cannot_be_framed_are_refused(url: str, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        encode_eddystone_url(url)


_url_text = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)


@given(st.sampled_from(URL_SCHEMES), _url_text, st.integers(-100, 20))
def test_eddystone_url_round_trips(scheme: str, rest: str, tx_power: int) -> None:
    url = scheme + rest
    try:
        frame = encode_eddystone_url(url, tx_power)
    except UrlTooLong as too_long:
        assert too_long.excess > 0
        assert len(encode_url(url)) - 1 > 17
        return
    assert len(frame) <= 20
    assert decode_eddystone_url(frame) == url
    assert decode_eddystone(frame) == url


@given(
    st.binary(min_size=10, max_size=10), st.binary(min_size=6, max_size=6), st.integers(-100, 20)
)
def test_eddystone_uid_round_trips(namespace: bytes, instance: bytes, tx_power: int) -> None:
    uid = decode_eddystone_uid(encode_eddystone_uid(namespace, instance, tx_power))
    assert (uid.namespace, uid.instance, uid.tx_power) == (namespace, instance, tx_power)
    assert uid.id == f"{namespace.hex()}-{instance.hex()}"


@given(
    st.integers(1, 0xFFFF) | st.none(),
    st.integers(-128 * 256 + 1, 127 * 256).map(lambda n: n / 256) | st.none(),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF).map(lambda n: n / 10),
)
def test_eddystone_tlm_round_trips(
    battery: int | None, temperature: float | None, count: int, uptime: float
) -> None:
    tlm = decode_eddystone_tlm(encode_eddystone_tlm(battery, temperature, count, uptime))
    assert tlm.battery_mv == battery
    assert tlm.temperature_c == temperature
    assert tlm.adv_count == count
    assert tlm.uptime_s == pytest.approx(uptime)


def test_tlm_decodes_the_spec_layout() -> None:
    # version 0, 2950 mV, 21.5 °C, 1000 frames, 3600.0 s
    data = bytes.fromhex("20000b861580000003e800008ca0")
    tlm = decode_eddystone_tlm(data)
    assert (tlm.battery_mv, tlm.temperature_c, tlm.adv_count, tlm.uptime_s) == (
        2950,
        21.5,
        1000,
        3600.0,
    )
    assert tlm.battery_percent == 94
    assert decode_eddystone_tlm(bytes.fromhex("2000000080000000000000000000")).temperature_c is None


@given(st.uuids(), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(-128, 127))
def test_ibeacon_round_trips(proximity: uuid.UUID, major: int, minor: int, power: int) -> None:
    data = encode_ibeacon(proximity, major, minor, power)
    assert data[:2] == b"\x02\x15" and len(data) == 23
    beacon = decode_ibeacon(data)
    assert (beacon.uuid, beacon.major, beacon.minor, beacon.measured_power) == (
        proximity,
        major,
        minor,
        power,
    )


@pytest.mark.parametrize(
    ("decoder", "data", "reason"),
    [
        (decode_eddystone_url, b"\x00\xec\x01abc", "not an Eddystone-URL"),
        (decode_eddystone_url, b"\x10\xec\x09abc", "unknown URL scheme"),
        (decode_eddystone_uid, b"\x00\xec" + b"\x00" * 5, "not an Eddystone-UID"),
        (decode_eddystone_tlm, b"\x20\x01" + b"\x00" * 12, "encrypted or unknown"),
        (decode_ibeacon, b"\x02\x16" + b"\x00" * 21, "not iBeacon"),
        (decode_eddystone, b"\x30\x00", "unsupported Eddystone frame type 0x30"),
    ],
)
def test_malformed_frames_are_refused_with_a_reason(
    decoder: object, data: bytes, reason: str
) -> None:
    with pytest.raises(FrameError, match=reason):
        decoder(data)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: encode_eddystone_uid(b"\x00" * 9, b"\x00" * 6), "namespace is 10 bytes"),
        (lambda: encode_ibeacon(uuid.uuid4(), 70000, 1), "major 70000"),
        (lambda: encode_eddystone_url("https://a.be", tx_power=40), "tx power 40"),
    ],
)
def test_bad_content_for_a_frame_is_refused(call: object, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        call()  # type: ignore[operator]
