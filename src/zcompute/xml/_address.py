"""Device addresses: PCI (with zPCI uid/fid), CCW, drive, virtio-serial and mdev source."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, get_args

from lxml import etree

from zcompute.errors import XMLError
from zcompute.xml._convert import ONOFF, UINT, BadValue, Converter, Hex, Int, Pattern
from zcompute.xml._enums import AddressType, choice
from zcompute.xml._fields import Attr
from zcompute.xml._object import XMLObject

__all__ = ["UUID", "Address"]

_TYPES = frozenset(get_args(AddressType))

#: libvirt's UUID syntax: 32 hex digits, with or without the 8-4-4-4-12 dashes.
UUID = Pattern(
    r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|[0-9a-fA-F]{32}",
    "a UUID such as 90c6c135-ad44-41d0-b1b7-bae47de48627",
)


def _is_pci(obj: XMLObject) -> bool:
    """Whether an address is a PCI one (libvirt writes its bus and slot in hex).

    Untyped addresses appear inside ``<hostdev><source>``; there a PCI address carries
    ``domain``/``function`` or sits in a ``type='pci'`` hostdev, while SCSI ones are
    decimal. libvirt parses drive and virtio-serial numbers in base 10 only, so
    anything not known to be PCI is written in decimal (which PCI also accepts).
    """
    el = obj._el
    kind = el.get("type")
    if kind is not None:
        return kind == "pci"
    if el.get("domain") is not None or el.get("function") is not None:
        return True
    source = el.getparent()
    if source is not None:
        hostdev = source.getparent() if source.tag == "source" else None
    elif obj._pending is not None:
        # a placeholder: the object it will be written into is the hostdev itself
        hostdev = obj._pending[0]._el
    else:
        hostdev = None
    return hostdev is not None and hostdev.tag == "hostdev" and hostdev.get("type") == "pci"


class _BusAttr(Attr[int]):
    """``bus``/``slot``: hex with a range check for PCI, decimal everywhere else."""

    __slots__ = ("pci",)

    def __init__(self, path: str, pci: Converter[int]) -> None:
        # elsewhere read leniently: libvirt never writes hex there, hand-written XML may
        super().__init__(path, Int(0, lenient=True))
        self.pci = pci

    def parse(self, obj: XMLObject, raw: str) -> int:
        try:
            return (self.pci if _is_pci(obj) else self.conv).parse(raw)
        except BadValue as bad:
            raise self.error(obj, bad) from None

    def format(self, obj: XMLObject, value: int) -> str:
        try:
            return (self.pci if _is_pci(obj) else self.conv).format(value)
        except BadValue as bad:
            raise self.error(obj, bad) from None


class Address(XMLObject):
    """``<address>``; which fields apply depends on ``type`` (see the factories).

    Ranges are checked on read and write: CCW cssid 0x00-0xfe, ssid 0-3, devno
    0x0000-0xffff; PCI domain/bus/slot/function; zPCI uid 0x0001-0xffff, fid 32 bits.
    """

    __slots__ = ()
    TAG = "address"
    ORDER = ("zpci",)

    type: Attr[AddressType] = Attr("@type", choice(AddressType))
    # PCI (domain, bus, slot, function), drive (controller, bus, target, unit) and
    # virtio-serial (controller, bus, port), declared in the order libvirt writes them
    domain: Attr[int] = Attr("@domain", Hex(0, 0xFFFF_FFFF, 4))
    controller: Attr[int] = Attr("@controller", UINT)
    bus: _BusAttr = _BusAttr("@bus", Hex(0, 0xFF, 2))
    slot: _BusAttr = _BusAttr("@slot", Hex(0, 0x1F, 2))
    function: Attr[int] = Attr("@function", Hex(0, 7, 1))
    multifunction: Attr[bool] = Attr("@multifunction", ONOFF)
    zpci_uid: Attr[int] = Attr("zpci/@uid", Hex(0x0001, 0xFFFF, 4))
    zpci_fid: Attr[int] = Attr("zpci/@fid", Hex(0, 0xFFFF_FFFF, 8))
    # CCW
    cssid: Attr[int] = Attr("@cssid", Hex(0x00, 0xFE, 1))
    ssid: Attr[int] = Attr("@ssid", Hex(0, 3, 1))
    devno: Attr[int] = Attr("@devno", Hex(0x0000, 0xFFFF, 4))
    target: Attr[int] = Attr("@target", UINT)
    unit: Attr[int] = Attr("@unit", UINT)
    port: Attr[int] = Attr("@port", UINT)
    # mediated device source (<hostdev type='mdev'><source><address uuid=.../>)
    uuid: Attr[str] = Attr("@uuid", UUID)

    # What a parse checks for each kind (attribute, converter); other kinds (usb ports
    # like '1.2', isa, ...) are kept as they are without interpretation.
    _KIND_FIELDS: ClassVar[dict[str | None, tuple[str, ...]]] = {
        "pci": ("domain", "bus", "slot", "function", "multifunction"),
        "ccw": ("cssid", "ssid", "devno"),
        "drive": ("controller", "bus", "target", "unit"),
        "virtio-serial": ("controller", "bus", "port"),
        None: ("domain", "bus", "slot", "function", "target", "unit", "uuid"),
    }
    _kind_checks: ClassVar[
        dict[tuple[str | None, bool], tuple[tuple[Attr[Any], Any, Any], ...]]
    ] = {}

    @classmethod
    def _checks_for(cls, kind: str | None, pci: bool) -> tuple[tuple[Attr[Any], Any, Any], ...]:
        key = (kind, pci)
        checks = cls._kind_checks.get(key)
        if checks is None:
            fields: list[Attr[Any]] = [cls._fields[n] for n in cls._KIND_FIELDS.get(kind, ())]  # type: ignore[misc]
            convs = [f.pci if pci and isinstance(f, _BusAttr) else f.conv for f in fields]
            # (field, converter, spellings known to be valid) - see Int.seen
            checks = tuple(
                (f, c, getattr(c, "seen", {})) for f, c in zip(fields, convs, strict=True)
            )
            cls._kind_checks[key] = checks
        return checks

    @classmethod
    def _checker(cls) -> Callable[..., None]:
        return cls._check_element

    @classmethod
    def _check_element(cls, el: etree._Element, _parent: object = None) -> None:
        kind = el.get("type")
        if kind is not None and kind not in _TYPES:
            raise XMLError("address/@type", f"unknown value {kind!r}", ", ".join(sorted(_TYPES)))
        pci = kind == "pci" or (kind is None and _is_pci(cls._wrap(el)))
        checks = cls._kind_checks.get((kind, pci)) or cls._checks_for(kind, pci)
        for field, conv, seen in checks:
            raw = el.get(field.attr)  # type: ignore[arg-type]
            if raw is not None and raw not in seen:
                try:
                    conv.parse(raw)
                except BadValue as bad:
                    raise XMLError(f"address/{field.path}", bad.message, bad.allowed) from None
        if pci and len(el):
            address = cls._wrap(el)
            cls._fields["zpci_uid"].check(address)
            cls._fields["zpci_fid"].check(address)

    @classmethod
    def pci(
        cls,
        domain: int,
        bus: int,
        slot: int,
        function: int,
        *,
        multifunction: bool | None = None,
        zpci_uid: int | None = None,
        zpci_fid: int | None = None,
    ) -> Address:
        """``<address type='pci' .../>``, optionally with a ``<zpci uid fid/>`` child."""
        values: dict[str, Any] = {"type": "pci", "domain": domain, "bus": bus}
        values.update(slot=slot, function=function, multifunction=multifunction)
        values.update(zpci_uid=zpci_uid, zpci_fid=zpci_fid)
        return cls(**{k: v for k, v in values.items() if v is not None})

    @classmethod
    def ccw(cls, cssid: int, ssid: int, devno: int) -> Address:
        """``<address type='ccw' cssid ssid devno/>`` (cssid 0xfe is virtio's)."""
        return cls(type="ccw", cssid=cssid, ssid=ssid, devno=devno)

    @classmethod
    def drive(cls, controller: int, bus: int, target: int, unit: int) -> Address:
        """``<address type='drive' .../>`` for SCSI, IDE and SATA disks."""
        return cls(type="drive", controller=controller, bus=bus, target=target, unit=unit)

    @classmethod
    def virtio_serial(cls, controller: int, bus: int, port: int) -> Address:
        """``<address type='virtio-serial' .../>`` for channels and virtio consoles."""
        return cls(type="virtio-serial", controller=controller, bus=bus, port=port)
