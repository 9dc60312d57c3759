"""The one exception hierarchy of zcompute.

Every error zcompute raises is a :class:`ZcomputeError`. Errors from libvirt are
mapped into this tree at one boundary (:mod:`zcompute.virt`) with ``raise ... from``,
so callers never need to import libvirt to handle a failure; an ``OSError`` is mapped the same
way (:func:`from_os_error`), so no caller of the driver sees one::

    ZcomputeError
    ├── InvalidInput            bad value from a user, an image or a flavor; names the field
    │   ├── XMLError            malformed or structurally invalid XML
    │   │   └── SchemaError     rejected by libvirt's RelaxNG schema or by libvirt itself
    │   ├── ConfigError         a bad configuration setting
    │   └── HostDataError       unparsable capabilities / domcaps / cpuinfo input
    ├── FeatureUnsupported      the architecture's profile says the feature is missing
    ├── NotFound                an instance, image, flavor, domain or device that is not there
    ├── InvalidState            the operation does not fit the instance's current state
    │   └── GuestAgentUnavailable   no guest agent channel, or the agent does not answer
    │       └── NoGuestAgentChannel the guest has no channel (hw_qemu_guest_agent not set)
    ├── Conflict                something with that name or target already exists / is in use
    │   └── BusFull             a guest's device bus has no free address left (PCI slots, CCW)
    ├── Timeout                 a wait ran out (guest never got ready, device never appeared)
    ├── ImageError              image store failures (format, checksum, unsafe backing file)
    ├── NoSpace                 the data directory's file system is full: free space first
    ├── VolumeError             volume connector failures (HBA, LUN, path never appears)
    ├── HostFileError           a host file or directory that cannot be read or written; names it
    ├── NetworkDeviceError      a host network device (a guest's tap) not created or removed
    └── VirtError               any other libvirt failure; carries libvirt's code and message
        ├── HypervisorUnavailable   libvirtd cannot be reached
        └── HostUnsupported     libvirt or QEMU older than zcompute's tested minimum
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "BusFull",
    "ConfigError",
    "Conflict",
    "FeatureUnsupported",
    "GuestAgentUnavailable",
    "HostDataError",
    "HostFileError",
    "HostUnsupported",
    "HypervisorUnavailable",
    "ImageError",
    "InvalidInput",
    "InvalidState",
    "NetworkDeviceError",
    "NoGuestAgentChannel",
    "NoSpace",
    "NotFound",
    "SchemaError",
    "Timeout",
    "VirtError",
    "VolumeError",
    "XMLError",
    "ZcomputeError",
    "from_os_error",
]


class ZcomputeError(Exception):
    """Base of every error zcompute raises."""


class InvalidInput(ZcomputeError, ValueError):
    """A value given to zcompute is not acceptable.

    ``field`` names what was wrong (an XML attribute path, a flavor key, a CLI option)
    and ``allowed`` describes the values that would have been accepted.
    """

    def __init__(
        self,
        field: str,
        message: str,
        allowed: Iterable[str] | str | None = None,
    ) -> None:
        self.field = field
        self.message = message
        if allowed is None or isinstance(allowed, str):
            self.allowed: str | None = allowed
        else:
            self.allowed = ", ".join(allowed)
        text = f"{field}: {message}"
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        super().__init__(text)


class XMLError(InvalidInput):
    """Malformed XML, or XML that is structurally invalid for what it describes."""


class SchemaError(XMLError):
    """A document rejected by libvirt's RelaxNG schema or by libvirt's own validation."""


class ConfigError(InvalidInput):
    """A configuration setting that cannot be used."""


class HostDataError(InvalidInput):
    """Host capabilities, domain capabilities or cpuinfo that cannot be understood."""


class FeatureUnsupported(ZcomputeError):
    """A feature the architecture's profile lists as missing was asked for."""

    def __init__(self, feature: str, arch: str, note: str = "") -> None:
        self.feature = feature
        self.arch = arch
        text = f"{feature} is not supported on {arch}"
        if note:
            text += f": {note}"
        super().__init__(text)


class NotFound(ZcomputeError):
    """The named object does not exist."""

    def __init__(self, kind: str, name: str, detail: str | None = None) -> None:
        self.kind = kind
        self.name = name
        super().__init__(detail or f"{kind} {name!r} not found")


class InvalidState(ZcomputeError):
    """The operation is not allowed in the object's current state."""


class GuestAgentUnavailable(InvalidState):
    """The guest has no guest agent channel, or its agent does not answer (yet)."""


class NoGuestAgentChannel(GuestAgentUnavailable):
    """The guest has no guest agent channel: its image (or flavor) does not ask for one."""


class Conflict(ZcomputeError):
    """An object with that identity already exists, or the object is in use."""


class BusFull(Conflict):
    """A device could not be added: the guest's bus has no free address (slot, devno) left."""


class Timeout(ZcomputeError):
    """A wait ran out before the awaited condition held."""


class ImageError(ZcomputeError):
    """An image could not be imported, inspected or used."""


class NoSpace(ZcomputeError):
    """The data directory's file system is full; reads and deletes still work."""


class VolumeError(ZcomputeError):
    """A volume could not be connected, found or disconnected."""


class HostFileError(ZcomputeError):
    """A file or directory on the host could not be read or written; ``path`` names it."""

    def __init__(self, path: str | None, message: str, errno: int | None = None) -> None:
        self.path = path
        self.errno = errno
        super().__init__(f"{path}: {message}" if path else message)


class NetworkDeviceError(ZcomputeError):
    """A host network device (a guest's tap) could not be created, set up or removed;
    ``device`` names it."""

    def __init__(self, device: str, message: str) -> None:
        self.device = device
        super().__init__(f"network device {device}: {message}")


class VirtError(ZcomputeError):
    """A libvirt call failed; ``code`` is libvirt's error number when known."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class HypervisorUnavailable(VirtError):
    """libvirtd could not be reached."""


class HostUnsupported(VirtError):
    """The host's libvirt or QEMU is older than the minimum zcompute is tested on."""


def from_os_error(err: OSError, doing: str = "") -> ZcomputeError:
    """``err`` as the zcompute error that says what went wrong with which path.

    A missing file is :class:`NotFound` (exit code 3 on the command line); everything else
    (permissions, a full disk, a directory where a file was expected) is :class:`HostFileError`.
    ``doing`` says what zcompute was doing, e.g. ``"cannot create the instance directory"``.
    """
    path = None if err.filename is None else str(err.filename)
    if err.filename2 is not None:
        path = f"{path} -> {err.filename2}"  # a rename or link
    reason = err.strerror or str(err)
    message = f"{doing}: {reason}" if doing else reason
    if isinstance(err, FileNotFoundError) and path is not None:
        return NotFound("file", path, f"{path}: {message}")
    return HostFileError(path, message, err.errno)
