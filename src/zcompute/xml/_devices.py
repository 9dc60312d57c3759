"""``<devices>``: typed lists per device kind, ordered insertion, unknown devices kept."""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from zcompute.errors import XMLError
from zcompute.xml._chardev import Channel, Console, Serial
from zcompute.xml._children import ChildList, MaybeChild
from zcompute.xml._device import Controller, Device, Disk, Interface
from zcompute.xml._fields import Text
from zcompute.xml._object import XMLObject, parse_element
from zcompute.xml._other_devices import (
    RNG,
    Graphics,
    HostDev,
    Input,
    MemBalloon,
    Panic,
    Video,
    Watchdog,
)

__all__ = ["DEVICE_CLASSES", "DEVICE_ORDER", "Devices", "device_from_xml"]

#: The order libvirt writes device kinds in; a new device goes after the last one of
#: its kind (so disk order, which is boot-relevant, and console order are kept).
DEVICE_ORDER = (
    "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard",
    "serial", "parallel", "console", "channel", "input", "tpm", "graphics", "sound",
    "audio", "video", "hostdev", "redirdev", "redirfilter", "hub", "watchdog",
    "memballoon", "rng", "nvram", "panic", "shmem", "memory", "iommu", "vsock", "crypto",
)  # fmt: skip

#: Modelled device classes by element name.
DEVICE_CLASSES: dict[str, type[Device]] = {
    cls.TAG: cls
    for cls in (
        Disk, Controller, Interface, Serial, Console, Channel, Input, Graphics,
        Video, HostDev, Watchdog, MemBalloon, RNG, Panic,
    )
}  # fmt: skip


def device_from_xml(text: str | bytes) -> Device:
    """Parse a device snippet (as given to or returned by attach/detach) into its class."""
    root = parse_element(text, "device")
    tag = root.tag if isinstance(root.tag, str) else ""
    cls = DEVICE_CLASSES.get(tag)
    if cls is None:
        raise XMLError("device", f"unsupported device element <{tag}>", sorted(DEVICE_CLASSES))
    device = cls._wrap(root)
    device._check()
    return device


# the list (or single) field of Devices for each device element name, filled on first use
_FIELD_BY_TAG: dict[str, ChildList[Device] | MaybeChild[Device]] = {}


class Devices(XMLObject):
    """The guest's devices; lists are snapshots, change them with add/remove or assignment."""

    __slots__ = ()
    TAG = "devices"
    ORDER = DEVICE_ORDER

    emulator: Text[str] = Text("emulator")
    disks: ChildList[Disk] = ChildList(Disk)
    controllers: ChildList[Controller] = ChildList(Controller)
    interfaces: ChildList[Interface] = ChildList(Interface)
    serials: ChildList[Serial] = ChildList(Serial)
    consoles: ChildList[Console] = ChildList(Console)
    channels: ChildList[Channel] = ChildList(Channel)
    inputs: ChildList[Input] = ChildList(Input)
    graphics: ChildList[Graphics] = ChildList(Graphics)
    videos: ChildList[Video] = ChildList(Video)
    hostdevs: ChildList[HostDev] = ChildList(HostDev)
    watchdogs: ChildList[Watchdog] = ChildList(Watchdog)
    memballoon: MaybeChild[MemBalloon] = MaybeChild(MemBalloon)
    rngs: ChildList[RNG] = ChildList(RNG)
    panics: ChildList[Panic] = ChildList(Panic)

    def add(self, device: Device) -> None:
        """Insert ``device`` after the last device of its kind (libvirt's order).

        The device object stays bound: later changes to it change this document.
        """
        tag = device.TAG
        if DEVICE_CLASSES.get(tag) is not type(device):
            raise XMLError(
                "devices", f"cannot add a {type(device).__name__}", sorted(DEVICE_CLASSES)
            )
        if tag == "memballoon" and self._el.find("memballoon") is not None:
            raise XMLError("devices/memballoon", "a domain has at most one memballoon")
        field = self._field_for(tag)
        if isinstance(field, ChildList):
            field.add(self, device)
        else:
            field.write(self, device)  # the one memballoon

    def remove(self, device: Device) -> None:
        """Take ``device`` (a handle on one of this domain's devices) out of the document."""
        el = device._el
        if el.getparent() is not self._el:
            raise XMLError(f"devices/{device.TAG}", "this device is not part of this domain")
        self._el.remove(el)

    def _field_for(self, tag: str) -> ChildList[Device] | MaybeChild[Device]:
        if not _FIELD_BY_TAG:
            for field in self._fields.values():
                if isinstance(field, ChildList | MaybeChild):
                    _FIELD_BY_TAG[field.cls.TAG] = field
        return _FIELD_BY_TAG[tag]

    def __iter__(self) -> Iterator[Device]:
        """Every modelled device, in document order."""
        for el in self._el:
            cls = DEVICE_CLASSES.get(el.tag) if isinstance(el.tag, str) else None
            if cls is not None:
                yield cls._wrap(el)

    @property
    def unknown(self) -> list[etree._Element]:
        """Devices this layer does not model (kept untouched), e.g. ``<audio>`` or ``<tpm>``."""
        return [
            el
            for el in self._el
            if isinstance(el.tag, str) and el.tag != "emulator" and el.tag not in DEVICE_CLASSES
        ]
