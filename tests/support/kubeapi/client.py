"""A plain HTTP client for the double's own tests: one request, or the lines of a watch."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit


class Reply:
    def __init__(self, code: int, body: Any) -> None:
        self.code = code
        self.body = body

    def __repr__(self) -> str:
        return f"Reply({self.code}, {self.body!r})"


def _connection(url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)


def call(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    *,
    timeout: float = 10.0,
    user_agent: str | None = None,
) -> Reply:
    conn = _connection(url, timeout)
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {"Content-Type": content_type} if data is not None else {}
        if user_agent is not None:
            headers["User-Agent"] = user_agent
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return Reply(resp.status, json.loads(raw) if raw else None)
    finally:
        conn.close()


@contextmanager
def watching(url: str, path: str, timeout: float = 10.0) -> Iterator[Iterator[dict[str, Any]]]:
    """The events of a watch (`path` includes watch=true); ends when the server ends the stream."""
    conn = _connection(url, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        if resp.status != 200:
            raise AssertionError(f"watch {path}: {resp.status} {resp.read()!r}")

        def events() -> Iterator[dict[str, Any]]:
            # read1, not readline: readline reports a stream cut mid-way as a clean end, read1
            # raises IncompleteRead for it.
            pending = b""
            while chunk := resp.read1(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                yield from (json.loads(line) for line in lines if line)

        yield events()
    finally:
        conn.close()
