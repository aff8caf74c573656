from __future__ import annotations

import json

import pytest

from kubedtn import errors
from kubedtn.cni.errors import CniError, Code, from_exception


def test_error_result_has_the_spec_fields_and_omits_empty_details() -> None:
    error = CniError(Code.INVALID_NETWORK_CONFIG, "name must be a string")
    assert error.to_result("1.0.0") == {"cniVersion": "1.0.0", "code": 7, "msg": "name must be a string"}
    with_details = CniError(Code.TRY_AGAIN_LATER, "daemon not up", details="connect: refused")
    assert json.loads(with_details.to_json("0.4.0")) == {
        "cniVersion": "0.4.0",
        "code": 11,
        "msg": "daemon not up",
        "details": "connect: refused",
    }


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.ValidationError(["link 1: latency 'x' is not a duration", "link 2: bad"]), 7),
        (errors.NotFoundError("netns /proc/1/ns/net does not exist"), 3),
        (errors.TemporaryError("daemon not reachable"), 11),
        (errors.ConflictError("resourceVersion changed"), 11),
        (errors.DataplaneError("r1/eth1: RTM_NEWLINK: File exists"), 101),
        (errors.KubedtnError("something else of ours"), 999),
    ],
)
def test_kubedtn_errors_map_to_cni_codes(exc: errors.KubedtnError, code: int) -> None:
    error = from_exception(exc)
    assert error.code == code
    assert error.msg == str(exc).splitlines()[0]


def test_validation_problems_after_the_first_go_to_details() -> None:
    error = from_exception(errors.ValidationError(["first problem", "second problem", "third"]))
    assert error.msg == "first problem"
    assert error.details == "second problem\nthird"


def test_temporary_error_delay_is_in_details() -> None:
    error = from_exception(errors.TemporaryError("peer daemon down", delay=2.5))
    assert error.code == Code.TRY_AGAIN_LATER
    assert error.details == "retry after 2.5s"


def test_unexpected_exception_is_internal_and_names_the_type() -> None:
    error = from_exception(KeyError("links"))
    assert error.code == Code.INTERNAL == 999
    assert "KeyError" in error.msg
    assert "log file" in error.details


def test_cni_error_passes_through_unchanged() -> None:
    original = CniError(Code.UNSUPPORTED_FIELD, "ipMasq is not supported")
    assert from_exception(original) is original
