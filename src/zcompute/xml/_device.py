"""The device base class and the storage and network devices (disk, controller, interface)."""

from __future__ import annotations

from zcompute.xml._address import UUID, Address
from zcompute.xml._children import Child, MaybeChild
from zcompute.xml._convert import UINT, YESNO, Int, Pattern
from zcompute.xml._enums import (
    ControllerType,
    DirectMode,
    DiskAuthSecret,
    DiskBus,
    DiskCache,
    DiskDevice,
    DiskDiscard,
    DiskIO,
    DiskProtocol,
    DiskType,
    EncryptionEngine,
    EncryptionFormat,
    InterfaceType,
    LinkState,
    choice,
)
from zcompute.xml._fields import Attr, Flag, Text
from zcompute.xml._object import XMLObject

__all__ = [
    "LOADPARM",
    "MAC",
    "BackingStore",
    "Controller",
    "Device",
    "Disk",
    "Interface",
    "Iotune",
]

#: s390x boot menu selector: 1-8 letters, digits, dots or blanks (libvirt upper-cases it).
LOADPARM = Pattern(r"[a-zA-Z0-9.\s]{1,8}", "1 to 8 letters, digits, '.' or blanks")
MAC = Pattern(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}", "a MAC address such as 52:54:00:12:34:56")
_PORT = Int(0, 65535)
_BOOT_ORDER = Int(1)

# elements every device may end with, in libvirt's order
_DEVICE_TAIL = ("boot", "alias", "acpi", "rom", "address")


class Device(XMLObject):
    """Common to every device: libvirt's alias and the guest-side address.

    A device's :meth:`to_xml` is the snippet libvirt's attach/detach calls take.
    """

    __slots__ = ()

    alias: Attr[str] = Attr("alias/@name")
    address: Child[Address] = Child(Address)


class Iotune(XMLObject):
    """``<disk><iotune>``: throttling limits (bytes and I/O operations per second)."""

    __slots__ = ()
    TAG = "iotune"
    ORDER = (
        "total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
        "total_iops_sec", "read_iops_sec", "write_iops_sec",
    )  # fmt: skip

    total_bytes_sec: Text[int] = Text("total_bytes_sec", UINT)
    read_bytes_sec: Text[int] = Text("read_bytes_sec", UINT)
    write_bytes_sec: Text[int] = Text("write_bytes_sec", UINT)
    total_iops_sec: Text[int] = Text("total_iops_sec", UINT)
    read_iops_sec: Text[int] = Text("read_iops_sec", UINT)
    write_iops_sec: Text[int] = Text("write_iops_sec", UINT)


class BackingStore(XMLObject):
    """``<backingStore>``: the read-only layer below a disk's image (its backing file).

    Given in a definition, the layer is libvirt's to use as written instead of the name the
    image's header holds. ``dac_relabel=False`` (``<seclabel model='dac' relabel='no'/>`` on
    the layer's source) keeps libvirt from giving that file to the QEMU user: a base image
    that many guests share stays its owner's, and QEMU reads it through the file's group and
    mode. Layers further down (a nested ``<backingStore>``) are kept as they are, unmodelled.
    """

    __slots__ = ()
    TAG = "backingStore"
    ORDER = ("format", "source", "backingStore")

    type: Attr[DiskType] = Attr("@type", choice(DiskType))
    # libvirt numbers the layers of a running guest's chain (the top image is 1)
    index: Attr[int] = Attr("@index", Int(1))
    format: Attr[str] = Attr("format/@type")
    source_file: Attr[str] = Attr("source/@file")
    source_dev: Attr[str] = Attr("source/@dev")
    dac_relabel: Attr[bool] = Attr("source/seclabel[@model='dac']/@relabel", YESNO)


