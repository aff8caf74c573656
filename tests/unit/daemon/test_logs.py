"""Daemon log lines: one key=value line per event, values quoted when they need it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubedtn.daemon.logs import FIELDS_ATTR, EventLog, KeyValueFormatter, configure_logging
from tests.support.filemodes import mode, usual_umask


def test_bound_and_call_fields_come_out_as_key_value_pairs() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("kubedtn.test.logs")
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)
    EventLog(logger).bind(pod="r1", namespace="default", action="setup").info(
        "links plumbed", link=3, error='a "b"\nc'
    )
    line = KeyValueFormatter().format(records[0])
    assert line.startswith("ts=") and "\n" not in line
    assert (
        ' level=info logger=kubedtn.test.logs msg="links plumbed" pod=r1 namespace=default action=setup'
        " link=3" in line
    )
    assert line.endswith(' error="a \\"b\\"\\nc"')


@pytest.fixture
def umask_022() -> Iterator[None]:
    with usual_umask():
        yield


@pytest.fixture
def restore_kubedtn_logging() -> Iterator[None]:
    root = logging.getLogger("kubedtn")
    handlers, level, propagate = list(root.handlers), root.level, root.propagate
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = propagate


@pytest.mark.usefixtures("umask_022", "restore_kubedtn_logging")
def test_the_log_file_rotates_by_size_keeps_its_backups_and_every_file_is_0600(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "daemon.log"
    configure_logging(log_file=log_file, max_bytes=2000, backups=2)
    logger = logging.getLogger("kubedtn.test.rotation")
    for n in range(100):  # ~120 bytes a line: several rotations
        logger.info("line %03d", n, extra={FIELDS_ATTR: {"padding": "x" * 40}})
    names = sorted(p.name for p in log_file.parent.iterdir())
    assert names == ["daemon.log", "daemon.log.1", "daemon.log.2"]
    assert all(mode(p) == 0o600 for p in log_file.parent.iterdir())
    assert all(p.stat().st_size <= 2000 for p in log_file.parent.iterdir())
    # The newest lines are in the current file, the ones before in .1: nothing in between lost.
    current = log_file.read_text().splitlines()
    previous = (tmp_path / "logs" / "daemon.log.1").read_text().splitlines()
    assert 'msg="line 099"' in current[-1]
    numbers = [int(line.split('msg="line ')[1][:3]) for line in previous + current]
    assert numbers == list(range(numbers[0], 100))


@pytest.mark.usefixtures("umask_022", "restore_kubedtn_logging")
def test_a_log_file_an_older_kubedtn_made_0644_is_narrowed(tmp_path: Path) -> None:
    log_file = tmp_path / "daemon.log"
    log_file.write_text("an older line\n")
    log_file.chmod(0o644)
    configure_logging(log_file=log_file)
    logging.getLogger("kubedtn.test.mode").info("next")
    assert mode(log_file) == 0o600
    assert log_file.read_text().startswith("an older line\n")
