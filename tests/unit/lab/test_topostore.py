"""The lab's Topology objects in a real SQLite store: labelled writes, idempotence, deletion."""

from __future__ import annotations

from pathlib import Path

from kubedtn.lab import topostore
from kubedtn.lab.generate import mesh
from kubedtn.lab.names import LAB_LABEL
from kubedtn.lab.view import stored_topologies
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


def test_view_reads_only_the_status_of_topologies_it_knows(tmp_path: Path) -> None:
    topologies = [topology_from_dict(obj) for obj in mesh(3, 3)]
    with open_store(tmp_path / "s.db") as store:  # type: ignore[attr-defined]
        topostore.write(store, "t", topologies)
        obj = store.get("default", "p1")
        obj["status"] = {"net_ns": "/run/netns/t-p1", "src_ip": "127.0.0.1", "links": obj["spec"]["links"]}
        store.update_status(obj)
        full = topostore.lab_topologies(store, "t")
        quick = stored_topologies(store, "t", known=topologies[:2])
        assert [t.key for t in quick] == [t.key for t in full]
        for got, want in zip(quick, full, strict=True):
            assert got.links == want.links
            assert (got.status.src_ip, got.status.net_ns) == (want.status.src_ip, want.status.net_ns)
        assert quick[1].status.net_ns == "/run/netns/t-p1"
        assert quick[2] == full[2]  # not known: checked in full, status links included
