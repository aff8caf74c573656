"""retry_on_conflict: retries lost races, nothing else."""

from __future__ import annotations

import pytest

from kubedtn.errors import NotFoundError
from kubedtn.store import AlreadyExistsError, ConflictError, retry_on_conflict


class Flaky:
    """Raises the given errors in turn, then returns how many calls it took."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.calls


def test_retries_conflicts_until_success() -> None:
    slept: list[float] = []
    fn = Flaky(ConflictError("stale"), ConflictError("stale"))
    assert retry_on_conflict(fn, 3, delay=0.5, sleep=slept.append) == 3
    assert len(slept) == 2
    assert all(0 <= s <= 0.5 for s in slept)


def test_gives_up_with_the_last_conflict() -> None:
    fn = Flaky(ConflictError("first"), ConflictError("last"))
    with pytest.raises(ConflictError, match="last"):
        retry_on_conflict(fn, 2, sleep=lambda _: None)
    assert fn.calls == 2


@pytest.mark.parametrize("error", [AlreadyExistsError("taken"), NotFoundError("gone"), ValueError("bug")])
def test_other_errors_are_not_retried(error: Exception) -> None:
    fn = Flaky(error)
    with pytest.raises(type(error)):
        retry_on_conflict(fn, 5, sleep=lambda _: None)
    assert fn.calls == 1


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts must be at least 1, got 0"):
        retry_on_conflict(Flaky(), 0)
