"""Daemon log lines: one key=value line per event, values quoted when they need it."""

from __future__ import annotations

import logging

from kubedtn.daemon.logs import EventLog, KeyValueFormatter


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
