"""Per-arch conclusions for a host: how zcompute would run each architecture it supports."""

from __future__ import annotations

import dataclasses
from typing import Any

from zcompute.arch import (
    PROFILES,
    choose_guest,
    explain_machine_type,
    parse_cpu_baselines,
    parse_machine_type_mapping,
)
from zcompute.errors import ConfigError, InvalidInput
from zcompute.hostreport._model import HostModel

__all__ = ["GuestConclusion", "conclude"]


@dataclasses.dataclass(frozen=True)
class GuestConclusion:
    """For one guest arch: domain type, emulator, pinned machine type and CPU, or why not."""

    arch: str
    domain_type: str | None
    reason: str
    emulator: str | None = None
    machine: str | None = None
    machine_source: str | None = None
    cpu_mode: str | None = None
    cpu_model: str | None = None
    cpu_reason: str | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def conclude(
    model: HostModel,
    virt_type: str = "auto",
    machine_types: str = "",
    cpu_baseline_model: str = "",
) -> list[GuestConclusion]:
    """One conclusion per profile arch the host offers, in profile order.

    What the host cannot do becomes a conclusion's ``problem``; a broken setting
    (``virt_type``, ``machine_types``, ``cpu_baseline_model``) is the operator's to fix and
    raises ConfigError.
    """
    parse_machine_type_mapping(machine_types)
    baselines = parse_cpu_baselines(cpu_baseline_model)
    offered = model.capabilities.guest_arches
    return [
        _conclude_arch(model, arch, virt_type, machine_types, baselines.get(arch))
        for arch in PROFILES
        if arch in offered
    ]


def _conclude_arch(
    model: HostModel, arch: str, virt_type: str, machine_types: str, baseline: str | None
) -> GuestConclusion:
    try:
        guest = choose_guest(arch, model.capabilities, virt_type, model.kvm_usable)
    except ConfigError:
        raise
    except InvalidInput as err:
        return GuestConclusion(arch, None, "cannot run", problem=str(err))
    result = GuestConclusion(arch, guest.domain_type, guest.reason, guest.emulator)
    try:
        machine = explain_machine_type(
            arch, guest.domain_type, None, machine_types, model.capabilities
        )
    except InvalidInput as err:
        return dataclasses.replace(result, problem=str(err))
    host_cpu = model.cpu_model if guest.domain_type == "kvm" else None
    domcaps = model.domcaps_for(arch, guest.domain_type)
    cpu = PROFILES[arch].cpu_for(guest.domain_type, host_cpu, domcaps, baseline=baseline)
    return dataclasses.replace(
        result,
        machine=machine.name,
        machine_source=machine.source,
        cpu_mode=cpu.mode,
        cpu_model=cpu.model,
        cpu_reason=cpu.reason,
    )
