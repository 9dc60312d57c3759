"""What zcompute concludes about a host: capabilities plus the CPU model fallback.

The fallback is asked of the host architecture's profile (``cpu_model_from_cpuinfo``), so this
module holds no architecture test: an s390x host without a ``<model>`` gets one from
``/proc/cpuinfo``, other hosts never read it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zcompute.arch import ArchProfile, get_profile
from zcompute.errors import HostDataError, InvalidInput, VirtError
from zcompute.host import CpuModelGuess, DomainCapabilities, HostCapabilities, inspect_cpuinfo

if TYPE_CHECKING:
    from zcompute.virt import Hypervisor

__all__ = ["CPU_SOURCES", "HostModel", "read_host"]

LOG = logging.getLogger("zcompute.host")

CPU_SOURCES = ("capabilities", "cpuinfo")
# Old libvirt reported the placeholder "host" instead of a model on s390x: it names nothing.
_PLACEHOLDER_MODELS = ("host",)


@dataclasses.dataclass(frozen=True)
class HostModel:
    """A host as zcompute sees it; ``cpu_model_source`` is ``capabilities`` or ``cpuinfo``."""

    capabilities: HostCapabilities
    cpu_model: str | None
    cpu_model_source: str | None
    cpuinfo_guess: CpuModelGuess | None
    domain_capabilities: tuple[DomainCapabilities, ...] = ()
    kvm_device: bool | None = None
    #: the answer of zcompute's KVM probe (a test guest booted with KVM), None if not probed
    kvm_probed: bool | None = None
    warnings: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        capabilities: HostCapabilities,
        *,
        cpuinfo_path: Path | None = None,
        domain_capabilities: Iterable[DomainCapabilities] = (),
        kvm_device: bool | None = None,
    ) -> HostModel:
        """Combine capabilities with the cpuinfo fallback where the host's profile wants it."""
        warnings: list[str] = []
        profile = _profile_or_warn(capabilities.arch, warnings)
        model = capabilities.cpu.model
        if model in _PLACEHOLDER_MODELS:
            model = None
        source = "capabilities" if model else None
        guess = None
        if model is None and profile is not None and profile.cpu_model_from_cpuinfo:
            guess = _guess_or_warn(cpuinfo_path, warnings)
            if guess is not None:
                model, source = guess.model, "cpuinfo"
        for text in warnings:
            LOG.warning("%s", text)
        return cls(
            capabilities=capabilities,
            cpu_model=model,
            cpu_model_source=source,
            cpuinfo_guess=guess,
            domain_capabilities=tuple(domain_capabilities),
            kvm_device=kvm_device,
            warnings=tuple(warnings),
        )

    @property
    def arch(self) -> str:
        return self.capabilities.arch

    @property
    def cpu_vendor(self) -> str | None:
        if self.cpu_model_source == "cpuinfo" and self.cpuinfo_guess is not None:
            return self.cpuinfo_guess.vendor
        return self.capabilities.cpu.vendor

    @property
    def kvm_offered(self) -> bool:
        """Whether libvirt offers the kvm domain type for the host's own arch."""
        guest = self.capabilities.guest(self.arch)
        return guest is not None and "kvm" in guest.domain_types

    @property
    def kvm_usable(self) -> bool:
        """KVM as zcompute's probe found it; unprobed, as far as we can tell without
        starting a guest (a device that is not known to be missing, and libvirt offering it)."""
        if self.kvm_probed is not None:
            return self.kvm_offered and self.kvm_probed
        return self.kvm_offered and self.kvm_device is not False

    def domcaps_for(self, arch: str, domain_type: str | None = None) -> DomainCapabilities | None:
        for caps in self.domain_capabilities:
            if caps.arch == arch and domain_type in (None, caps.domain_type):
                return caps
        return None

    def to_dict(self) -> dict[str, Any]:
        caps = self.capabilities
        guess = self.cpuinfo_guess
        return {
            "arch": self.arch,
            "cpu": {
                "model": self.cpu_model,
                "source": self.cpu_model_source,
                "vendor": self.cpu_vendor,
                "machine_type": guess.machine_type if guess else None,
                "generation": guess.generation if guess else None,
                "cpuinfo": guess.source if guess else None,
                "features": len(caps.cpu.features),
                "topology": dataclasses.asdict(caps.cpu.topology) if caps.cpu.topology else None,
            },
            "cpus": caps.cpu_count,
            "memory_kib": caps.memory_kib,
            "numa_cells": [dataclasses.asdict(cell) for cell in caps.cells],
            "kvm": {
                "offered": self.kvm_offered,
                "device": self.kvm_device,
                "probed": self.kvm_probed,
                "usable": self.kvm_usable,
            },
            "guests": [
                {
                    "arch": g.name,
                    "domain_types": list(g.domain_types),
                    "emulator": g.emulator,
                    "machines": [dataclasses.asdict(m) for m in g.machines],
                    "domains": [dataclasses.asdict(d) for d in g.domains],
                }
                for g in caps.guests
            ],
            "domain_capabilities": [_domcaps_summary(d) for d in self.domain_capabilities],
            "warnings": list(self.warnings),
        }


