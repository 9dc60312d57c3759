"""Character devices: consoles (sclp, sclplm, virtio, serial), serial ports and channels.

On s390x the interactive console is ``<console type='pty'><target type='sclp'/>`` and
the boot log ``<console type='file'><target type='sclplm'/>``; libvirt 3.10+ also takes
``<serial><target type='sclp-serial'><model name='sclpconsole'/>``. This module only
maps these shapes; which one a guest gets is decided by the architecture profiles.
"""

from __future__ import annotations

from zcompute.xml._convert import ONOFF, UINT
from zcompute.xml._device import Device
from zcompute.xml._enums import (
    ChannelState,
    ChannelTarget,
    CharProtocol,
    CharSourceMode,
    CharType,
    ConsoleTarget,
    SerialTarget,
    SerialTargetModel,
    choice,
)
from zcompute.xml._fields import Attr

__all__ = ["Channel", "CharDevice", "Console", "Serial"]


class CharDevice(Device):
    """What consoles, serial ports and channels share: the host-side source and log."""

    __slots__ = ()
    ORDER = ("source", "protocol", "log", "target", "alias", "acpi", "address")

    type: Attr[CharType] = Attr("@type", choice(CharType))
    # the pty libvirt allocated, present in a running guest's XML
    tty: Attr[str] = Attr("@tty")
    source_mode: Attr[CharSourceMode] = Attr("source/@mode", choice(CharSourceMode))
    source_path: Attr[str] = Attr("source/@path")
    #: keep what a file already holds when QEMU (re)opens it, instead of truncating it
    source_append: Attr[bool] = Attr("source/@append", ONOFF)
    source_host: Attr[str] = Attr("source/@host")
    source_service: Attr[str] = Attr("source/@service")
    protocol: Attr[CharProtocol] = Attr("protocol/@type", choice(CharProtocol))
    log_file: Attr[str] = Attr("log/@file")
    # keep the log across migrations instead of truncating it on the destination
    log_append: Attr[bool] = Attr("log/@append", ONOFF)


class Console(CharDevice):
    """``<console>``: target types serial, virtio, sclp (VT220) and sclplm (line mode)."""

    __slots__ = ()
    TAG = "console"

    target_type: Attr[ConsoleTarget] = Attr("target/@type", choice(ConsoleTarget))
    target_port: Attr[int] = Attr("target/@port", UINT)


class Serial(CharDevice):
    """``<serial>``: target types isa-serial, pci-serial, sclp-serial, ... with a model."""

    __slots__ = ()
    TAG = "serial"

    target_type: Attr[SerialTarget] = Attr("target/@type", choice(SerialTarget))
    target_port: Attr[int] = Attr("target/@port", UINT)
    target_model: Attr[SerialTargetModel] = Attr("target/model/@name", choice(SerialTargetModel))


class Channel(CharDevice):
    """``<channel>``: virtio ports such as the QEMU guest agent, or guestfwd."""

    __slots__ = ()
    TAG = "channel"

    target_type: Attr[ChannelTarget] = Attr("target/@type", choice(ChannelTarget))
    target_name: Attr[str] = Attr("target/@name")
    # reported by libvirt for a running guest (is the agent connected?)
    target_state: Attr[ChannelState] = Attr("target/@state", choice(ChannelState))
    # guestfwd: the guest-side address and port forwarded to the host-side source
    target_address: Attr[str] = Attr("target/@address")
    target_port: Attr[int] = Attr("target/@port", UINT)
