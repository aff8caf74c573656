"""The compiled eBPF objects this package ships (``make bpf`` writes them from ``bpf/``).

They are package data (``kubedtn/ebpf/objects/*.o``), found through importlib.resources,
so the same code finds them in a source checkout, an installed wheel and the zipapp.
"""

from __future__ import annotations

from importlib import resources

from kubedtn.ebpf.elf import read_object_bytes
from kubedtn.ebpf.errors import ElfError
from kubedtn.ebpf.spec import ObjectSpec

BYPASS = "bypass.o"


def object_bytes(name: str) -> bytes:
    resource = resources.files("kubedtn.ebpf").joinpath("objects", name)
    try:
        return resource.read_bytes()
    except OSError as e:
        raise ElfError(f"kubedtn/ebpf/objects/{name}: not in this build of kubedtn ({e.strerror})") from e


def object_spec(name: str) -> ObjectSpec:
    return read_object_bytes(object_bytes(name), source=f"kubedtn/ebpf/objects/{name}")
