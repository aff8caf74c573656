"""The embedded store: one SQLite file shared by the CLI, the lab and the daemons.

Concurrency: every read-modify-write runs in one ``BEGIN IMMEDIATE`` transaction
(writers queue on SQLite's lock, up to ``busy_timeout``), reads see a snapshot (WAL),
so several processes and threads can use one file at once. Each thread gets its own
connection. A single counter in the ``meta`` table is the resourceVersion of every
resource kept in the file, and every write appends one row to ``events``, which is
what watches read; compaction drops old events, and a watch from before the
compaction horizon gets ExpiredError (Kubernetes' 410 Gone).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from kubedtn.errors import KubedtnError
from kubedtn.store import objects
from kubedtn.store.base import (
    Changed,
    EventType,
    KnownVersion,
    ObjectList,
    StatusWrite,
    WatchEvent,
    WrittenVersions,
)
from kubedtn.store.errors import (
    AlreadyExistsError,
    ConflictError,
    ExpiredError,
    NotFoundError,
)
from kubedtn.store.objects import KubeObject
from kubedtn.store.resource import TOPOLOGY, Resource
from kubedtn.store.selectors import SelectorLike, to_selector
from kubedtn.store.sqlitefile import STORE_ENV, SqliteFile, SqliteSettings, read_meta
from kubedtn.store.watching import EventBatch, PollingWatch

log = logging.getLogger(__name__)

_LIST = "SELECT namespace, name, body FROM objects WHERE resource = ?"


def _decoded(body: str) -> dict[str, Any] | None:
    """A stored body as an object with a metadata mapping, else None."""
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict) else None


DEFAULT_STORE_PATH = "/var/lib/kubedtn/store.db"
# Events read per fetch: bounds memory when a watcher is far behind.
_FETCH_LIMIT = 500
# Objects looked up per statement (up to three parameters each; old SQLite allows 999 in all).
_KEYS_PER_QUERY = 300


def _readable(
    rows: Sequence[tuple[str, str, str]], resource: Resource, path: Path
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The rows' objects, and the rows that are not objects with metadata (written past the
    store, or damaged: logged, and kept for the daemon's Status) → why."""
    items = []
    unreadable: dict[str, str] = {}
    for namespace, name, body in rows:
        obj = _decoded(body)
        if obj is None:
            where = objects.describe(resource, namespace, name)
            unreadable[where] = f"{where} in {path}: not an object with metadata; left out of lists"
            log.error("%s", unreadable[where])
        else:
            items.append(obj)
    return items, unreadable


def _same_json(stored: str | None, text: str) -> bool:
    """Whether SQLite's text of a stored value says what ``text`` says. Both are compact
    JSON, so equal values are nearly always equal strings; values of different lengths are
    taken as different without parsing them (a status written again though equal in value,
    e.g. "1.0" against "1", costs one write, not a wrong one)."""
    if stored is None:
        return False
    return stored == text or (len(stored) == len(text) and json.loads(stored) == json.loads(text))


class _Prepare(Protocol):
    """objects.prepare_update or objects.prepare_status_update."""

    def __call__(
        self, resource: Resource, stored: Mapping[str, Any], body: Mapping[str, Any], *, rv: int
    ) -> KubeObject | None: ...


