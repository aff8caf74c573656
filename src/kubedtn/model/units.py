"""Units of link properties: durations, percentages, rates — parse and format.

Each kind has a pattern (a string constant shared with the CRD schema in
``kubedtn.model.crd``, so the API server and this module accept the same text) and a
pair of pure functions. Parsers raise ``UnitError`` with a short "is not ..." phrase;
callers add the object and field path and turn it into ``ValidationError`` lines.

Forms accepted (the same as kube-dtn and iproute2 ``tc``):

* durations — Go ``time.ParseDuration``: ``300ms``, ``1.5s``, ``2m``, ``1m30s``,
  ``10us``/``10µs``, ``500ns``, ``0``; no sign. Resolved to whole microseconds,
  truncating like Go's ``Duration.Microseconds()`` (netem counts microseconds).
* percentages — a decimal 0..100, optionally followed by ``%``: ``"1"``, ``"0.5"``,
  ``"1%"``. No exponent, sign, ``inf`` or ``nan``.
* rates — ``tc``'s ``get_rate``: a decimal, then an optional case-insensitive suffix.
  A bare number is bit/s; ``bit``/``kbit``/``mbit``/``gbit``/``tbit`` are SI bits;
  ``kibit`` … ``tibit`` IEC bits; ``bps``/``kbps`` … are **bytes** per second (SI) and
  ``kibps`` … ``tibps`` bytes (IEC). So ``100Mbps`` is 800 Mbit/s.
"""

from __future__ import annotations

import functools
import re
from typing import Final


class UnitError(ValueError):
    """Text is not in the expected unit form; the message completes '<value> ...'."""


def quoted(value: object) -> str:
    """A value as it appears in an error line: strings in double quotes, others as is."""
    if not isinstance(value, str):
        return repr(value)
    import json  # only on the error path

    return json.dumps(value, ensure_ascii=False)


@functools.cache
def compiled(pattern: str) -> re.Pattern[str]:
    """The compiled pattern, compiled once on first use (import stays cheap for the CNI plugin)."""
    return re.compile(pattern)


def decimal_parts(number: str) -> tuple[int, int]:
    """``"1.50"`` → ``(150, 100)``: an exact numerator and power-of-ten denominator."""
    whole, _, frac = number.partition(".")
    return int(whole + frac or "0"), 10 ** len(frac)


def case_insensitive(word: str) -> str:
    """Regex for ``word`` in any letter case, spelled with classes (``[bB][iI][tT]``).

    JSON-schema patterns have no portable case-insensitive flag, so the shared patterns
    spell it out; Python uses the very same text.
    """
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


_DECIMAL: Final = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"

# ---- durations ---------------------------------------------------------------------------

# Go accepts both micro signs (U+00B5 and U+03BC) for microseconds.
_DURATION_UNITS_NS: Final[dict[str, int]] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_UNIT_RE: Final = "(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h)"
DURATION_PATTERN: Final = rf"^(?:0|(?:{_DECIMAL}{_DURATION_UNIT_RE})+)$"
_DURATION_PART_PATTERN: Final = rf"({_DECIMAL})({_DURATION_UNIT_RE})"

# Largest netem delay/jitter: netem's classic attributes carry microseconds in 32 bits.
DURATION_MAX_US: Final = 2**32 - 1
DURATION_ACCEPTS: Final = 'a duration like "300ms", "1.5s", "1m30s", "10us" (at most 71m34s)'


def parse_duration_us(text: str) -> int:
    """Go duration text → whole microseconds (sub-microsecond parts truncated)."""
    if not compiled(DURATION_PATTERN).fullmatch(text):
        raise UnitError(f"is not {DURATION_ACCEPTS}")
    total_ns = 0
    for number, unit in compiled(_DURATION_PART_PATTERN).findall(text):
        # Go truncates each part to whole nanoseconds, then Microseconds() truncates again.
        numerator, denominator = decimal_parts(number)
        total_ns += numerator * _DURATION_UNITS_NS[unit] // denominator
    us = total_ns // 1000
    if us > DURATION_MAX_US:
        raise UnitError(f"is too long: {DURATION_ACCEPTS}")
    return us


def format_duration_us(us: int) -> str:
    """Microseconds → the shortest exact text Go and tc both read (``10ms``, ``1500us``)."""
    if us < 0:
        raise ValueError(f"negative duration {us}us")
    if us == 0:
        return "0"
    for unit, scale in (("s", 1_000_000), ("ms", 1_000)):
        if us % scale == 0:
            return f"{us // scale}{unit}"
    return f"{us}us"


# ---- percentages -------------------------------------------------------------------------

