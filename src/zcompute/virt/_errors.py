"""Mapping of libvirt's errors into zcompute's hierarchy (the one place it happens)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import libvirt

from zcompute.errors import (
    BusFull,
    GuestAgentUnavailable,
    HypervisorUnavailable,
    InvalidState,
    NotFound,
    SchemaError,
    VirtError,
    XMLError,
)

_NOT_FOUND = {
    libvirt.VIR_ERR_NO_DOMAIN: "domain",
    libvirt.VIR_ERR_NO_NETWORK: "network",
    libvirt.VIR_ERR_NO_STORAGE_POOL: "storage pool",
    libvirt.VIR_ERR_NO_STORAGE_VOL: "storage volume",
    libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT: "snapshot",
    libvirt.VIR_ERR_NO_SECRET: "secret",
}
_UNREACHABLE = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_RPC}
_NO_AGENT = {libvirt.VIR_ERR_AGENT_UNRESPONSIVE, libvirt.VIR_ERR_AGENT_UNSYNCED}
_BAD_XML = {libvirt.VIR_ERR_XML_ERROR, libvirt.VIR_ERR_XML_DETAIL}
_SCHEMA = {
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
    libvirt.VIR_ERR_XML_INVALID_SCHEMA,
}
# libvirt reports a bus without a free address as an internal error; only the text tells
# (x86 and arm: PCI bus 0 has no free slot; s390x: no free CCW device number).
_BUS_FULL = re.compile(r"No more available PCI slots|no more free CCW devnos", re.IGNORECASE)


def _quiet_handler(_ctx: Any, _err: Any) -> None:
    """libvirt prints every error to stderr by default; we report errors ourselves."""


libvirt.registerErrorHandler(_quiet_handler, None)


def map_error(err: libvirt.libvirtError, *, what: str = "") -> Exception:
    """Translate one libvirt error into the matching zcompute exception."""
    code = err.get_error_code()
    message = err.get_error_message() or str(err)
    if _BUS_FULL.search(message):
        return BusFull(message)
    if code in _NOT_FOUND:
        return NotFound(_NOT_FOUND[code], what or message, message)
    if code in _NO_AGENT or (code == libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED and "agent" in message):
        return GuestAgentUnavailable(message)
    if code == libvirt.VIR_ERR_OPERATION_INVALID:
        return InvalidState(message)
    if code in _BAD_XML:
        return XMLError(what or "domain XML", message)
    if code in _SCHEMA:
        return SchemaError(what or "domain XML", message)
    if code in _UNREACHABLE and err.get_error_domain() in (
        libvirt.VIR_FROM_REMOTE,
        libvirt.VIR_FROM_RPC,
    ):
        return HypervisorUnavailable(message, code)
    if code == libvirt.VIR_ERR_INTERNAL_ERROR and err.get_error_domain() == libvirt.VIR_FROM_RPC:
        return HypervisorUnavailable(message, code)  # "client socket is closed"
    return VirtError(message, code)


@contextlib.contextmanager
def libvirt_errors(what: str = "") -> Iterator[None]:
    """Run a block of libvirt calls, re-raising libvirt errors as zcompute errors."""
    try:
        yield
    except libvirt.libvirtError as err:
        raise map_error(err, what=what) from err