class Disk(Device):
    """``<disk>``: a file, block device, directory or network volume seen by the guest."""

    __slots__ = ()
    TAG = "disk"
    ORDER = (
        "driver", "auth", "source", "backingStore", "geometry", "blockio", "mirror",
        "target", "iotune", "readonly", "shareable", "transient", "serial", "wwn",
        "vendor", "product", "encryption", *_DEVICE_TAIL,
        # a network source's children, in libvirt's order
        "source/host", "source/snapshot", "source/config", "source/initiator", "source/auth",
        "source/encryption",
    )  # fmt: skip

    type: Attr[DiskType] = Attr("@type", choice(DiskType))
    device: Attr[DiskDevice] = Attr("@device", choice(DiskDevice))
    driver_name: Attr[str] = Attr("driver/@name")
    driver_type: Attr[str] = Attr("driver/@type")
    driver_cache: Attr[DiskCache] = Attr("driver/@cache", choice(DiskCache))
    driver_io: Attr[DiskIO] = Attr("driver/@io", choice(DiskIO))
    driver_discard: Attr[DiskDiscard] = Attr("driver/@discard", choice(DiskDiscard))
    source_file: Attr[str] = Attr("source/@file")
    source_dev: Attr[str] = Attr("source/@dev")
    source_dir: Attr[str] = Attr("source/@dir")
    source_protocol: Attr[DiskProtocol] = Attr("source/@protocol", choice(DiskProtocol))
    source_name: Attr[str] = Attr("source/@name")
    source_host_name: Attr[str] = Attr("source/host/@name")
    source_host_port: Attr[int] = Attr("source/host/@port", _PORT)
    # the iSCSI initiator name QEMU logs in with (target ACLs may name it)
    source_initiator_iqn: Attr[str] = Attr("source/initiator/iqn/@name")
    # CHAP: the user, and the libvirt secret that holds the password (never the password)
    source_auth_username: Attr[str] = Attr("source/auth/@username")
    source_auth_secret_type: Attr[DiskAuthSecret] = Attr(
        "source/auth/secret/@type", choice(DiskAuthSecret)
    )
    source_auth_secret_uuid: Attr[str] = Attr("source/auth/secret/@uuid", UUID)
    backing_store: MaybeChild[BackingStore] = MaybeChild(BackingStore)
    target_dev: Attr[str] = Attr("target/@dev")
    target_bus: Attr[DiskBus] = Attr("target/@bus", choice(DiskBus))
    iotune: Child[Iotune] = Child(Iotune)
    readonly: Flag = Flag("readonly")
    shareable: Flag = Flag("shareable")
    serial: Text[str] = Text("serial")
    boot_order: Attr[int] = Attr("boot/@order", _BOOT_ORDER)
    boot_loadparm: Attr[str] = Attr("boot/@loadparm", LOADPARM)
    # an encrypted volume that QEMU (engine) decrypts with the passphrase in a libvirt secret
    encryption_format: Attr[EncryptionFormat] = Attr("encryption/@format", choice(EncryptionFormat))
    encryption_engine: Attr[EncryptionEngine] = Attr("encryption/@engine", choice(EncryptionEngine))
    encryption_secret_uuid: Attr[str] = Attr("encryption/secret[@type='passphrase']/@uuid", UUID)
    # the same, as libvirt writes it where it rewrote the storage source (a block copy's pivot)
    source_encryption_format: Attr[EncryptionFormat] = Attr(
        "source/encryption/@format", choice(EncryptionFormat)
    )
    source_encryption_engine: Attr[EncryptionEngine] = Attr(
        "source/encryption/@engine", choice(EncryptionEngine)
    )
    source_encryption_secret_uuid: Attr[str] = Attr(
        "source/encryption/secret[@type='passphrase']/@uuid", UUID
    )


class Controller(Device):
    """``<controller>``: SCSI (virtio-scsi), USB (model none), PCI, virtio-serial, ..."""

    __slots__ = ()
    TAG = "controller"
    ORDER = ("model", "target", "driver", "pcihole64", *_DEVICE_TAIL)

    type: Attr[ControllerType] = Attr("@type", choice(ControllerType))
    index: Attr[int] = Attr("@index", UINT)
    # the model depends on the type (virtio-scsi, qemu-xhci, none, pcie-root, ...)
    model: Attr[str] = Attr("@model")
    # PCI controllers name the emulated device model too (pcie-root-port, ...)
    model_name: Attr[str] = Attr("model/@name")
    ports: Attr[int] = Attr("@ports", UINT)
    vectors: Attr[int] = Attr("@vectors", UINT)
    driver_queues: Attr[int] = Attr("driver/@queues", Int(1))
    driver_iothread: Attr[int] = Attr("driver/@iothread", Int(1))


class Interface(Device):
    """``<interface>``: a guest NIC on a libvirt network, a bridge, a macvtap (direct) or a
    host device of its own (``ethernet``: a tap that ``target_managed=False`` says exists)."""

    __slots__ = ()
    TAG = "interface"
    ORDER = (
        "mac", "source", "virtualport", "ip", "route", "script", "downscript",
        "backenddomain", "target", "guest", "model", "driver", "backend", "filterref",
        "tune", "teaming", "link", "mtu", "coalesce", *_DEVICE_TAIL,
    )  # fmt: skip

    type: Attr[InterfaceType] = Attr("@type", choice(InterfaceType))
    mac: Attr[str] = Attr("mac/@address", MAC)
    source_network: Attr[str] = Attr("source/@network")
    source_bridge: Attr[str] = Attr("source/@bridge")
    source_dev: Attr[str] = Attr("source/@dev")
    source_mode: Attr[DirectMode] = Attr("source/@mode", choice(DirectMode))
    target_dev: Attr[str] = Attr("target/@dev")
    target_managed: Attr[bool] = Attr("target/@managed", YESNO)
    # model names depend on the hypervisor (virtio, e1000e, rtl8139, ...)
    model: Attr[str] = Attr("model/@type")
    driver_name: Attr[str] = Attr("driver/@name")
    driver_queues: Attr[int] = Attr("driver/@queues", Int(1))
    link_state: Attr[LinkState] = Attr("link/@state", choice(LinkState))
    mtu: Attr[int] = Attr("mtu/@size", Int(1))
    boot_order: Attr[int] = Attr("boot/@order", _BOOT_ORDER)
    boot_loadparm: Attr[str] = Attr("boot/@loadparm", LOADPARM)
