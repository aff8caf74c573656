from __future__ import annotations

import pytest

from kubedtn.cni import versions
from kubedtn.cni.errors import CniError, Code


def test_supported_versions_are_ordered_and_latest_is_last() -> None:
    as_tuples = [versions.version_tuple(v) for v in versions.SUPPORTED_VERSIONS]
    assert as_tuples == sorted(as_tuples)
    assert versions.LATEST_VERSION == "1.1.0"


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        (b"", "1.1.0"),  # empty stdin is allowed: answer with the newest
        (b"  \n", "1.1.0"),
        (b'{"cniVersion": "0.4.0"}', "0.4.0"),  # a supported request version is echoed
        (b'{"cniVersion": "1.0.0", "name": "x"}', "1.0.0"),
        (b'{"cniVersion": "0.2.0"}', "1.1.0"),  # unsupported: the list tells the runtime
        (b"{}", "1.1.0"),
        (b'{"cniVersion": 1}', "1.1.0"),
    ],
)
def test_version_for_request(stdin: bytes, expected: str) -> None:
    assert versions.version_for_request(stdin) == expected


@pytest.mark.parametrize("stdin", [b"{", b"[]", b'"1.0.0"', b"\xff\xfe"])
def test_version_request_that_is_not_a_json_object_is_code_6(stdin: bytes) -> None:
    with pytest.raises(CniError) as caught:
        versions.version_for_request(stdin)
    assert caught.value.code == Code.DECODE_FAILED
    assert "VERSION request on stdin" in caught.value.msg


def test_version_info_lists_every_supported_version() -> None:
    assert versions.version_info("0.4.0") == {
        "cniVersion": "0.4.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }


def test_check_version_rejects_unsupported_with_code_1_and_lists_accepted() -> None:
    with pytest.raises(CniError) as caught:
        versions.check_version("0.2.0")
    assert caught.value.code == Code.INCOMPATIBLE_VERSION
    assert "'0.2.0'" in caught.value.msg
    assert "0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0" in caught.value.msg


def test_check_version_rejects_a_non_string_as_invalid_config() -> None:
    with pytest.raises(CniError) as caught:
        versions.check_version(1.0)
    assert caught.value.code == Code.INVALID_NETWORK_CONFIG
    assert "1.0" in caught.value.msg


def test_is_at_least_compares_numerically() -> None:
    assert versions.is_at_least("1.1.0", "0.4.0")
    assert versions.is_at_least("0.4.0", "0.4.0")
    assert not versions.is_at_least("0.3.1", "0.4.0")
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR\.PATCH"):
        versions.version_tuple("1.0")
