"""Retry a read-modify-write that lost an optimistic-concurrency race."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from kubedtn.store.errors import AlreadyExistsError, ConflictError

T = TypeVar("T")


def retry_on_conflict(
    fn: Callable[[], T],
    attempts: int = 5,
    *,
    delay: float = 0.01,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it does not raise ConflictError, at most ``attempts`` times.

    ``fn`` must do the whole read-modify-write (get, change, update), so each attempt
    starts from the current object. Between attempts it waits a random ``0..delay``
    seconds, which spreads out writers that collided. AlreadyExistsError is not
    retried: the name stays taken. The last ConflictError is re-raised.
    """
    if attempts < 1:
        raise ValueError(f"retry_on_conflict: attempts must be at least 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except AlreadyExistsError:
            raise
        except ConflictError:
            if attempt == attempts:
                raise
            sleep(random.uniform(0, delay))
    raise AssertionError("unreachable")
