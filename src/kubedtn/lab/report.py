"""The tables ``lab up`` and ``lab status`` print (pure: views in, text out)."""

from __future__ import annotations

from collections.abc import Sequence

from kubedtn.lab.names import short_key
from kubedtn.lab.view import EndView, LinkView, PodView
from kubedtn.model import LinkProperties, units

_PERCENTS = (
    ("loss", "loss", "loss_corr"),
    ("duplicate", "duplicate", "duplicate_corr"),
    ("reorder", "reorder_prob", "reorder_corr"),
    ("corrupt", "corrupt_prob", "corrupt_corr"),
)


def describe_properties(props: LinkProperties) -> str:
    """``latency 10ms ±1ms, loss 1%, rate 100Mbit/s`` — or ``-`` when nothing is set."""
    parts: list[str] = []
    if props.latency_us:
        text = f"latency {units.format_duration_us(props.latency_us)}"
        if props.jitter_us:
            text += f" ±{units.format_duration_us(props.jitter_us)}"
        if props.latency_corr:
            text += f" (corr {units.format_percent(props.latency_corr)}%)"
        parts.append(text)
    for label, attr, corr in _PERCENTS:
        value = getattr(props, attr)
        if value:
            text = f"{label} {units.format_percent(value)}%"
            if getattr(props, corr):
                text += f" (corr {units.format_percent(getattr(props, corr))}%)"
            if attr == "reorder_prob" and props.gap:
                text += f" gap {props.gap}"
            parts.append(text)
    if props.rate_bps:
        parts.append(f"rate {units.format_rate_bps(props.rate_bps)}/s")
    return ", ".join(parts) or "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [headers, *rows]]
    return "\n".join(lines)


def pods_table(pods: Sequence[PodView]) -> str:
    rows = [
        [
            short_key(p.key),
            p.netns + ("" if p.netns_exists else " (gone)"),
            p.node_ip or "-",
            "yes" if p.alive else "no",
            str(p.links),
        ]
        for p in pods
    ]
    return table(["POD", "NETNS", "NODE", "ALIVE", "LINKS"], rows)


def _ends(v: LinkView) -> str:
    far = v.b.where if v.b is not None else v.peer
    return f"{v.a.where} <-> {far}"


def _props(v: LinkView) -> str:
    if v.b is None or v.a.want == v.b.want:
        text = describe_properties(v.a.want)
        return text if v.b is None or text == "-" else f"{text} (both ways)"
    return f"{_egress(v.a, v.b)}; {_egress(v.b, v.a)}"


def _egress(src: EndView, dst: EndView) -> str:
    return f"{short_key(src.pod)}->{short_key(dst.pod)}: {describe_properties(src.want)}"


def links_table(links: Sequence[LinkView]) -> str:
    rows = [[str(v.uid), _ends(v), v.state, _props(v)] for v in links]
    return table(["UID", "ENDS", "STATE", "PROPERTIES (egress)"], rows)