# The range 0..100 lives in the pattern itself so the CRD enforces it on strings too.
PERCENT_PATTERN: Final = r"^(?:100(?:\.0*)?|[0-9]{1,2}(?:\.[0-9]*)?|\.[0-9]+)%?$"
PERCENT_ACCEPTS: Final = 'a percentage (0-100), like "1", "0.5" or "1%"'


def parse_percent(text: str) -> float:
    """``"0.5"`` / ``"1%"`` → 0.5 / 1.0."""
    if not compiled(PERCENT_PATTERN).fullmatch(text):
        raise UnitError(f"is not {PERCENT_ACCEPTS}")
    return float(text.rstrip("%"))


def format_percent(value: float) -> str:
    """0.5 → ``"0.5"``, 1.0 → ``"1"``, 1e-05 → ``"0.00001"`` (never an exponent)."""
    if not 0.0 <= value <= 100.0:
        raise ValueError(f"percentage {value} out of 0..100")
    from decimal import Decimal  # formatting is off the hot path

    text = format(Decimal(repr(float(value))), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# ---- rates -------------------------------------------------------------------------------

# iproute2 tc_util.c suffix table (matched case-insensitively); value = bits per unit.
_RATE_SUFFIX_BITS: Final[dict[str, int]] = {
    "bit": 1,
    "kibit": 1024,
    "kbit": 1000,
    "mibit": 1024**2,
    "mbit": 1000**2,
    "gibit": 1024**3,
    "gbit": 1000**3,
    "tibit": 1024**4,
    "tbit": 1000**4,
    "bps": 8,
    "kibps": 8 * 1024,
    "kbps": 8 * 1000,
    "mibps": 8 * 1024**2,
    "mbps": 8 * 1000**2,
    "gibps": 8 * 1024**3,
    "gbps": 8 * 1000**3,
    "tibps": 8 * 1024**4,
    "tbps": 8 * 1000**4,
}
# Longest first so alternation never stops at a prefix.
_RATE_SUFFIX_RE: Final = "|".join(
    case_insensitive(s) for s in sorted(_RATE_SUFFIX_BITS, key=len, reverse=True)
)
RATE_PATTERN: Final = rf"^{_DECIMAL}(?:{_RATE_SUFFIX_RE})?$"
_RATE_SPLIT_PATTERN: Final = rf"({_DECIMAL})(.*)"
# tc's rate64 is bytes/s in 64 bits; we keep bits in a signed 64-bit field.
RATE_MAX_BPS: Final = 2**63 - 1
RATE_MIN_BPS: Final = 8  # tc stores bytes/s: below one byte per second means "no limit"
RATE_ACCEPTS: Final = (
    'a rate like "1000" (bit/s), "100kbit", "1Gbit", "10Mibit" or "100Mbps" (bytes/s), 0 or at least 8bit'
)


def parse_rate_bps(text: str) -> int:
    """tc rate text → bits per second (rounded to a whole bit; 0 means no limit)."""
    if not compiled(RATE_PATTERN).fullmatch(text):
        raise UnitError(f"is not {RATE_ACCEPTS}")
    split = compiled(_RATE_SPLIT_PATTERN).fullmatch(text)
    assert split is not None  # implied by RATE_PATTERN
    number, suffix = split.groups()
    numerator, denominator = decimal_parts(number)
    bits = numerator * _RATE_SUFFIX_BITS[suffix.lower() or "bit"]
    bps = (2 * bits + denominator) // (2 * denominator)  # nearest whole bit, halves up
    if bps > RATE_MAX_BPS:
        raise UnitError(f"is too large: {RATE_ACCEPTS}")
    if 0 < bps < RATE_MIN_BPS or (bps == 0 and bits != 0):
        raise UnitError(f"is below one byte per second: {RATE_ACCEPTS}")
    return bps


def format_rate_bps(bps: int) -> str:
    """Bits per second → the shortest exact SI-bit text (``100Mbit``, ``1500kbit``, ``12``)."""
    if bps < 0:
        raise ValueError(f"negative rate {bps}")
    for suffix, scale in (("Tbit", 1000**4), ("Gbit", 1000**3), ("Mbit", 1000**2), ("kbit", 1000)):
        if bps >= scale and bps % scale == 0:
            return f"{bps // scale}{suffix}"
    return f"{bps}bit" if bps else "0"


# ---- plain unsigned integers (gap) -------------------------------------------------------

UINT_PATTERN: Final = r"^[0-9]+$"
UINT32_MAX: Final = 2**32 - 1
GAP_ACCEPTS: Final = f"an unsigned integer (0-{UINT32_MAX}) number of packets"


def parse_uint32(text: str) -> int:
    """``"5"`` → 5; netem's gap is a 32-bit packet count."""
    if not compiled(UINT_PATTERN).fullmatch(text) or int(text) > UINT32_MAX:
        raise UnitError(f"is not {GAP_ACCEPTS}")
    return int(text)
