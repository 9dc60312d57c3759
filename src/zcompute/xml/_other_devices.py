"""Input, graphics, video, memballoon, rng, watchdog, panic and host devices."""

from __future__ import annotations

from zcompute.xml._address import Address
from zcompute.xml._children import Child
from zcompute.xml._convert import ONOFF, UINT, YESNO, Int
from zcompute.xml._device import _BOOT_ORDER, LOADPARM, Device
from zcompute.xml._enums import (
    CharType,
    GraphicsListen,
    GraphicsType,
    HostdevDriver,
    HostdevMode,
    HostdevType,
    InputBus,
    InputType,
    MdevModel,
    MemBalloonModel,
    PanicModel,
    RngBackend,
    RngModel,
    VideoModel,
    WatchdogAction,
    WatchdogModel,
    choice,
)
from zcompute.xml._fields import Attr, Flag, Text

__all__ = ["RNG", "Graphics", "HostDev", "Input", "MemBalloon", "Panic", "Video", "Watchdog"]

_TAIL = ("alias", "acpi", "address")


class Input(Device):
    """``<input>``: keyboard, mouse or tablet on ps2, usb or virtio."""

    __slots__ = ()
    TAG = "input"
    ORDER = ("source", "driver", *_TAIL)

    type: Attr[InputType] = Attr("@type", choice(InputType))
    bus: Attr[InputBus] = Attr("@bus", choice(InputBus))
    source_evdev: Attr[str] = Attr("source/@evdev")


class Graphics(Device):
    """``<graphics>``: VNC or SPICE (not part of the s390x support matrix)."""

    __slots__ = ()
    TAG = "graphics"
    ORDER = ("listen", "channel", "image", "streaming", "clipboard", "mouse", "filetransfer", "gl")

    type: Attr[GraphicsType] = Attr("@type", choice(GraphicsType))
    # -1 asks libvirt to pick a port (with autoport)
    port: Attr[int] = Attr("@port", Int(-1, 65535))
    tls_port: Attr[int] = Attr("@tlsPort", Int(-1, 65535))
    autoport: Attr[bool] = Attr("@autoport", YESNO)
    listen: Attr[str] = Attr("@listen")
    passwd: Attr[str] = Attr("@passwd")
    keymap: Attr[str] = Attr("@keymap")
    listen_type: Attr[GraphicsListen] = Attr("listen/@type", choice(GraphicsListen))
    listen_address: Attr[str] = Attr("listen/@address")
    listen_network: Attr[str] = Attr("listen/@network")


class Video(Device):
    """``<video>``: the display adapter (virtio, vga, none, ...)."""

    __slots__ = ()
    TAG = "video"
    ORDER = ("driver", "model", *_TAIL)

    model: Attr[VideoModel] = Attr("model/@type", choice(VideoModel))
    vram: Attr[int] = Attr("model/@vram", UINT)
    heads: Attr[int] = Attr("model/@heads", Int(1))
    primary: Attr[bool] = Attr("model/@primary", YESNO)
    accel3d: Attr[bool] = Attr("model/acceleration/@accel3d", YESNO)


class MemBalloon(Device):
    """``<memballoon>``: at most one per domain; model none for s390x Secure Execution."""

    __slots__ = ()
    TAG = "memballoon"
    ORDER = ("stats", *_TAIL, "driver")

    model: Attr[MemBalloonModel] = Attr("@model", choice(MemBalloonModel))
    autodeflate: Attr[bool] = Attr("@autodeflate", ONOFF)
    free_page_reporting: Attr[bool] = Attr("@freePageReporting", ONOFF)
    stats_period: Attr[int] = Attr("stats/@period", Int(1))


class RNG(Device):
    """``<rng>``: a virtio entropy device and its host backend."""

    __slots__ = ()
    TAG = "rng"
    ORDER = ("rate", "backend", "driver", *_TAIL)

    model: Attr[RngModel] = Attr("@model", choice(RngModel))
    backend_model: Attr[RngBackend] = Attr("backend/@model", choice(RngBackend))
    # for the random backend: the host device read, e.g. /dev/urandom
    backend_path: Text[str] = Text("backend")
    # for the egd backend: a character device type with its <source>
    backend_type: Attr[CharType] = Attr("backend/@type", choice(CharType))
    backend_source_path: Attr[str] = Attr("backend/source/@path")
    rate_bytes: Attr[int] = Attr("rate/@bytes", Int(1))
    rate_period: Attr[int] = Attr("rate/@period", Int(1))


class Watchdog(Device):
    """``<watchdog>``: i6300esb or itco on x86, diag288 on s390x."""

    __slots__ = ()
    TAG = "watchdog"
    ORDER = _TAIL

    model: Attr[WatchdogModel] = Attr("@model", choice(WatchdogModel))
    action: Attr[WatchdogAction] = Attr("@action", choice(WatchdogAction))


class Panic(Device):
    """``<panic>``: guest crash notification (s390, isa, pseries, hyperv)."""

    __slots__ = ()
    TAG = "panic"
    ORDER = _TAIL

    model: Attr[PanicModel] = Attr("@model", choice(PanicModel))


class HostDev(Device):
    """``<hostdev>``: PCI, SCSI or mediated (vfio-ccw, vfio-ap) host devices."""

    __slots__ = ()
    TAG = "hostdev"
    ORDER = (
        "driver", "source", "source/adapter", "source/address", "readonly", "shareable",
        "boot", "alias", "acpi", "rom", "address",
    )  # fmt: skip

    mode: Attr[HostdevMode] = Attr("@mode", choice(HostdevMode))
    type: Attr[HostdevType] = Attr("@type", choice(HostdevType))
    managed: Attr[bool] = Attr("@managed", YESNO)
    model: Attr[MdevModel] = Attr("@model", choice(MdevModel))
    display: Attr[bool] = Attr("@display", ONOFF)
    driver_name: Attr[HostdevDriver] = Attr("driver/@name", choice(HostdevDriver))
    # PCI: domain/bus/slot/function; SCSI: bus/target/unit; mdev: uuid
    source_address: Child[Address] = Child(Address, "source/address")
    source_adapter: Attr[str] = Attr("source/adapter/@name")
    readonly: Flag = Flag("readonly")
    shareable: Flag = Flag("shareable")
    boot_order: Attr[int] = Attr("boot/@order", _BOOT_ORDER)
    boot_loadparm: Attr[str] = Attr("boot/@loadparm", LOADPARM)