def _profile_or_warn(arch: str, warnings: list[str]) -> ArchProfile | None:
    try:
        return get_profile(arch)
    except InvalidInput as err:
        warnings.append(f"host arch {arch!r} has no zcompute profile ({err.allowed})")
        return None


def _guess_or_warn(path: Path | None, warnings: list[str]) -> CpuModelGuess | None:
    prefix = "the capabilities carry no CPU model"
    if path is None:
        warnings.append(f"{prefix} and no cpuinfo was given to derive one")
        return None
    reading = inspect_cpuinfo(path)
    if reading.problem:
        warnings.append(f"{prefix}; {reading.problem}")
    return reading.guess


def _domcaps_summary(caps: DomainCapabilities) -> dict[str, Any]:
    cpu = caps.cpu
    return {
        "source": caps.source,
        "arch": caps.arch,
        "domain_type": caps.domain_type,
        "machine": caps.machine,
        "emulator": caps.path,
        "vcpu_max": caps.vcpu_max,
        "cpu_modes": [m for m in ("host-passthrough", "host-model", "maximum") if cpu.supports(m)],
        "host_model": cpu.host_model_name,
        "usable_models": len(cpu.usable_models),
        "disk_buses": list(caps.disk_buses),
        "video_models": list(caps.video_models),
        "launch_security": list(caps.launch_security),
        "features": {name: ok for name, ok in caps.features.items() if ok},
    }


def read_host(
    hypervisor: Hypervisor,
    cpuinfo_path: Path = Path("/proc/cpuinfo"),
    *,
    kvm_device_path: Path = Path("/dev/kvm"),
) -> HostModel:
    """Read the live host (read-only libvirt calls): capabilities, domain capabilities for
    every profile arch the host offers (default machine, kvm where offered), and cpuinfo.
    """
    caps = HostCapabilities.from_xml(hypervisor.capabilities(), f"{hypervisor.uri} capabilities")
    domcaps: list[DomainCapabilities] = []
    problems: list[str] = []
    for guest in caps.guests:
        try:
            profile = get_profile(guest.name)
        except InvalidInput:
            continue  # an arch zcompute has no profile for (alpha, riscv64, ...)
        dtype = "kvm" if "kvm" in guest.domain_types else "qemu"
        try:
            text = hypervisor.domain_capabilities(profile.arch, profile.default_machine, dtype)
            domcaps.append(DomainCapabilities.from_xml(text, f"{profile.arch} {dtype} domcaps"))
        except (VirtError, HostDataError) as err:
            problems.append(f"domain capabilities for {profile.arch} ({dtype}): {err}")
            LOG.warning("%s", problems[-1])
    model = HostModel.build(
        caps,
        cpuinfo_path=cpuinfo_path,
        domain_capabilities=domcaps,
        kvm_device=kvm_device_path.exists(),
    )
    return dataclasses.replace(model, warnings=model.warnings + tuple(problems))
