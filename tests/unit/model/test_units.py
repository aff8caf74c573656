"""Unit parsers: tables of kube-dtn / Go / tc forms, and properties that hold for any text."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubedtn.model import units
from kubedtn.model.units import UnitError

# ---- durations (Go time.ParseDuration forms, truncated to microseconds like kube-dtn) ----


@pytest.mark.parametrize(
    ("text", "us"),
    [
        ("0", 0),
        ("300ms", 300_000),
        ("1.5s", 1_500_000),
        ("2m", 120_000_000),
        ("1m30s", 90_000_000),
        ("1h", 3_600_000_000),
        ("10us", 10),
        ("10\u00b5s", 10),  # micro sign
        ("10\u03bcs", 10),  # Greek mu
        ("1500ns", 1),  # truncated, as Go's Duration.Microseconds()
        ("999ns", 0),
        (".5s", 500_000),
        ("5.s", 5_000_000),
        ("1s500ms", 1_500_000),
        ("0.001ms", 1),
    ],
)
def test_duration_forms(text: str, us: int) -> None:
    assert units.parse_duration_us(text) == us


@pytest.mark.parametrize(
    "text",
    ["", "10", "-1s", "1 s", "1sec", "ms", "1.2.3s", "inf", "1e3ms", "10MS", "1s ", "1.5h", "2h"],
)
def test_duration_rejects(text: str) -> None:
    with pytest.raises(UnitError, match="duration"):
        units.parse_duration_us(text)


@pytest.mark.parametrize(
    ("us", "text"), [(0, "0"), (10_000, "10ms"), (2_000_000, "2s"), (1_500, "1500us"), (7, "7us")]
)
def test_duration_format(us: int, text: str) -> None:
    assert units.format_duration_us(us) == text


@given(st.integers(0, units.DURATION_MAX_US))
def test_duration_round_trip(us: int) -> None:
    assert units.parse_duration_us(units.format_duration_us(us)) == us


# ---- percentages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0.0),
        ("100", 100.0),
        ("100.0", 100.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("1%", 1.0),
        ("5.", 5.0),
        ("07", 7.0),
    ],
)
def test_percent_forms(text: str, value: float) -> None:
    assert units.parse_percent(text) == value


@pytest.mark.parametrize(
    "text", ["101", "100.1", "150", "-1", "1e2", "nan", "inf", "", " 1", "50%%", "1.5.", "%"]
)
def test_percent_rejects(text: str) -> None:
    with pytest.raises(UnitError, match=re.escape("is not a percentage (0-100)")):
        units.parse_percent(text)


@pytest.mark.parametrize(
    ("value", "text"), [(1.0, "1"), (0.5, "0.5"), (1e-05, "0.00001"), (100.0, "100"), (0.0, "0")]
)
def test_percent_format(value: float, text: str) -> None:
    assert units.format_percent(value) == text


@given(st.floats(0.0, 100.0, allow_nan=False))
def test_percent_round_trip(value: float) -> None:
    assert units.parse_percent(units.format_percent(value)) == value


# ---- rates (iproute2 tc get_rate: bare = bit/s, *bps = BYTES/s, case-insensitive) --------


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("0", 0),
        ("1000", 1000),
        ("8bit", 8),
        ("100kbit", 100_000),
        ("100Kbit", 100_000),
        ("1Kibit", 1024),
        ("1mbit", 1_000_000),
        ("20Mbit", 20_000_000),
        ("1Gbit", 1_000_000_000),
        ("1Tbit", 10**12),
        ("1Mibit", 2**20),
        ("1Gibit", 2**30),
        ("1Tibit", 2**40),
        ("1bps", 8),
        ("1Bps", 8),
        ("100kbps", 800_000),
        ("1KiBps", 8 * 1024),
        ("100Mbps", 800_000_000),
        ("100MBPS", 800_000_000),
        ("1Gibps", 8 * 2**30),
        ("1GBps", 8 * 10**9),
        ("1TiBps", 8 * 2**40),
        ("1.5kbit", 1500),
        (".5mbit", 500_000),
    ],
)
def test_rate_forms(text: str, bps: int) -> None:
    assert units.parse_rate_bps(text) == bps


@pytest.mark.parametrize(
    "text", ["1kb", "1k", "1m", "fast", "-1", "", "1 mbit", "4bit", "0.5bit", "1e3", "0x10", "1kbits", "inf"]
)
def test_rate_rejects(text: str) -> None:
    with pytest.raises(UnitError, match="rate"):
        units.parse_rate_bps(text)


def test_rate_too_large() -> None:
    with pytest.raises(UnitError, match="too large"):
        units.parse_rate_bps("2000000Tibps")


@pytest.mark.parametrize(
    ("bps", "text"),
    [(0, "0"), (12, "12bit"), (1000, "1kbit"), (1500, "1500bit"), (800_000_000, "800Mbit"), (10**9, "1Gbit")],
)
def test_rate_format(bps: int, text: str) -> None:
    assert units.format_rate_bps(bps) == text


@given(st.one_of(st.just(0), st.integers(units.RATE_MIN_BPS, units.RATE_MAX_BPS)))
def test_rate_round_trip(bps: int) -> None:
    assert units.parse_rate_bps(units.format_rate_bps(bps)) == bps


# ---- gap ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("5", 5), (str(2**32 - 1), 2**32 - 1)])
def test_uint_forms(text: str, value: int) -> None:
    assert units.parse_uint32(text) == value


@pytest.mark.parametrize("text", ["", "-1", "1.0", str(2**32), "five", "٣"])
def test_uint_rejects(text: str) -> None:
    with pytest.raises(UnitError, match="unsigned integer"):
        units.parse_uint32(text)


# ---- any text: a value or UnitError, never anything else ---------------------------------

_alphabet = st.text(
    alphabet=st.sampled_from("0123456789.%:µμ-+ eEkKmMgGtTiIbBpPsSnNuUhHxX\u0663\n"), max_size=12
)


@pytest.mark.parametrize(
    "parse", [units.parse_duration_us, units.parse_percent, units.parse_rate_bps, units.parse_uint32]
)
@given(text=st.one_of(st.text(max_size=20), _alphabet))
def test_parsers_raise_only_unit_error(parse: object, text: str) -> None:
    assert callable(parse)
    with contextlib.suppress(UnitError):
        parse(text)
