"""``<domain>``: the root of a libvirt guest definition."""

from __future__ import annotations

from zcompute.xml._address import UUID
from zcompute.xml._children import Child
from zcompute.xml._convert import Int
from zcompute.xml._devices import Devices
from zcompute.xml._enums import CrashAction, DomainType, LifecycleAction, VcpuPlacement, choice
from zcompute.xml._fields import Attr, Memory, Text
from zcompute.xml._metadata import InstanceMetadata, Metadata
from zcompute.xml._object import XMLObject
from zcompute.xml._parts import Clock, Cpu, Features, KeyWrap, LaunchSecurity, MemoryBacking, Os

__all__ = ["DOMAIN_ORDER", "Domain"]

#: The order libvirt writes the children of <domain> in.
DOMAIN_ORDER = (
    "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
    "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
    "iothreadids", "cputune", "resource", "sysinfo", "bootloader", "bootloader_args", "os",
    "idmap", "features", "cpu", "clock", "on_poweroff", "on_reboot", "on_crash",
    "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap", "launchSecurity",
)  # fmt: skip


class Domain(XMLObject):
    """A libvirt domain document.

    ``Domain(type="kvm")`` starts an empty one; ``Domain.from_xml(text)`` binds to a
    parsed one, keeping every element and attribute this layer does not model, so that
    ``to_xml()`` gives back libvirt's document with only the intended changes.
    """

    __slots__ = ()
    TAG = "domain"
    ORDER = DOMAIN_ORDER

    type: Attr[DomainType] = Attr("@type", choice(DomainType))
    # the id of a running domain, as libvirt reports it
    id: Attr[int] = Attr("@id", Int(-1))
    name: Text[str] = Text("name")
    uuid: Text[str] = Text("uuid", UUID)
    title: Text[str] = Text("title")
    description: Text[str] = Text("description")
    metadata: Child[Metadata] = Child(Metadata)
    memory_kib: Memory = Memory("memory")
    current_memory_kib: Memory = Memory("currentMemory")
    memory_backing: Child[MemoryBacking] = Child(MemoryBacking)
    vcpu: Text[int] = Text("vcpu", Int(1))
    vcpu_placement: Attr[VcpuPlacement] = Attr("vcpu/@placement", choice(VcpuPlacement))
    vcpu_current: Attr[int] = Attr("vcpu/@current", Int(1))
    os: Child[Os] = Child(Os)
    features: Child[Features] = Child(Features)
    cpu: Child[Cpu] = Child(Cpu)
    clock: Child[Clock] = Child(Clock)
    on_poweroff: Text[LifecycleAction] = Text("on_poweroff", choice(LifecycleAction))
    on_reboot: Text[LifecycleAction] = Text("on_reboot", choice(LifecycleAction))
    on_crash: Text[CrashAction] = Text("on_crash", choice(CrashAction))
    devices: Child[Devices] = Child(Devices)
    keywrap: Child[KeyWrap] = Child(KeyWrap)
    launch_security: Child[LaunchSecurity] = Child(LaunchSecurity)

    @property
    def zcompute(self) -> InstanceMetadata:
        """zcompute's own metadata (``<metadata><zcompute:instance>``), created on write."""
        return self.metadata.zcompute
