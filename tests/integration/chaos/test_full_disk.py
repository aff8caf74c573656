"""Issue 16's chaos: the daemon's state directory (its store and pod list) on a tmpfs that
fills up. Requests that must write fail with an error that says so, Status names the jobs
that cannot write, the store stays sound (``PRAGMA integrity_check``), and once there is
room again the next writes succeed without a restart.

The tmpfs is mounted in the daemon's own mount namespace (``unshare --mount``), so nothing
stays mounted on the host. The test writes files there through ``/proc/PID/root``; SQLite
resolves that link to the host's directory, so the store is read with ``nsenter --mount``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import grpc
import pytest

from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.store import SqliteStore
from tests.integration.daemon.topologies import load, pair
from tests.support.daemon import DaemonHandle, python, running_daemon
from tests.support.netns import NamespacePool, links_by_name, path, wait_until

pytestmark = [pytest.mark.root, pytest.mark.chaos]

PAIRS = 12
DEADLINE_S = 60.0  # the pod list thread's backoff is at most 10 s
# Mount the tmpfs on the state directory ($0), put the seed store ($1) in it, run the daemon.
MOUNT = (
    'mount -t tmpfs -o size=1m,mode=0700 kubedtn-chaos "$0" && cp "$1" "$0/store.db" && shift && exec "$@"'
)


@contextmanager
def daemon_on_tmpfs() -> Iterator[tuple[DaemonHandle, Path]]:
    """A daemon whose state directory is a 1 MiB tmpfs of its own, its store seeded with
    PAIRS pairs of pods (p0a-p0b, ...); that directory as seen from here."""
    with running_daemon(start=False) as d:
        seed = d.root / "seed.db"
        with closing(SqliteStore(seed)) as store:
            for i in range(PAIRS):
                load(store, pair(f"p{i}a", f"p{i}b", uid=i + 1, rate=None))
        d.state_dir.mkdir(parents=True)
        d.program = ("unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT, str(d.state_dir))
        d.program = (*d.program, str(seed), python(), "-m", "kubedtn")
        d.start()
        yield d, Path(f"/proc/{d.pid}/root") / d.state_dir.relative_to("/")


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f, pytest.raises(OSError, match="No space left"):
        while True:
            f.write(b"x" * 4096)
    return filler


def jobs(d: DaemonHandle) -> dict[str, pb.JobHealth]:
    return {j.name: j for j in d.local().Status(pb.StatusQuery(), timeout=10).jobs}


def wait_for_job(d: DaemonHandle, name: str, ok: Callable[[pb.JobHealth], bool], what: str) -> pb.JobHealth:
    wait_until(lambda: ok(jobs(d)[name]), timeout_s=DEADLINE_S, what=f"Status showing {what}")
    return jobs(d)[name]


def integrity(d: DaemonHandle) -> str:
    """``PRAGMA integrity_check`` of the store, read in the daemon's mount namespace."""
    check = (
        "import sqlite3, sys; "
        "print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])"
    )
    run = subprocess.run(
        ["nsenter", "-t", str(d.pid), "-m", python(), "-c", check, str(d.store_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stdout.strip()


def test_a_full_state_directory_gives_clear_errors_keeps_the_store_sound_and_recovers(
    pool: NamespacePool,
) -> None:
    namespaces = pool.make(2 * PAIRS)  # before the daemon: its private mounts see them
    with daemon_on_tmpfs() as (d, seen):
        pods = [(f"p{i}{side}", namespaces[2 * i + (side == "b")]) for i in range(PAIRS) for side in "ab"]
        name, ns = pods[0]
        assert d.local().SetupPod(pb.SetupPodQuery(name=name, net_ns=path(ns)), timeout=30).response
        filler = fill(seen)

        refused: list[tuple[str, str, grpc.RpcError]] = []
        for name, ns in pods[1:]:
            try:
                d.local().SetupPod(pb.SetupPodQuery(name=name, net_ns=path(ns)), timeout=30)
            except grpc.RpcError as e:
                refused.append((name, ns, e))
        assert refused, "every SetupPod wrote its status on a full disk"
        for name, _, error in refused:  # the file and the cause, not a traceback; worth a retry
            assert error.code() == grpc.StatusCode.UNAVAILABLE, name
            assert (error.details() or "").startswith(
                f"store {d.store_path}: batch: no space left on the device holding it"
            ), (name, error.details())
        assert integrity(d) == "ok"
        assert d.local().Status(pb.StatusQuery(), timeout=10).version  # serving all along

        filler.unlink()
        for name, ns, _ in refused:
            assert d.local().SetupPod(pb.SetupPodQuery(name=name, net_ns=path(ns)), timeout=30).response
        for _, ns in pods:
            assert sorted(links_by_name(ns)) == ["eth1", "lo"], ns
        assert integrity(d) == "ok"
        wait_for_job(d, "pod-list", lambda j: j.state == "ok", "the pod list written again")
        listed = json.loads((seen / "topology-pods.json").read_text())["pods"]
        assert len(listed) == 2 * PAIRS
