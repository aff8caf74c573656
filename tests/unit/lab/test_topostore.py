"""The lab's Topology objects in a real SQLite store: labelled writes, idempotence, deletion."""

from __future__ import annotations

from pathlib import Path

from kubedtn.lab import topostore
from kubedtn.lab.generate import mesh
from kubedtn.lab.names import LAB_LABEL
from kubedtn.model.objects import topology_from_dict
from kubedtn.store import open_store


def test_write_is_idempotent_and_delete_takes_only_the_lab(tmp_path: Path) -> None:
    topologies = [topology_from_dict(obj) for obj in mesh(3, 3)]
    with open_store(tmp_path / "s.db") as store:  # type: ignore[attr-defined]
        store.create({"metadata": {"name": "other"}, "spec": {"links": []}})
        first = topostore.write(store, "t", topologies)
        assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
        again = topostore.write(store, "t", topologies)
        assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
        rv = store.get("default", "p0")["metadata"]["resourceVersion"]

        # the daemon's status survives an update of the spec
        obj = store.get("default", "p0")
        obj["status"] = {"net_ns": "/run/netns/t-p0", "src_ip": "127.0.0.1"}
        store.update_status(obj)
        changed = [topology_from_dict(o) for o in mesh(3, 3, properties={"rate": "10mbit"})]
        assert topostore.write(store, "t", changed).updated == 3
        p0 = store.get("default", "p0")
        assert p0["metadata"]["resourceVersion"] != rv
        assert p0["status"]["net_ns"] == "/run/netns/t-p0"
        assert p0["metadata"]["labels"] == {LAB_LABEL: "t"}
        assert p0["spec"]["links"][0]["properties"] == {"rate": "10Mbit"}

        assert topostore.owners(store, ["default/p1", "default/other", "default/nope"]) == {
            "default/p1": "t",
            "default/other": None,
        }
        assert [t.name for t in topostore.lab_topologies(store, "t")] == ["p0", "p1", "p2"]
        assert topostore.delete(store, "t", keys=["default/p2"]) == 1
        assert topostore.delete(store, "t") == 2
        items, _ = store.list()
        assert [o["metadata"]["name"] for o in items] == ["other"]
