"""Domain capabilities (``virConnectGetDomainCapabilities``) as typed, read-only objects."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from lxml import etree

from zcompute.errors import HostDataError
from zcompute.host._xmlread import int_attr, parse_document, text_of, yes_no

__all__ = ["CpuModelInfo", "CpuModes", "DeviceCaps", "DomainCapabilities"]


@dataclasses.dataclass(frozen=True)
class CpuModelInfo:
    """A named CPU model of the ``custom`` mode; ``usable`` is ``yes``, ``no`` or ``unknown``."""

    name: str
    usable: str
    vendor: str | None = None
    blockers: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class CpuModes:
    host_passthrough: bool = False
    host_model: bool = False
    host_model_name: str | None = None
    host_model_vendor: str | None = None
    maximum: bool = False
    custom: bool = False
    models: tuple[CpuModelInfo, ...] = ()

    def supports(self, mode: str) -> bool:
        """Whether a ``<cpu mode=...>`` value is supported (``custom`` needs a model list)."""
        return {
            "host-passthrough": self.host_passthrough,
            "host-model": self.host_model,
            "maximum": self.maximum,
            "custom": self.custom,
        }.get(mode, False)

    def model(self, name: str) -> CpuModelInfo | None:
        return next((m for m in self.models if m.name == name), None)

    @property
    def usable_models(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models if m.usable == "yes")


@dataclasses.dataclass(frozen=True)
class DeviceCaps:
    """One ``<devices>`` child: whether it is supported and its enums (e.g. ``bus``)."""

    supported: bool
    enums: Mapping[str, tuple[str, ...]]

    def values(self, enum: str) -> tuple[str, ...]:
        return self.enums.get(enum, ())


@dataclasses.dataclass(frozen=True)
class DomainCapabilities:
    """What one emulator can do for one arch, machine type and domain type."""

    path: str | None
    domain_type: str
    machine: str | None
    arch: str
    vcpu_max: int | None
    cpu: CpuModes
    devices: Mapping[str, DeviceCaps]
    features: Mapping[str, bool]
    launch_security: tuple[str, ...]
    loaders: tuple[str, ...]
    firmwares: tuple[str, ...]
    source: str = "domain capabilities"
    # <memoryBacking>'s source types (file, anonymous, memfd): what can back guest memory
    memory_sources: tuple[str, ...] = ()

    @classmethod
    def from_xml(cls, text: str | bytes, source: str = "domain capabilities") -> DomainCapabilities:
        """Parse a ``<domainCapabilities>`` document; bad input raises HostDataError."""
        root = parse_document(text, source, "domainCapabilities")
        domain_type = text_of(root, "domain")
        arch = text_of(root, "arch")
        if domain_type is None or arch is None:
            raise HostDataError(source, "missing <domain> or <arch>", "a domainCapabilities doc")
        return cls(
            path=text_of(root, "path"),
            domain_type=domain_type,
            machine=text_of(root, "machine"),
            arch=arch,
            vcpu_max=int_attr(root.find("vcpu"), "max", f"{source}: vcpu"),
            cpu=_cpu_modes(root.find("cpu")),
            devices=MappingProxyType(_devices(root.find("devices"))),
            features=MappingProxyType(_features(root.find("features"))),
            launch_security=_enum(root.find("features/launchSecurity"), "sectype"),
            loaders=tuple((v.text or "").strip() for v in root.findall("os/loader/value")),
            firmwares=_enum(root.find("os"), "firmware"),
            source=source,
            memory_sources=_enum(root.find("memoryBacking[@supported='yes']"), "sourceType"),
        )

    def device(self, name: str) -> DeviceCaps | None:
        return self.devices.get(name)

    def device_values(self, device: str, enum: str) -> tuple[str, ...]:
        caps = self.devices.get(device)
        return caps.values(enum) if caps and caps.supported else ()

    def feature_supported(self, name: str) -> bool:
        return self.features.get(name, False)

    @property
    def disk_buses(self) -> tuple[str, ...]:
        return self.device_values("disk", "bus")

    @property
    def video_models(self) -> tuple[str, ...]:
        return self.device_values("video", "modelType")

    @property
    def graphics_types(self) -> tuple[str, ...]:
        return self.device_values("graphics", "type")

    @property
    def console_types(self) -> tuple[str, ...]:
        return self.device_values("console", "type")

    @property
    def hostdev_subsys_types(self) -> tuple[str, ...]:
        return self.device_values("hostdev", "subsysType")

    @property
    def panic_models(self) -> tuple[str, ...]:
        return self.device_values("panic", "model")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (mapping proxies become dicts, tuples lists)."""
        return {
            "source": self.source,
            "path": self.path,
            "domain_type": self.domain_type,
            "machine": self.machine,
            "arch": self.arch,
            "vcpu_max": self.vcpu_max,
            "cpu": dataclasses.asdict(self.cpu),
            "devices": {
                name: {
                    "supported": dev.supported,
                    "enums": {k: list(v) for k, v in dev.enums.items()},
                }
                for name, dev in self.devices.items()
            },
            "features": dict(self.features),
            "launch_security": list(self.launch_security),
            "loaders": list(self.loaders),
            "firmwares": list(self.firmwares),
            "memory_sources": list(self.memory_sources),
        }


def _enum(node: etree._Element | None, name: str) -> tuple[str, ...]:
    if node is None:
        return ()
    found = node.find(f"enum[@name='{name}']")
    if found is None:
        return ()
    return tuple((v.text or "").strip() for v in found.findall("value"))


def _cpu_modes(cpu: etree._Element | None) -> CpuModes:
    if cpu is None:
        return CpuModes()
    modes = {m.get("name"): m for m in cpu.findall("mode")}

    def supported(name: str) -> bool:
        node = modes.get(name)
        return node is not None and bool(yes_no(node.get("supported")))

    host_model = modes.get("host-model")
    custom = modes.get("custom")
    return CpuModes(
        host_passthrough=supported("host-passthrough"),
        host_model=supported("host-model"),
        host_model_name=text_of(host_model, "model") if supported("host-model") else None,
        host_model_vendor=text_of(host_model, "vendor") if supported("host-model") else None,
        maximum=supported("maximum"),
        custom=supported("custom"),
        models=_custom_models(custom) if custom is not None else (),
    )


def _custom_models(custom: etree._Element) -> tuple[CpuModelInfo, ...]:
    blockers = {
        b.get("model"): tuple(f.get("name", "") for f in b.findall("feature"))
        for b in custom.findall("blockers")
    }
    return tuple(
        CpuModelInfo(
            name=(m.text or "").strip(),
            usable=m.get("usable", "unknown"),
            vendor=m.get("vendor"),
            blockers=blockers.get((m.text or "").strip(), ()),
        )
        for m in custom.findall("model")
        if (m.text or "").strip()
    )


def _devices(devices: etree._Element | None) -> dict[str, DeviceCaps]:
    if devices is None:
        return {}
    out = {}
    for dev in devices:
        enums = {
            e.get("name", ""): tuple((v.text or "").strip() for v in e.findall("value"))
            for e in dev.findall("enum")
        }
        out[str(dev.tag)] = DeviceCaps(
            supported=bool(yes_no(dev.get("supported"))), enums=MappingProxyType(enums)
        )
    return out


def _features(features: etree._Element | None) -> dict[str, bool]:
    if features is None:
        return {}
    return {str(f.tag): bool(yes_no(f.get("supported"))) for f in features}
