"""Machine type choice (blueprint work item 1): image property, configuration, profile default.

The chosen machine must be offered by the host for that arch and domain type; an alias is
resolved to its canonical (versioned) name so the driver can pin it for the instance's life
and a later QEMU upgrade does not change the guest's hardware under it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from zcompute.arch._registry import canonical_arch, get_profile
from zcompute.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from zcompute.host import HostCapabilities, Machine

__all__ = [
    "IMAGE_MACHINE_PROPERTY",
    "MachineChoice",
    "choose_machine_type",
    "explain_machine_type",
    "parse_machine_type_mapping",
]

IMAGE_MACHINE_PROPERTY = "hw_machine_type"
_MAPPING_FIELD = "machine_types"
_MAPPING_FORM = "ARCH=MACHINE[,ARCH=MACHINE...], e.g. x86_64=q35,s390x=s390-ccw-virtio"
_MACHINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclasses.dataclass(frozen=True)
class MachineChoice:
    """The pinned machine type, what was asked for, and where the request came from."""

    name: str
    requested: str
    source: str


def parse_machine_type_mapping(text: str, field: str = _MAPPING_FIELD) -> dict[str, str]:
    """Parse ``x86_64=q35,s390x=s390-ccw-virtio``; every malformed entry is a ConfigError."""
    mapping: dict[str, str] = {}
    if not text.strip():
        return mapping
    for number, raw in enumerate(text.split(","), start=1):
        arch, machine = _mapping_entry(raw.strip(), number, field)
        if arch in mapping:
            raise ConfigError(field, f"entry {number} repeats architecture {arch!r}", _MAPPING_FORM)
        mapping[arch] = machine
    return mapping


def _mapping_entry(entry: str, number: int, field: str) -> tuple[str, str]:
    where = f"entry {number} {entry!r}"
    if entry.count("=") != 1:
        raise ConfigError(field, f"{where} is not ARCH=MACHINE", _MAPPING_FORM)
    raw_arch, machine = (part.strip() for part in entry.split("="))
    if not raw_arch or not machine:
        raise ConfigError(field, f"{where} has an empty architecture or machine", _MAPPING_FORM)
    try:
        arch = canonical_arch(raw_arch)
    except InvalidInput as err:
        raise ConfigError(field, f"{where}: unknown architecture", err.allowed) from err
    if not _MACHINE_NAME.match(machine):
        raise ConfigError(
            field, f"{where}: {machine!r} is not a machine type name", "letters, digits, . _ -"
        )
    profile = get_profile(arch)
    if not profile.machine_usable(machine):
        families = [f"{fam}*" for fam in profile.machine_families]
        raise ConfigError(field, f"{where}: not a usable {arch} machine type", families)
    return arch, machine


def _requested(
    arch: str, image_props: Mapping[str, str] | None, mapping_text: str
) -> tuple[str, str]:
    # Parsed even when the image decides: a broken setting is reported, never skipped.
    configured = parse_machine_type_mapping(mapping_text).get(arch)
    from_image = (image_props or {}).get(IMAGE_MACHINE_PROPERTY, "").strip()
    if from_image:
        return from_image, f"image property {IMAGE_MACHINE_PROPERTY}"
    if configured:
        return configured, f"configuration {_MAPPING_FIELD}"
    return get_profile(arch).default_machine, f"{arch} default machine type"


def _resolve(requested: str, machines: tuple[Machine, ...]) -> str | None:
    """The canonical name for ``requested`` among ``machines``, None when not offered."""
    for machine in machines:
        if machine.name == requested:
            return machine.canonical or machine.name
    if any(machine.canonical == requested for machine in machines):
        return requested
    return None


def offered_machine_names(machines: tuple[Machine, ...]) -> list[str]:
    """Every name a host accepts (aliases and canonical names), sorted for messages."""
    names = {m.name for m in machines} | {m.canonical for m in machines if m.canonical}
    return sorted(names)


def explain_machine_type(
    arch: str,
    domain_type: str,
    image_props: Mapping[str, str] | None,
    config_mapping_text: str,
    host_caps: HostCapabilities,
) -> MachineChoice:
    """Like :func:`choose_machine_type`, also telling what was asked for and by whom."""
    profile = get_profile(arch)
    requested, source = _requested(profile.arch, image_props, config_mapping_text)
    guest = host_caps.guest(profile.arch)
    if guest is None:
        raise InvalidInput(
            "arch", f"the host offers no {profile.arch} guests", host_caps.guest_arches
        )
    if domain_type not in guest.domain_types:
        raise InvalidInput(
            "domain type",
            f"the host cannot run {profile.arch} guests as {domain_type!r}",
            guest.domain_types,
        )
    machines = guest.machines_for(domain_type)
    canonical = _resolve(requested, machines)
    if canonical is None:
        offered = offered_machine_names(machines) or ["(the host lists no machine types)"]
        raise InvalidInput(
            source,
            f"machine type {requested!r} is not offered by this host "
            f"for {profile.arch} ({domain_type})",
            offered,
        )
    if not profile.machine_usable(canonical):
        families = [f"{fam}*" for fam in profile.machine_families]
        raise InvalidInput(
            source, f"machine type {requested!r} ({canonical}) is unusable on {arch}", families
        )
    return MachineChoice(canonical, requested, source)


def choose_machine_type(
    arch: str,
    domain_type: str,
    image_props: Mapping[str, str] | None,
    config_mapping_text: str,
    host_caps: HostCapabilities,
) -> str:
    """The canonical machine type to pin: image ``hw_machine_type``, then the configuration's
    per-arch mapping, then the profile default; it must be offered by the host.
    """
    return explain_machine_type(arch, domain_type, image_props, config_mapping_text, host_caps).name
