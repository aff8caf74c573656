"""Label selectors: the Kubernetes string forms, matching, and error text."""

from __future__ import annotations

import pytest

from kubedtn.errors import ValidationError
from kubedtn.store.selectors import LabelSelector, Op, Requirement, parse_label_selector, to_selector

LABELS = {"app": "web", "tier": "front", "env": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("app", True),
        ("!app", False),
        ("!missing", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=x", True),
        ("env=", True),
        ("app in (web,db)", True),
        ("app in (db, cache)", False),
        ("app notin (db)", True),
        ("missing notin (db)", True),
        ("app notin (web)", False),
        ("app=web,tier=front", True),
        ("app=web, tier=back", False),
        ("  app = web ,  !legacy ", True),
        ("example.com/team=net", False),
    ],
)
def test_selector_matches_like_kubernetes(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


def test_parsed_structure() -> None:
    selector = parse_label_selector("a in (x,y),!b,c!=z")
    assert selector.requirements == (
        Requirement("a", Op.IN, frozenset({"x", "y"})),
        Requirement("b", Op.NOT_EXISTS),
        Requirement("c", Op.NOT_IN, frozenset({"z"})),
    )


def test_no_labels_at_all() -> None:
    assert parse_label_selector("!app").matches(None)
    assert not parse_label_selector("app").matches(None)


@pytest.mark.parametrize(
    ("text", "position", "what"),
    [
        ("app=web,", 8, "expected a label key"),
        ("app in web", 7, "expected '('"),
        ("app in ()", 8, "expected a value"),
        ("app in (a", 9, "expected ')'"),
        ("app web", 4, "unexpected 'web' after key 'app'"),
        ("app=web x", 8, "expected ',' before 'x'"),
        ("app=web;x", 7, "unexpected character ';'"),
        ("=web", 0, "expected a label key"),
        ("app (", 4, "unexpected '(' after key 'app'"),
    ],
)
def test_bad_selector_names_position_and_accepted_forms(text: str, position: int, what: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_label_selector(text)
    message = str(caught.value)
    assert f"label selector {text!r}: {what} at position {position}" in message
    assert "key in (v1,v2)" in message


def test_to_selector_accepts_a_map_and_none() -> None:
    assert to_selector(None) == LabelSelector()
    by_map = to_selector({"app": "web", "tier": "front"})
    assert by_map.matches(LABELS)
    assert not by_map.matches({"app": "web"})
    parsed = parse_label_selector("app")
    assert to_selector(parsed) is parsed


@pytest.mark.parametrize(
    "text", ["app=web", "app!=web", "env in (a,b)", "env notin (a,b)", "legacy", "!legacy", "app=web,!legacy"]
)
def test_a_selector_written_as_text_parses_back_to_itself(text: str) -> None:
    parsed = parse_label_selector(text)
    assert parse_label_selector(parsed.to_text()) == parsed
