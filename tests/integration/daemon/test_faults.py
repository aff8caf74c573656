"""Faults the daemon survives (issue 16): a poisoned store row is its pod's error, not the
daemon's; a pod list that cannot be written is retried; Status says what is wrong."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from tests.integration.daemon.topologies import load, pair
from tests.support.daemon import DaemonHandle, python, running_daemon
from tests.support.netns import NamespacePool, links_by_name, path, wait_until

pytestmark = pytest.mark.root

DEADLINE_S = 60.0  # the pod list thread's backoff is at most 10 s


def jobs(d: DaemonHandle) -> dict[str, pb.JobHealth]:
    return {j.name: j for j in d.local().Status(pb.StatusQuery(), timeout=10).jobs}


def wait_for_job(d: DaemonHandle, name: str, ok: Callable[[pb.JobHealth], bool], what: str) -> pb.JobHealth:
    """Asks Status until job ``name`` is as ``ok`` wants; that job."""
    wait_until(lambda: ok(jobs(d)[name]), timeout_s=DEADLINE_S, what=f"Status showing {what}")
    return jobs(d)[name]


def poison(d: DaemonHandle, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Change pod ``name``'s stored object behind the store's back (as a broken writer may)."""
    with closing(sqlite3.connect(d.store_path, isolation_level=None)) as db:
        (body,) = db.execute("SELECT body FROM objects WHERE name = ?", (name,)).fetchone()
        obj = json.loads(body)
        change(obj)
        db.execute("UPDATE objects SET body = ? WHERE name = ?", (json.dumps(obj), name))


def up(d: DaemonHandle, pods: dict[str, str]) -> None:
    for name, ns in pods.items():
        assert d.local().SetupPod(pb.SetupPodQuery(name=name, net_ns=path(ns)), timeout=30).response


def our_links(ns: str) -> list[str]:
    return sorted(n for n in links_by_name(ns) if n != "lo")


def set_uid(obj: dict[str, Any]) -> None:
    obj["spec"]["links"][0]["uid"] = "abc"  # a value int() refuses


def set_metadata(obj: dict[str, Any]) -> None:
    obj["metadata"] = ["not", "a", "mapping"]


def test_a_pod_whose_row_int_refuses_fails_alone_at_start(pool: NamespacePool) -> None:
    with running_daemon() as d:
        with d.store() as store:
            load(store, pair())
            load(store, pair("s1", "s2", uid=2))
        a, b, c, e = pool.make(4)
        up(d, {"r1": a, "r2": b, "s1": c, "s2": e})
        d.kill(signal.SIGKILL)
        poison(d, "s2", set_uid)
        d.start()  # the reconcile sets every pod up again
        reconcile = jobs(d)["reconcile"]
        assert reconcile.state == "failing" and reconcile.failures == 1
        assert reconcile.last_error.startswith('default/s2: spec.links[0].uid: "abc" is not an integer')
        assert "default/r1" not in reconcile.last_error and "default/r2" not in reconcile.last_error
        assert "reconcile could not set a pod up again" in d.log()
        # the others are served: r1/r2 as before, and a new request for them answers
        assert our_links(a) == ["eth1"] and our_links(b) == ["eth1"]
        check = d.local().CheckPod(pb.SetupPodQuery(name="r1", net_ns=path(a)), timeout=30)
        assert check.ok, check.problems
        assert jobs(d)["pod-list"].state == "ok"


def test_an_unreadable_row_is_left_out_and_status_names_it(pool: NamespacePool) -> None:
    with running_daemon() as d:
        with d.store() as store:
            load(store, pair())
            load(store, pair("s1", "s2", uid=2))
        a, b = pool.make(2)
        up(d, {"r1": a, "r2": b})
        d.kill(signal.SIGKILL)
        poison(d, "s2", set_metadata)
        d.start()  # (before: every list of the store raised, and the daemon did not start)
        found = jobs(d)
        assert found["store"].state == "failing" and found["store"].failures == 1
        assert found["store"].last_error == (
            f"topology default/s2 in {d.store_path}: not an object with metadata; left out of lists"
        )
        assert found["reconcile"].state == "ok" and found["pod-list"].state == "ok"
        assert json.loads(d.pod_list_path.read_text())["pods"] == ["default/r1", "default/r2", "default/s1"]
        assert our_links(a) == ["eth1"] and our_links(b) == ["eth1"]
        assert d.local().Status(pb.StatusQuery(), timeout=10).pods_alive == 2
        poison(d, "s2", lambda obj: obj.__setitem__("metadata", {"name": "s2", "namespace": "default"}))
        with d.store() as store:
            load(store, pair("q1", "q2", uid=3))  # (the pod list lists the store again)
        wait_until(
            lambda: jobs(d)["store"].state == "ok", timeout_s=DEADLINE_S, what="the row readable again"
        )


def test_a_full_pod_list_directory_is_reported_and_the_list_written_once_there_is_room() -> None:
    with running_daemon(start=False) as d:
        lists = d.root / "lists"  # a 16 KiB tmpfs, mounted in the daemon's own mount namespace
        lists.mkdir()
        mount = 'mount -t tmpfs -o size=16k kubedtn-test "$0" && exec "$@"'
        d.program = (
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            mount,
            str(lists),
            python(),
            "-m",
            "kubedtn",
        )
        d.extra_args = ("--state-dir", str(lists), "--store", str(d.store_path))
        d.start()
        seen = Path(f"/proc/{d.pid}/root") / lists.relative_to("/")  # the tmpfs, as the daemon sees it
        assert json.loads((seen / "topology-pods.json").read_text()) == {"pods": []}
        filler = seen / "filler"
        with open(filler, "wb", buffering=0) as f, pytest.raises(OSError, match="No space left"):
            while True:
                f.write(b"x" * 4096)
        with d.store() as store:
            load(store, pair())
        failing = wait_for_job(d, "pod-list", lambda j: j.state == "failing", "the pod list failing")
        assert "cannot write the topology pod list" in failing.last_error
        assert "No space left on device" in failing.last_error
        assert d.local().Status(pb.StatusQuery(), timeout=10).version  # serving all along
        filler.unlink()
        wait_for_job(d, "pod-list", lambda j: j.state == "ok", "the pod list written again")
        pods = json.loads((seen / "topology-pods.json").read_text())["pods"]
        assert pods == ["default/r1", "default/r2"]
