"""Builders of raw Topology pieces, as they are written in a file, shared by the tests."""

from __future__ import annotations

from typing import Any


def link(
    uid: int = 1,
    peer: str = "r2",
    local: str = "eth1",
    remote: str = "eth1",
    *,
    ip: str | None = None,
    peer_ip: str | None = None,
    rate: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One entry of a Topology's ``spec.links``: ``ip`` is its local_ip, ``rate`` its
    properties.rate; other fields are set as given (bad values too: the validation tests
    pass them)."""
    out: dict[str, Any] = {"uid": uid, "peer_pod": peer, "local_intf": local, "peer_intf": remote}
    if ip is not None:
        out["local_ip"] = ip
    if peer_ip is not None:
        out["peer_ip"] = peer_ip
    if rate is not None:
        out["properties"] = {"rate": rate}
    out.update(fields)
    return out
