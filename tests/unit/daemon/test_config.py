"""Daemon settings: flag, else environment, else default; bad values named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedtn.daemon.config import DaemonConfig, TlsFiles, global_address, load_config, parse_http_addr
from kubedtn.errors import ValidationError


def load(
    flags: dict[str, object] | None = None, env: dict[str, str] | None = None, ip: str | None = "10.0.0.5"
) -> DaemonConfig:
    return load_config(flags or {}, env or {}, detect_ip=lambda: ip, hostname=lambda: "node-a")


def test_defaults_are_kube_dtns_ports_and_the_standard_paths() -> None:
    c = load()
    assert (c.grpc_port, c.http_host, c.http_port, c.host_ip) == (51111, "", 51112, "10.0.0.5")
    assert c.socket_path == Path("/run/kubedtn/daemon.sock") and c.pidfile == Path("/run/kubedtn/daemon.pid")
    assert c.store_path == Path("/var/lib/kubedtn/store.db")
    assert c.pod_list_path == Path("/var/lib/kubedtn/topology-pods.json")
    assert c.grpc_address == "[::]:51111" and c.node_name == "node-a" and c.tcpip_bypass is False


def test_environment_is_used_and_flags_win_over_it() -> None:
    env = {
        "GRPC_PORT": "6000",
        "HTTP_ADDR": "127.0.0.1:9100",
        "HOST_IP": "10.1.1.1",
        "TCPIP_BYPASS": "true",
        "KUBEDTN_STATE_DIR": "/srv/k",
        "KUBEDTN_SOCKET": "/tmp/x/d.sock",
    }
    c = load(env=env)
    assert (c.grpc_port, c.http_host, c.http_port, c.host_ip, c.tcpip_bypass) == (
        6000,
        "127.0.0.1",
        9100,
        "10.1.1.1",
        True,
    )
    assert c.store_path == Path("/srv/k/store.db") and c.pidfile == Path("/tmp/x/daemon.pid")
    c = load(flags={"grpc_port": "7000", "host_ip": "fd00::1", "grpc_bind": "127.0.0.1"}, env=env)
    assert (c.grpc_port, c.host_ip, c.grpc_address) == (7000, "fd00::1", "127.0.0.1:7000")


def test_metrics_can_be_turned_off_and_take_ipv6_hosts() -> None:
    assert parse_http_addr("off", what="HTTP_ADDR") == ("", None)
    assert parse_http_addr("[::1]:9100", what="HTTP_ADDR") == ("::1", 9100)


def test_every_bad_value_is_reported_with_its_source_and_what_is_accepted() -> None:
    with pytest.raises(ValidationError) as caught:
        load(
            flags={"grpc_port": "70000"},
            env={"HTTP_ADDR": "nope", "HOST_IP": "10.0.0.300", "TCPIP_BYPASS": "maybe"},
        )
    text = str(caught.value)
    assert "--grpc-port: '70000' is not a TCP port (an integer 0..65535" in text
    assert "HTTP_ADDR: 'nope' is not HOST:PORT" in text
    assert "HOST_IP: '10.0.0.300' is not an IPv4 or IPv6 address" in text
    assert "TCPIP_BYPASS: 'maybe' is not a boolean" in text


def test_no_host_ip_anywhere_is_an_error_that_says_how_to_set_it() -> None:
    with pytest.raises(ValidationError, match="set --host-ip or HOST_IP"):
        load(ip=None)


def test_global_address_prefers_ipv4_and_skips_loopback_and_link_local() -> None:
    assert global_address(["127.0.0.1/8", "fe80::1/64", "fd00::5/64", "192.168.3.4/24"]) == "192.168.3.4"
    assert global_address(["127.0.0.1/8", "fe80::1/64", "fd00::5/64"]) == "fd00::5"
    assert global_address(["127.0.0.1/8"]) is None


def test_local_stays_off_tcp_unless_asked_and_netns_dirs_are_a_list() -> None:
    c = load()
    assert c.insecure_local_tcp is False and "/var/run/netns" in c.netns_dirs
    c = load(flags={"insecure_local_tcp": True}, env={"KUBEDTN_NETNS_DIRS": "/run/netns/, /srv/ns"})
    assert c.insecure_local_tcp is True and c.netns_dirs == ("/run/netns", "/srv/ns")
    with pytest.raises(ValidationError) as caught:
        load(env={"KUBEDTN_NETNS_DIRS": "run/netns,/a/../b", "KUBEDTN_INSECURE_LOCAL_TCP": "perhaps"})
    text = str(caught.value)
    assert "KUBEDTN_NETNS_DIRS: 'run/netns,/a/../b' is not a comma-separated list of absolute" in text
    assert "KUBEDTN_INSECURE_LOCAL_TCP: 'perhaps' is not a boolean" in text


def test_tls_takes_all_three_files_and_excludes_insecure_remote_tcp() -> None:
    assert load().tls is None and load().insecure_remote_tcp is False
    c = load(
        flags={"tls_cert": "/etc/k/tls.crt", "tls_key": "/etc/k/tls.key"},
        env={"KUBEDTN_TLS_CA": "/etc/k/ca.crt"},
    )
    assert c.tls == TlsFiles(
        cert=Path("/etc/k/tls.crt"), key=Path("/etc/k/tls.key"), ca=Path("/etc/k/ca.crt")
    )
    assert load(env={"KUBEDTN_INSECURE_REMOTE_TCP": "yes"}).insecure_remote_tcp is True
    with pytest.raises(ValidationError) as caught:
        load(flags={"tls_cert": "/etc/k/tls.crt"})
    assert str(caught.value).startswith(
        "--tls-key (KUBEDTN_TLS_KEY), --tls-ca (KUBEDTN_TLS_CA): not given; mutual TLS needs"
    )
    with pytest.raises(ValidationError) as caught:
        load(
            flags={"tls_cert": "a", "tls_key": "b", "tls_ca": "c", "insecure_remote_tcp": True},
        )
    assert "--insecure-remote-tcp: given with --tls-cert; Remote is served either with mutual TLS" in str(
        caught.value
    )


def test_tls_excludes_local_on_tcp() -> None:
    """With TLS on the port, --insecure-local-tcp would open Local to any node's certificate."""
    with pytest.raises(ValidationError) as caught:
        load(flags={"tls_cert": "a", "tls_key": "b", "tls_ca": "c", "insecure_local_tcp": True})
    assert "--insecure-local-tcp: given with --tls-cert; Local on TCP is kube-dtn's" in str(caught.value)
    assert load(flags={"insecure_local_tcp": True}).insecure_local_tcp is True
