"""The one map of libvirt's errors: what reaches the caller when libvirtd goes away."""

from __future__ import annotations

import libvirt
import pytest

from zcompute.errors import (
    BusFull,
    Conflict,
    HypervisorUnavailable,
    InvalidState,
    NotFound,
    VirtError,
)
from zcompute.virt._errors import map_error


def _error(code: int, domain: int, message: str) -> libvirt.libvirtError:
    err = libvirt.libvirtError(message)
    err.err = (code, domain, message, libvirt.VIR_ERR_ERROR, "", "", "", 0, 0)
    return err


@pytest.mark.parametrize(
    ("code", "domain", "message"),
    [
        (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_FROM_RPC, "End of file while reading data"),
        (libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_FROM_REMOTE, "no connection driver"),
        (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_RPC, "client socket is closed"),
    ],
)
def test_a_lost_libvirtd_is_unavailable_whatever_libvirt_calls_it(
    code: int, domain: int, message: str
) -> None:
    mapped = map_error(_error(code, domain, message))
    assert isinstance(mapped, HypervisorUnavailable)
    assert message in str(mapped)


def test_other_errors_keep_their_meaning() -> None:
    assert isinstance(
        map_error(_error(libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_QEMU, "no domain")), NotFound
    )
    assert isinstance(
        map_error(_error(libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_FROM_QEMU, "not running")),
        InvalidState,
    )
    internal = map_error(_error(libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_QEMU, "qemu died"))
    assert type(internal) is VirtError


@pytest.mark.parametrize(
    "message",
    [
        "internal error: No more available PCI slots",  # x86: PCI bus 0 is full
        "internal error: There are no more free CCW devnos.",  # s390x
    ],
)
def test_a_full_bus_is_a_conflict_of_its_own(message: str) -> None:
    """libvirt says so only in its message; the one error map knows it, not the driver."""
    mapped = map_error(_error(libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_QEMU, message))
    assert isinstance(mapped, BusFull)
    assert isinstance(mapped, Conflict)  # what callers that handle "in use" already catch
    assert str(mapped) == message