def default_store_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$KUBEDTN_STORE`` when set, else ``/var/lib/kubedtn/store.db``."""
    env = os.environ if environ is None else environ
    return Path(env.get(STORE_ENV) or DEFAULT_STORE_PATH)


class SqliteStore:
    """An :class:`~kubedtn.store.base.ObjectStore` for one resource in a SQLite file, which
    several stores (other resources, threads or processes) may share: :meth:`for_resource`
    opens a sibling with the same settings."""

    cached = False  # every read is the latest (ObjectStore.cached)

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        resource: Resource = TOPOLOGY,
        max_events: int = 10_000,
        max_event_age: float | None = 24 * 3600.0,
        compact_every: int = 100,
        busy_timeout: float = 30.0,
        poll_min: float = 0.005,
        poll_max: float = 0.1,
        clock: Callable[[], float] = time.time,
        background_checkpoints: bool = False,
    ) -> None:
        self._path = Path(path) if path is not None else default_store_path()
        self._resource = resource
        self._settings = SqliteSettings(
            max_events=max_events,
            max_event_age=max_event_age,
            compact_every=max(1, compact_every),
            busy_timeout=busy_timeout,
            poll_min=poll_min,
            poll_max=poll_max,
            clock=clock,
            background_checkpoints=background_checkpoints,
        )
        self._db = SqliteFile(self._path, self._settings)
        self.unreadable: dict[str, str] = {}  # rows the last list of all left out → why

    # ---- plumbing ---------------------------------------------------------------------

    @property
    def resource(self) -> Resource:
        return self._resource

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"SqliteStore({str(self._path)!r}, resource={self._resource.key})"

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close this process's connections of this store; later calls raise StoreError."""
        self._db.close()

    def batch(self) -> AbstractContextManager[None]:
        """One transaction for this thread's writes in the block (see ``SqliteFile.batch``)."""
        return self._db.batch()

    def for_resource(self, resource: Resource) -> SqliteStore:
        """A store for another resource in the same file (same resourceVersion counter)."""
        return SqliteStore(self._path, resource=resource, **vars(self._settings))

    # ---- rows -------------------------------------------------------------------------

    def _load(self, conn: sqlite3.Connection, namespace: str, name: str) -> KubeObject | None:
        row = conn.execute(
            "SELECT body FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
            (self._resource.key, namespace, name),
        ).fetchone()
        if row is None:
            return None
        loaded: KubeObject = json.loads(row[0])
        return loaded

    def _load_or_raise(self, conn: sqlite3.Connection, namespace: str, name: str) -> KubeObject:
        stored = self._load(conn, namespace, name)
        if stored is None:
            raise NotFoundError(f"{objects.describe(self._resource, namespace, name)} not found")
        return stored

    def _record(self, conn: sqlite3.Connection, *, rv: int, kind: EventType, obj: KubeObject) -> None:
        """Save the object's new state (or its removal) and the event, and advance the counter."""
        namespace, name = objects.object_key(self._resource, obj)
        body = json.dumps(obj, separators=(",", ":"))
        if kind is EventType.DELETED:
            conn.execute(
                "DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
                (self._resource.key, namespace, name),
            )
        else:
            conn.execute(
                "INSERT OR REPLACE INTO objects (resource, namespace, name, body) VALUES (?, ?, ?, ?)",
                (self._resource.key, namespace, name, body),
            )
        conn.execute(
            "INSERT INTO events (rv, resource, namespace, type, body, created) VALUES (?, ?, ?, ?, ?, ?)",
            (rv, self._resource.key, namespace, kind.value, body, self._settings.clock()),
        )
        self._advance(conn, rv)

    def _advance(self, conn: sqlite3.Connection, rv: int, *, since: int | None = None) -> None:
        """Records ``rv`` as the newest version (``since``: the one before a jump of several)."""
        conn.execute("UPDATE meta SET value = ? WHERE key = 'rv'", (rv,))
        before = rv - 1 if since is None else since
        if (
            rv // self._settings.compact_every > before // self._settings.compact_every
        ):  # a multiple was passed
            self._compact(conn, rv)

    def _compact(self, conn: sqlite3.Connection, rv: int) -> None:
        horizon = rv - self._settings.max_events
        if self._settings.max_event_age is not None:
            (aged,) = conn.execute(
                "SELECT max(rv) FROM events WHERE created < ?",
                (self._settings.clock() - self._settings.max_event_age,),
            ).fetchone()
            horizon = max(horizon, aged or 0)
        if horizon > read_meta(conn, "compacted_rv"):
            conn.execute("DELETE FROM events WHERE rv <= ?", (horizon,))
            conn.execute("UPDATE meta SET value = ? WHERE key = 'compacted_rv'", (horizon,))

    def compact(self) -> int:
        """Drop events past the limits now (writes also do it every ``compact_every`` commits).
        Returns the compaction horizon: watches must start at or after it."""
        with self._db.write("compact") as conn:
            self._compact(conn, read_meta(conn, "rv"))
            return read_meta(conn, "compacted_rv")

    # ---- ObjectStore ------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> KubeObject:
        ns = objects.scope_namespace(self._resource, namespace, name=name)
        with self._db.errors("get"):
            return self._load_or_raise(self._db.connection(), ns, name)

    def get_if_changed(self, namespace: str | None, name: str, resource_version: str) -> KubeObject | None:
        # SQLite reads the version out of the stored JSON itself (json_extract, in C): an
        # unchanged object costs no transfer and no json.loads of its body.
        ns = objects.scope_namespace(self._resource, namespace, name=name)
        with self._db.errors("get"):
            row = (
                self._db.connection()
                .execute(
                    "SELECT CASE WHEN json_extract(body, '$.metadata.resourceVersion') = ? THEN NULL "
                    "ELSE body END FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
                    (resource_version, self._resource.key, ns, name),
                )
                .fetchone()
            )
        if row is None:
            raise NotFoundError(f"{objects.describe(self._resource, ns, name)} not found")
        if row[0] is None:
            return None
        loaded: KubeObject = json.loads(row[0])
        return loaded

    def get_changed(self, known: Sequence[KnownVersion], *, latest: bool = False) -> Changed:
        # As get_if_changed (versions compared inside SQLite), a chunk of keys per statement,
        # every chunk in one read transaction.
        wanted = [
            (objects.scope_namespace(self._resource, namespace, name=name), name, rv)
            for namespace, name, rv in known
        ]
        if not wanted:
            return {}
        rows: list[tuple[str, str, str | None]] = []
        with self._db.read("get") as conn:
            for start in range(0, len(wanted), _KEYS_PER_QUERY):
                chunk = wanted[start : start + _KEYS_PER_QUERY]
                rows += conn.execute(
                    "WITH k(namespace, name, rv) AS (VALUES "
                    f"{', '.join(['(?, ?, ?)'] * len(chunk))}) "
                    "SELECT o.namespace, o.name, CASE WHEN json_extract(o.body, "
                    "'$.metadata.resourceVersion') = k.rv THEN NULL ELSE o.body END "
                    "FROM k JOIN objects o ON o.resource = ? AND o.namespace = k.namespace "
                    "AND o.name = k.name",
                    (*(part for key in chunk for part in key), self._resource.key),
                ).fetchall()
        return {(ns, name): None if body is None else json.loads(body) for ns, name, body in rows}

    def list(
        self, namespace: str | None = None, label_selector: SelectorLike = None
    ) -> tuple[ObjectList, str]:
        """Matching objects; damaged rows left out (``unreadable``), so one hides no other."""
        selector = to_selector(label_selector)
        by_namespace = bool(namespace and self._resource.namespaced)
        query = _LIST + (" AND namespace = ?" if by_namespace else "") + " ORDER BY namespace, name"
        params = (self._resource.key, namespace or "") if by_namespace else (self._resource.key,)
        with self._db.read("list") as conn:
            rows = conn.execute(query, params).fetchall()
            rv = read_meta(conn, "rv")
        items, unreadable = _readable(rows, self._resource, self._path)
        self.unreadable = self.unreadable if namespace else unreadable
        return [o for o in items if selector.matches(o["metadata"].get("labels"))], str(rv)

    def create(self, obj: Mapping[str, Any]) -> KubeObject:
        body = objects.normalise_body(self._resource, obj)
        namespace, name = objects.object_key(self._resource, body)
        with self._db.write("create") as conn:
            if self._load(conn, namespace, name) is not None:
                raise AlreadyExistsError(
                    f"{objects.describe(self._resource, namespace, name)} already exists"
                )
            rv = read_meta(conn, "rv") + 1
            new = objects.prepare_create(
                self._resource, body, rv=rv, uid=str(uuid.uuid4()), now=self._settings.clock()
            )
            self._record(conn, rv=rv, kind=EventType.ADDED, obj=new)
        return new

    def update(self, obj: Mapping[str, Any]) -> KubeObject:
        body = objects.normalise_body(self._resource, obj)
        return self._rewrite(body, action="update", prepare=objects.prepare_update)

    def update_status(self, obj: Mapping[str, Any]) -> KubeObject:
        body = objects.normalise_status_body(self._resource, obj)
        return self._rewrite(body, action="update_status", prepare=objects.prepare_status_update)

    def write_status(
        self, namespace: str | None, name: str, *, resource_version: str, status: Mapping[str, Any]
    ) -> str:
        (rv,) = self.write_statuses([(namespace, name, resource_version, status)])
        if rv is not None:
            return rv
        # Absent, stale or malformed: the full update_status raises the precise error.
        ns = objects.scope_namespace(self._resource, namespace, name=name)
        meta = {"name": name, "namespace": ns, "resourceVersion": resource_version}
        return str(self.update_status({"metadata": meta, "status": status})["metadata"]["resourceVersion"])

    def write_statuses(self, writes: Sequence[StatusWrite]) -> WrittenVersions:
        # SQLite edits the stored JSON itself (json_set) and copies it into the event: the
        # objects' bodies never pass through Python (no json.loads/dumps of the specs). One
        # read of every current version, then one statement per kind of change for all.
        texts: list[tuple[tuple[str, str], str, str] | None] = []
        for namespace, name, resource_version, status in writes:
            try:
                ns = objects.scope_namespace(self._resource, namespace, name=name)
                text = json.dumps(status, separators=(",", ":")) if isinstance(status, Mapping) else None
            except (KubedtnError, TypeError, ValueError):
                text = None  # write_status / update_status say what is wrong with it
            texts.append(None if text is None else ((ns, name), resource_version, text))
        keys = list({t[0] for t in texts if t is not None})
        results: WrittenVersions = [None] * len(writes)
        if not keys:
            return results
        with self._db.write("update_status") as conn:
            current = self._versions_and_statuses(conn, keys)
            first = rv = read_meta(conn, "rv")
            updates: list[tuple[str, str, str, str, str]] = []
            for i, item in enumerate(texts):
                if item is None or (found := current.get(item[0])) is None or found[0] != item[1]:
                    continue  # malformed, absent or stale: left to the caller
                key, _, text = item
                if _same_json(found[1], text):
                    results[i] = item[1]  # already this status: nothing is written
                    continue
                rv += 1
                current[key] = (str(rv), text)  # a second write of the object in the list is stale
                updates.append((str(rv), text, self._resource.key, *key))
                results[i] = str(rv)
            if updates:
                conn.executemany(
                    "UPDATE objects SET body = json_set(body, '$.metadata.resourceVersion', ?, "
                    "'$.status', json(?)) WHERE resource = ? AND namespace = ? AND name = ?",
                    updates,
                )
                created = self._settings.clock()
                conn.executemany(
                    "INSERT INTO events (rv, resource, namespace, type, body, created) SELECT ?, "
                    "resource, namespace, ?, body, ? FROM objects "
                    "WHERE resource = ? AND namespace = ? AND name = ?",
                    [(int(u[0]), EventType.MODIFIED.value, created, *u[2:]) for u in updates],
                )
                self._advance(conn, rv, since=first)
        return results

    def _versions_and_statuses(
        self, conn: sqlite3.Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, str | None]]:
        """(namespace, name) → (resourceVersion, status as stored JSON text) of those that exist."""
        out: dict[tuple[str, str], tuple[str, str | None]] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            rows = conn.execute(
                "SELECT namespace, name, json_extract(body, '$.metadata.resourceVersion'), "
                "json_extract(body, '$.status') FROM objects WHERE resource = ? AND (namespace, name) IN "
                f"(VALUES {', '.join(['(?, ?)'] * len(chunk))})",
                (self._resource.key, *(part for key in chunk for part in key)),
            ).fetchall()
            out.update({(ns, name): (rv, status) for ns, name, rv, status in rows})
        return out

    def _rewrite(self, body: KubeObject, *, action: str, prepare: _Prepare) -> KubeObject:
        """update/update_status of a body already normalised (checked, and the caller's own copy)."""
        namespace, name = objects.object_key(self._resource, body)
        with self._db.write(action) as conn:
            stored = self._load_or_raise(conn, namespace, name)
            rv = read_meta(conn, "rv") + 1
            new = prepare(self._resource, stored, body, rv=rv)
            if new is None:
                return stored
            # Removing the last finalizer of an object being deleted completes the deletion.
            kind = EventType.DELETED if objects.is_finalized(new) else EventType.MODIFIED
            self._record(conn, rv=rv, kind=kind, obj=new)
        return new

    def delete(
        self, namespace: str | None, name: str, *, resource_version: str | None = None
    ) -> KubeObject | None:
        ns = objects.scope_namespace(self._resource, namespace, name=name)
        what = objects.describe(self._resource, ns, name)
        with self._db.write("delete") as conn:
            stored = self._load_or_raise(conn, ns, name)
            current = stored["metadata"]["resourceVersion"]
            if resource_version is not None and objects.parse_resource_version(
                resource_version, what=what
            ) != int(current):
                raise ConflictError(
                    f"{what}: resourceVersion {resource_version} is stale, current is {current} "
                    "(delete precondition failed)"
                )
            rv = read_meta(conn, "rv") + 1
            if stored["metadata"].get("finalizers"):
                if stored["metadata"].get("deletionTimestamp"):
                    return stored
                marked = objects.mark_deleting(stored, rv=rv, now=self._settings.clock())
                self._record(conn, rv=rv, kind=EventType.MODIFIED, obj=marked)
                return marked
            self._record(conn, rv=rv, kind=EventType.DELETED, obj=objects.with_resource_version(stored, rv))
        return None

    def watch(
        self,
        *,
        resource_version: str | None = None,
        namespace: str | None = None,
        timeout: float | None = None,
        types: Collection[EventType] | None = None,
    ) -> PollingWatch:
        namespace = namespace if self._resource.namespaced else None
        kinds = None if types is None else sorted(t.value for t in types)
        initial: EventBatch = []
        if resource_version in (None, "0"):
            items, listed = self.list(namespace=namespace)
            if kinds is None or EventType.ADDED.value in kinds:
                initial = [WatchEvent(EventType.ADDED, o) for o in items]
            start = int(listed)
        else:
            start = objects.parse_resource_version(resource_version, what=f"watch of {self._resource.plural}")
            with self._db.read("watch") as conn:
                self._check_not_expired(conn, start)
        return PollingWatch(
            fetch=lambda position: self._events_after(position, namespace, kinds),
            start=start,
            notifier=self._db.notifier,
            changed=self._db.data_version_probe(),
            initial=initial,
            timeout=timeout,
            poll_min=self._settings.poll_min,
            poll_max=self._settings.poll_max,
        )

    # ---- watch plumbing ---------------------------------------------------------------

    def _check_not_expired(self, conn: sqlite3.Connection, position: int) -> None:
        compacted = read_meta(conn, "compacted_rv")
        if position < compacted:
            raise ExpiredError(
                f"watch of {self._resource.plural} from resourceVersion {position}: too old, the events "
                f"up to {compacted} were compacted ({self._settings.retention()}); "
                "list again and watch from the list's resourceVersion",
                resource_version=position,
                oldest=compacted,
            )

    def _events_after(
        self, position: int, namespace: str | None, kinds: Sequence[str] | None = None
    ) -> tuple[EventBatch, int]:
        query = "SELECT rv, type, body FROM events WHERE rv > ? AND resource = ?"
        params: tuple[object, ...] = (position, self._resource.key)
        if namespace:
            query += " AND namespace = ?"
            params += (namespace,)
        if kinds is not None:  # (the other events' bodies are never read)
            query += f" AND type IN ({', '.join('?' * len(kinds))})"
            params += tuple(kinds)
        with self._db.read("watch") as conn:
            self._check_not_expired(conn, position)
            rows = conn.execute(query + f" ORDER BY rv LIMIT {_FETCH_LIMIT}", params).fetchall()
            current = read_meta(conn, "rv")
        events = [WatchEvent(EventType(kind), json.loads(body)) for _, kind, body in rows]
        # With all events of this snapshot seen, jump to its resourceVersion: a watcher of a
        # quiet resource then never falls behind the compaction of busy ones.
        # (Never backwards: a watch may start from a resourceVersion the store has not reached.)
        return events, rows[-1][0] if len(rows) == _FETCH_LIMIT else max(position, current)
