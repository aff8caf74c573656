"""kubedtn's keys in its network configuration entry."""

from __future__ import annotations

from typing import Any

import pytest

from kubedtn.cni.errors import CniError
from kubedtn.cni.options import PluginOptions, parse_options


def test_defaults_follow_the_daemon_contract() -> None:
    assert parse_options({"type": "kubedtn"}) == PluginOptions(
        daemon_socket="/run/kubedtn/daemon.sock",
        pod_list="/var/lib/kubedtn/topology-pods.json",
        daemon_wait_s=30.0,
    )


def test_every_key_can_be_set() -> None:
    got = parse_options({"daemonSocket": "/s.sock", "podList": "/p.json", "daemonWaitSeconds": 2.5})
    assert got == PluginOptions(daemon_socket="/s.sock", pod_list="/p.json", daemon_wait_s=2.5)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"daemonSocket": "run/d.sock"}, "daemonSocket must be an absolute path such as "),
        ({"daemonSocket": 5}, "daemonSocket must be an absolute path"),
        ({"podList": ""}, "podList must be an absolute path"),
        ({"daemonWaitSeconds": -1}, "daemonWaitSeconds must be a number of seconds from 0 to 600, got -1"),
        ({"daemonWaitSeconds": "30"}, "got '30'"),
        ({"daemonWaitSeconds": True}, "got True"),
        ({"daemonWaitSeconds": 601}, "got 601"),
    ],
)
def test_bad_values_are_code_7_naming_key_and_value(config: dict[str, Any], message: str) -> None:
    with pytest.raises(CniError) as caught:
        parse_options(config)
    assert caught.value.code == 7
    assert message in caught.value.msg
