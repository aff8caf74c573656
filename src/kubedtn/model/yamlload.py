"""Loading YAML streams fast, with exactly PyYAML's safe-load result.

PyYAML's C loader parses in C but builds every node, resolves every plain scalar's type
(a regular-expression search) and constructs every object in Python, and for a large lab
file that work, not the parsing, is most of the time. Topology files are plain
mappings, lists and scalars whose keys and many values repeat, so ``load_all`` builds the
objects straight from libyaml's events and resolves each distinct plain scalar once.

Anything unusual — merge keys, tags other than the standard scalar ones, unhashable keys,
a scalar the safe constructor refuses, any parse error — is left to ``yaml.load_all``
itself, so results and error messages stay PyYAML's.
"""

from __future__ import annotations

from typing import Any, Final

import yaml

_CParser: Any = getattr(yaml, "CSafeLoader", None)
_Loader: Any = _CParser or yaml.SafeLoader

_MERGE: Final = "tag:yaml.org,2002:merge"
_VALUE: Final = "tag:yaml.org,2002:value"


class _UnusualError(Exception):
    """The fast path does not handle this stream; PyYAML's loader will."""


def load_all(text: str) -> list[Any]:
    """Every document of ``text`` as ``list(yaml.load_all(text, Loader=CSafeLoader))`` gives
    them (and its errors), built faster."""
    if _CParser is not None:
        try:
            return _EventBuilder(text).documents()
        except (_UnusualError, yaml.YAMLError):
            pass
    return list(yaml.load_all(text, Loader=_Loader))


class _EventBuilder:
    """Objects from the parser's events: a stack of open collections, a memo of plain scalars."""

    def __init__(self, text: str) -> None:
        self.loader = _CParser(text)
        self.plain: dict[str, Any] = {}  # plain scalar text → its value (immutable values only)
        self.anchors: dict[str, Any] = {}

    def documents(self) -> list[Any]:
        loader = self.loader
        try:
            docs: list[Any] = []
            loader.get_event()  # StreamStart
            while not loader.check_event(yaml.StreamEndEvent):
                loader.get_event()  # DocumentStart
                docs.append(self._node(loader.get_event()))
                loader.get_event()  # DocumentEnd
                self.anchors.clear()
            return docs
        finally:
            loader.dispose()

    def _node(self, event: Any) -> Any:
        """The object of the node starting with ``event`` (collections iteratively; the
        loop is written for speed: it runs once per event)."""
        if event.__class__ not in _STARTS:
            return self._leaf(event)
        get_event, leaf, open_ = self.loader.get_event, self._leaf, self._open
        scalar, plain = yaml.ScalarEvent, self.plain
        root = open_(event)
        # Each frame: the collection being filled and, for a mapping, its pending key.
        stack: list[list[Any]] = [[root, _NO_KEY]]
        frame = stack[-1]
        while True:
            event = get_event()
            cls = event.__class__
            if cls in _ENDS:
                stack.pop()
                if not stack:
                    return root
                frame = stack[-1]
                continue
            child = False
            if cls is scalar:
                # A plain scalar seen before: its value (most keys and many values repeat).
                value = (
                    plain.get(event.value, _NO_KEY) if event.tag is None and event.anchor is None else _NO_KEY
                )
                if value is _NO_KEY or not event.implicit[0]:
                    value = self._scalar(event)
            elif cls in _STARTS:
                value, child = open_(event), True
            else:
                value = leaf(event)
            container = frame[0]
            if container.__class__ is list:
                container.append(value)
            elif frame[1] is _NO_KEY:
                if child:
                    raise _UnusualError("a collection as a mapping key")
                frame[1] = value
                continue
            else:
                try:
                    container[frame[1]] = value
                except TypeError:
                    raise _UnusualError("an unhashable mapping key") from None
                frame[1] = _NO_KEY
            if child:
                frame = [value, _NO_KEY]
                stack.append(frame)

    def _open(self, event: Any) -> Any:
        if event.tag is not None and event.tag != "!":
            raise _UnusualError(f"tag {event.tag}")
        value: Any = {} if event.__class__ is yaml.MappingStartEvent else []
        if event.anchor is not None:
            self.anchors[event.anchor] = value
        return value

    def _leaf(self, event: Any) -> Any:
        if event.__class__ is yaml.ScalarEvent:
            return self._scalar(event)
        if event.__class__ is not yaml.AliasEvent:
            raise _UnusualError(f"event {event}")
        if event.anchor not in self.anchors:
            raise _UnusualError("an undefined alias")
        return self.anchors[event.anchor]

    def _scalar(self, event: Any) -> Any:
        tag, text = event.tag, event.value
        if tag is None and event.implicit[0]:  # plain: the type is resolved from the text
            value = self.plain.get(text, _NO_KEY)
            if value is _NO_KEY:
                value = self.plain[text] = self._construct(self._plain_tag(text), text, event.style)
        elif tag is None or tag == "!":
            value = text
        else:
            value = self._construct(tag, text, event.style)
        if event.anchor is not None:
            self.anchors[event.anchor] = value
        return value

    def _plain_tag(self, text: str) -> str:
        tag: str = self.loader.resolve(yaml.ScalarNode, text, (True, False))
        return tag

    def _construct(self, tag: str, text: str, style: str | None) -> Any:
        if tag in (_MERGE, _VALUE):
            raise _UnusualError(f"tag {tag}")
        try:
            return self.loader.construct_object(yaml.ScalarNode(tag, text, style=style or None), deep=True)
        except yaml.YAMLError:
            raise _UnusualError(f"scalar {text!r} ({tag})") from None


_NO_KEY: Final = object()
_STARTS: Final = frozenset({yaml.MappingStartEvent, yaml.SequenceStartEvent})
_ENDS: Final = frozenset({yaml.MappingEndEvent, yaml.SequenceEndEvent})
