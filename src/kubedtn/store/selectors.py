"""Kubernetes label selectors (``app=web,tier!=db,env in (a,b),!legacy``): parse and match;
field selectors (``spec.nodeName=n1``) as predicates.

Pure functions, so the SQLite backend and any later backend filter the same way the
API server does.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubedtn.errors import ValidationError

ACCEPTED_FORMS = "key, !key, key=value, key==value, key!=value, key in (v1,v2), key notin (v1,v2)"

_TOKEN = re.compile(r"\s*(?:(==|!=|=|\(|\)|,|!)|([A-Za-z0-9._/-]+))")


class Op(enum.Enum):
    EXISTS = "exists"
    NOT_EXISTS = "!"
    IN = "in"
    NOT_IN = "notin"


@dataclass(frozen=True)
class Requirement:
    key: str
    op: Op
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op is Op.EXISTS:
            return present
        if self.op is Op.NOT_EXISTS:
            return not present
        if self.op is Op.IN:
            return present and labels[self.key] in self.values
        # notin / != match objects without the label, as in Kubernetes.
        return not present or labels[self.key] not in self.values


@dataclass(frozen=True)
class LabelSelector:
    """All requirements must hold; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def to_text(self) -> str:
        """The selector in the API's ``labelSelector`` syntax (parse_label_selector reads it)."""
        return ",".join(_requirement_text(r) for r in self.requirements)


def _requirement_text(r: Requirement) -> str:
    values = sorted(r.values)
    if r.op is Op.EXISTS:
        return r.key
    if r.op is Op.NOT_EXISTS:
        return f"!{r.key}"
    if len(values) == 1:
        return f"{r.key}={values[0]}" if r.op is Op.IN else f"{r.key}!={values[0]}"
    return f"{r.key} {r.op.value} ({','.join(values)})"


SelectorLike = str | Mapping[str, str] | LabelSelector | None


def to_selector(selector: SelectorLike) -> LabelSelector:
    """Accept a selector string, an equality map (``matchLabels``), a parsed selector or None."""
    if selector is None:
        return LabelSelector()
    if isinstance(selector, LabelSelector):
        return selector
    if isinstance(selector, str):
        return parse_label_selector(selector)
    return LabelSelector(tuple(Requirement(k, Op.IN, frozenset([v])) for k, v in sorted(selector.items())))


def _tokenize(text: str) -> list[tuple[int, str, bool]]:
    """(position, text, is_word) per token; raises on characters no selector may hold."""
    tokens: list[tuple[int, str, bool]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            start = len(text) - len(text[pos:].lstrip())
            raise _bad(text, start, f"unexpected character {text[start]!r}")
        symbol, word = match.group(1), match.group(2)
        tokens.append((match.start(1) if symbol else match.start(2), symbol or word, word is not None))
        pos = match.end()
    return tokens


def _bad(text: str, pos: int, what: str) -> ValidationError:
    return ValidationError(
        f"label selector {text!r}: {what} at position {pos}; accepted: {ACCEPTED_FORMS}, separated by commas"
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> tuple[int, str, bool] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[int, str, bool] | None:
        token = self.peek()
        self.i += token is not None
        return token

    def expect_word(self, what: str) -> str:
        token = self.take()
        if token is None or not token[2]:
            raise _bad(self.text, token[0] if token else len(self.text), f"expected {what}")
        return token[1]

    def expect(self, symbol: str) -> None:
        token = self.take()
        if token is None or token[2] or token[1] != symbol:
            raise _bad(self.text, token[0] if token else len(self.text), f"expected {symbol!r}")

    def value(self) -> str:
        """A label value, which may be empty (``key=`` selects ``key: ""``)."""
        token = self.peek()
        if token is not None and token[2]:
            self.i += 1
            return token[1]
        return ""

    def value_set(self) -> frozenset[str]:
        self.expect("(")
        values = [self.expect_word("a value")]
        while (token := self.peek()) is not None and token[1] == ",":
            self.i += 1
            values.append(self.expect_word("a value"))
        self.expect(")")
        return frozenset(values)

    def requirement(self) -> Requirement:
        token = self.peek()
        if token is not None and token[1] == "!":
            self.i += 1
            return Requirement(self.expect_word("a label key after '!'"), Op.NOT_EXISTS)
        key = self.expect_word("a label key")
        token = self.peek()
        if token is None or token[1] == ",":
            return Requirement(key, Op.EXISTS)
        self.i += 1
        if token[1] in ("=", "=="):
            return Requirement(key, Op.IN, frozenset([self.value()]))
        if token[1] == "!=":
            return Requirement(key, Op.NOT_IN, frozenset([self.value()]))
        if token[2] and token[1] == "in":
            return Requirement(key, Op.IN, self.value_set())
        if token[2] and token[1] == "notin":
            return Requirement(key, Op.NOT_IN, self.value_set())
        raise _bad(self.text, token[0], f"unexpected {token[1]!r} after key {key!r}")

    def selector(self) -> LabelSelector:
        if not self.tokens:
            return LabelSelector()
        requirements = [self.requirement()]
        while (token := self.take()) is not None:
            if token[1] != ",":
                raise _bad(self.text, token[0], f"expected ',' before {token[1]!r}")
            requirements.append(self.requirement())
        return LabelSelector(tuple(requirements))


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the Kubernetes string form; raises ValidationError naming the position and accepted forms."""
    return _Parser(text).selector()


FieldMatcher = Callable[[Mapping[str, Any]], bool]


def field_matcher(text: str | None) -> FieldMatcher:
    """A field selector (``spec.nodeName=n1,status.phase!=Failed``) as a predicate on objects,
    for a cache that must answer as the API server would: equality terms only (``=``,
    ``==``, ``!=``) on dotted paths; an absent field compares as "" (as the server's)."""
    terms: list[tuple[tuple[str, ...], bool, str]] = []
    for term in (t.strip() for t in (text or "").split(",")):
        if not term:
            continue
        match = _FIELD_TERM.match(term)
        if match is None:
            raise ValidationError(
                f"field selector {text!r}: term {term!r} is not field=value, field==value or field!=value"
            )
        path, op, value = match.groups()
        terms.append((tuple(path.split(".")), op != "!=", value))

    def matches(obj: Mapping[str, Any]) -> bool:
        return all((_field(obj, path) == value) == equal for path, equal, value in terms)

    return matches


_FIELD_TERM = re.compile(r"^([A-Za-z0-9_.-]+)\s*(==|!=|=)\s*([^\s,]*)$")


def _field(obj: Mapping[str, Any], path: tuple[str, ...]) -> str:
    value: Any = obj
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)
