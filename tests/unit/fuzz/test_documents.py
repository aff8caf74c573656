"""Fuzz: topology documents (YAML/JSON text and parsed structures) give ValidationError or
problems, never another exception, and every problem line names where (a field path)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kubedtn.errors import ValidationError
from kubedtn.model.documents import Document, bundle_documents, parse_documents
from kubedtn.model.objects import parse_topology
from kubedtn.model.types import PROPERTY_FIELDS
from tests.unit.fuzz.budget import examples

pytestmark = pytest.mark.fuzz

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "eth1", "10.0.0.1/24", "1ms", "100Mbit", "r2", "-1", "1e400", "x" * 300]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def pick(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value, so that examples get deep into the checks; sometimes anything."""
    return st.one_of(valid, valid, valid, _json)


_link = st.fixed_dictionaries(
    {
        "uid": pick(st.integers(0, 20)),
        "peer_pod": pick(st.sampled_from(["r1", "r2", "r3", "localhost", "physical/10.1.2.3"])),
        "local_intf": pick(st.sampled_from(["eth1", "eth2", "lo", "eth0"])),
        "peer_intf": pick(st.sampled_from(["eth1", "eth2"])),
    },
    optional={
        "local_ip": pick(st.sampled_from(["10.0.0.1/24", "fd00::1/64"])),
        "peer_ip": pick(st.sampled_from(["10.0.0.2/24"])),
        "local_mac": _json,
        "mtu": pick(st.integers(60, 9000)),
        "properties": pick(
            st.dictionaries(
                st.sampled_from(sorted(PROPERTY_FIELDS)), pick(st.sampled_from(["1ms", "10", "1"]))
            )
        ),
        "extra": _json,
    },
)
_topology = st.fixed_dictionaries(
    {
        "apiVersion": pick(st.sampled_from(["kubedtn.io/v1", "y-young.github.io/v1"])),
        "kind": pick(st.just("Topology")),
        "metadata": pick(
            st.fixed_dictionaries(
                {"name": pick(st.sampled_from(["r1", "r2", "r3"]))},
                optional={"namespace": pick(st.sampled_from(["default", "blue"]))},
            )
        ),
        "spec": pick(st.fixed_dictionaries({"links": pick(st.lists(pick(_link), max_size=4))})),
    },
    optional={"status": _json},
)
_documents = st.lists(pick(_topology), max_size=4)

# Where a problem is: a field path, or the object as a whole.
_WHERE = re.compile(
    r"(apiVersion|kind|metadata|spec|status|items)\b|is not a Kubernetes object|defined again|not valid YAML"
)


def assert_named(problems: list[str] | tuple[str, ...]) -> None:
    for line in problems:
        assert "Traceback" not in line
        assert _WHERE.search(line), f"a problem that names no field: {line!r}"


def check_text(text: str) -> None:
    """Parsed and bundled, or refused: either way with problems that name where."""
    try:
        docs = parse_documents(text, source="f.yaml")
    except ValidationError as e:
        assert_named(e.problems)
        return
    assert_named(bundle_documents(docs).problems)


@examples(150)
@given(_documents)
def test_parsed_structures_give_named_problems(objs: list[Any]) -> None:
    docs = [Document("f.yaml", obj, f"[{i}]") for i, obj in enumerate(objs)]
    bundle = bundle_documents(docs)
    assert_named(bundle.problems)
    for obj in objs:
        assert_named(parse_topology(obj).problems)


@examples(150)
@given(_documents, st.sampled_from(["yaml", "json", "list"]))
def test_text_documents_parse_or_raise_validation_errors(objs: list[Any], form: str) -> None:
    if form == "yaml":
        text = yaml.safe_dump_all(objs)
    elif form == "json":
        text = json.dumps(objs[0] if objs else {}, allow_nan=True)
    else:
        text = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objs})
    check_text(text)


@examples(200)
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text_raises_only_validation_errors(text: str) -> None:
    check_text(text)
