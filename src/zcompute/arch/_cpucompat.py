"""CPU compatibility between hosts: may a guest move to another host's CPU, and which named CPU
models an operator may pin as a fleet's baseline (``cpu_baseline_model``).

A guest must not move to a host whose CPU lacks features the guest runs with. What "lacks"
means is each architecture's (its profile's :class:`CpuCompat`); this module holds the shapes
and the one rule they are applied with (:func:`cpu_move_problem`):

- A TCG guest (domain type ``qemu``) runs on an emulated CPU: it moves whatever the host CPU.
- A guest with the host's own CPU (``host-passthrough``, ``maximum``) moves only to a host with
  the same CPU model (and vendor, and every CPU feature the source lists). Stopped, it may go
  anywhere: it takes the destination's CPU when it starts there.
- A guest with a named model (``custom``, or ``host-model``, which libvirt expands into the
  source host's model in the live XML) needs a destination that can give it that model: where
  the architecture orders its models (:class:`CpuCatalog`: IBM Z generations, POWER), a model
  no newer than the destination's; elsewhere a model the destination offers (its domain
  capabilities say so, else its own CPU model must be that model).

zcompute's answer is an early, explained refusal; it is not the last word. QEMU and libvirt on
the destination still check every CPU feature when the guest arrives (s390x: QEMU compares the
model's features; x86: libvirt compares the feature list of the live ``<cpu>``) and fail the
migration if one is missing, and then the guest stays on the source.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from zcompute.errors import ConfigError
from zcompute.xml import Domain

if TYPE_CHECKING:
    from zcompute.host import DomainCapabilities, HostCapabilities

__all__ = [
    "BASELINE_OPTION",
    "CpuCatalog",
    "CpuCompat",
    "CpuGeneration",
    "GuestCpu",
    "HostCpuFacts",
    "cpu_move_problem",
]

#: The configuration option that pins a baseline CPU model (see :mod:`zcompute.config`).
BASELINE_OPTION = "cpu_baseline_model"
#: ``<cpu mode>`` values that give a KVM guest the host's own CPU.
PASSTHROUGH_MODES = ("host-passthrough", "maximum")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
BaselinePolicy = Literal["catalog", "any", "none"]


@dataclasses.dataclass(frozen=True)
class CpuGeneration:
    """One named CPU model: its spelling, its hardware generation (and GA level) and the
    hardware's name for messages."""

    name: str
    generation: int
    ga: int
    label: str


@dataclasses.dataclass(frozen=True)
class CpuCatalog:
    """An architecture's named CPU models in release order, newer generations running older
    models. ``variants``: suffixes the hypervisor accepts after a name (``-base``, the static
    model); ``tolerated``: further suffixes understood when reading a model, never written;
    ``aliases``: other names (hardware names) and the model each stands for."""

    models: tuple[CpuGeneration, ...]
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    variants: tuple[str, ...] = ()
    tolerated: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = {m.name for m in self.models}
        unknown = set(self.aliases.values()) - names
        if unknown:
            raise ValueError(f"aliases of unknown models: {sorted(unknown)}")

    def _base(self, name: str) -> tuple[CpuGeneration | None, str]:
        """The model ``name`` is (without a variant suffix), and the suffix it had."""
        key = name.strip().lower()
        suffix = next((s for s in (*self.variants, *self.tolerated) if key.endswith(s.lower())), "")
        key = key.removesuffix(suffix.lower())
        key = self.aliases.get(key, key).lower()
        return next((m for m in self.models if m.name.lower() == key), None), suffix

    def find(self, name: str | None) -> CpuGeneration | None:
        """The model a name (QEMU's, a variant, an alias, any letter case) stands for."""
        return None if not name else self._base(name)[0]

    def baseline(self, name: str) -> str | None:
        """How a baseline ``name`` is written into domain XML (aliases resolved to the model,
        QEMU's spelling), or None when the hypervisor would not know it."""
        model, suffix = self._base(name)
        if model is None or suffix in self.tolerated:
            return None
        return model.name + suffix

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a baseline may be given as (without the variant suffixes)."""
        return (*(m.name for m in self.models), *self.aliases)

    def suggestion(self, model: CpuGeneration) -> str:
        """A baseline for a fleet whose oldest host is ``model``'s generation: the alias of
        the generation if it has one (``z15``), else the first model of it."""
        first = next(m for m in self.models if m.generation == model.generation)
        return next(
            (alias for alias, name in self.aliases.items() if name == first.name), first.name
        )


@dataclasses.dataclass(frozen=True)
class CpuCompat:
    """One architecture's rules for a guest's CPU across hosts.

    ``catalog``: its models in order, where newer hardware runs older models (None: models are
    compared by name only). ``baselines``: which ``cpu_baseline_model`` values it takes:
    ``catalog`` (names the catalog knows), ``any`` (any model name; libvirt checks it) or
    ``none`` (its KVM guests run with the host's CPU only).
    """

    baselines: BaselinePolicy
    catalog: CpuCatalog | None = None

    def baseline(self, arch: str, model: str, where: str) -> str:
        """The model to write for a configured baseline; ConfigError naming the option."""
        if self.baselines == "none":
            raise ConfigError(
                BASELINE_OPTION,
                f"{where}: {arch} KVM guests run with the host's own CPU, no baseline model",
                "a baseline for another architecture",
            )
        if self.catalog is not None:
            found = self.catalog.baseline(model)
            if found is None:
                known = self.catalog.find(model)
                problem = (
                    f"{model!r} is not a {arch} CPU model"
                    if known is None
                    else f"{model!r} names {known.name}'s features, not a model to run"
                )
                raise ConfigError(
                    BASELINE_OPTION,
                    f"{where}: {problem}",
                    f"{', '.join(self.catalog.names)} (a model also as NAME"
                    f"{'/NAME'.join(self.catalog.variants)})",
                )
            return found
        if self.baselines == "catalog" or not _MODEL_NAME.fullmatch(model):
            raise ConfigError(
                BASELINE_OPTION, f"{where}: {model!r} is not a CPU model name", "A-Z a-z 0-9 . _ -"
            )
        return model

    def generation(self, model: str | None) -> CpuGeneration | None:
        return None if self.catalog is None else self.catalog.find(model)


@dataclasses.dataclass(frozen=True)
class GuestCpu:
    """The CPU a guest has, as its domain XML says (the live XML of a running guest).

    ``model`` is the ``<cpu><model>``: for ``host-model`` libvirt writes the source host's
    model there once the guest runs under KVM. ``running``: the guest's CPU must be kept; a
    stopped guest's ``host-model`` or ``host-passthrough`` takes the CPU of whichever host
    starts it.
    """

    domain_type: str
    mode: str | None
    model: str | None
    running: bool = True

    @classmethod
    def from_domain(
        cls, domain: Domain | str, domain_type: str | None = None, *, running: bool = True
    ) -> GuestCpu:
        """The ``<cpu>`` of a domain; ``domain_type`` overrides the XML's (``kvm``/``qemu``)."""
        dom = Domain.from_xml(domain) if isinstance(domain, str) else domain
        cpu = dom.cpu
        model = (cpu.model or "").strip() or None
        return cls(domain_type or dom.type or "", cpu.mode, model, running)

    @property
    def emulated(self) -> bool:
        return self.domain_type != "kvm"


@dataclasses.dataclass(frozen=True)
class HostCpuFacts:
    """What a host's CPU is, for a guest that would run there.

    ``model``: the host's CPU model (libvirt's capabilities, or the IBM Z cpuinfo fallback);
    ``host_model``: the model libvirt's ``host-model`` becomes there (domain capabilities);
    ``models``: the named models its domain capabilities list, with libvirt's ``usable``
    (``yes``, ``no``, ``unknown``); None when they were not read (or libvirt offers no
    custom mode there).
    """

    name: str
    model: str | None
    vendor: str | None = None
    features: tuple[str, ...] = ()
    host_model: str | None = None
    models: Mapping[str, str] | None = None

    @classmethod
    def of(
        cls,
        name: str,
        caps: HostCapabilities,
        model: str | None,
        domcaps: DomainCapabilities | None = None,
    ) -> HostCpuFacts:
        """The facts of a host view: its capabilities, its CPU model and (if read) the
        domain capabilities of the guest's arch, machine and domain type there."""
        return cls(
            name=name,
            model=model,
            vendor=caps.cpu.vendor,
            features=caps.cpu.features,
            host_model=None if domcaps is None else domcaps.cpu.host_model_name,
            models=(
                {m.name: m.usable for m in domcaps.cpu.models}
                if domcaps is not None and domcaps.cpu.custom
                else None  # no custom mode there: which models it runs is not known
            ),
        )


def cpu_move_problem(
    arch: str, compat: CpuCompat, guest: GuestCpu, source: HostCpuFacts, dest: HostCpuFacts
) -> str | None:
    """Why ``guest`` (on ``source``) cannot run on ``dest``'s CPU, or None when it can."""
    if guest.emulated:
        return None  # TCG: QEMU emulates the same CPU on any host
    if not guest.running and guest.mode in (*PASSTHROUGH_MODES, "host-model"):
        return None  # the host that starts it gives it its CPU
    if guest.mode in PASSTHROUGH_MODES:
        return _same_cpu(arch, compat, guest, source, dest)
    model = guest.model
    if model is None:  # host-model not expanded yet, or no <cpu>: the source host's CPU
        if not guest.running:
            return None
        model = source.host_model or source.model
    if compat.catalog is not None:
        return _ordered(compat, compat.catalog, arch, model, dest)
    return _offered(compat, arch, model, dest)


def _remedy(compat: CpuCompat, arch: str, example: str) -> str:
    if compat.baselines == "none":
        return f"{arch} KVM guests move only between hosts with the same CPU"
    return (
        f"pin a baseline model every host of the fleet runs ({BASELINE_OPTION} = "
        f'"{example}") and hard-reboot the guest so that it runs with it'
    )


def _ordered(
    compat: CpuCompat, catalog: CpuCatalog, arch: str, model: str | None, dest: HostCpuFacts
) -> str | None:
    """Newer hardware runs older models: the guest's model must be no newer than the host's."""
    mine = catalog.find(model)
    there_name = dest.host_model if catalog.find(dest.host_model) else dest.model
    there = catalog.find(there_name)
    remedy = _remedy(compat, arch, catalog.suggestion(there or mine or catalog.models[0]))
    if mine is None:
        return (
            f"its CPU model {model or '(none named)'} is not a {arch} model zcompute can compare "
            f"with the CPU of {dest.name}; {remedy}"
        )
    if there is None:
        return (
            f"its CPU model {model} ({mine.label}) needs a {mine.label} or newer host, and "
            f"{dest.name} names no {arch} CPU model zcompute knows ({there_name or 'none'}); "
            f"move it to a host whose CPU model is known, or {remedy}"
        )
    if mine.generation <= there.generation:
        return None
    return (
        f"its CPU model {model} ({mine.label}) is newer than the CPU of {dest.name}, "
        f"{there_name} ({there.label}): it would lose CPU features it runs with; move it to a "
        f"{mine.label} or newer host, or {remedy}"
    )


def _offered(compat: CpuCompat, arch: str, model: str | None, dest: HostCpuFacts) -> str | None:
    """No order among the models: the destination must offer the guest's model by name."""
    example = f"{arch}={model or 'MODEL'}"
    if model is None:
        return (
            f"its CPU model is unknown, so zcompute cannot tell whether {dest.name} offers it; "
            f"{_remedy(compat, arch, example)}"
        )
    usable = None if dest.models is None else dest.models.get(model)
    if usable == "yes":
        return None
    if dest.models is not None and usable is None:
        return (
            f"{dest.name} does not offer its CPU model {model} (its domain capabilities "
            f"do not list it); {_remedy(compat, arch, example)}"
        )
    if usable == "no":
        return (
            f"the CPU of {dest.name} ({dest.host_model or dest.model or 'unknown'}) cannot run "
            f"its CPU model {model} (libvirt marks it not usable there); "
            f"{_remedy(compat, arch, example)}"
        )
    if dest.model is not None and dest.model == model:
        return None
    return (
        f"its CPU model {model} is not the CPU model of {dest.name} ({dest.model or 'unknown'}) "
        f"and zcompute cannot tell whether that host offers it (no domain capabilities); "
        f"{_remedy(compat, arch, example)}"
    )


def _same_cpu(
    arch: str, compat: CpuCompat, guest: GuestCpu, source: HostCpuFacts, dest: HostCpuFacts
) -> str | None:
    """The host's own CPU (host-passthrough): only a host with the same CPU may take it."""
    what = f"it runs with the CPU of {source.name} passed through ({guest.mode})"
    example = (
        compat.catalog.suggestion(mine)
        if compat.catalog is not None and (mine := compat.catalog.find(source.model))
        else f"{arch}={source.model or 'MODEL'}"
    )
    remedy = _remedy(compat, arch, example)
    if source.model is None or dest.model is None:
        unknown = source.name if source.model is None else dest.name
        return f"{what} and the CPU model of {unknown} is unknown; {remedy}"
    here, there = _same_name(compat, source.model), _same_name(compat, dest.model)
    if here != there or (source.vendor and dest.vendor and source.vendor != dest.vendor):
        return (
            f"{what}, {source.model}, and the CPU of {dest.name} is {dest.model}: such a guest "
            f"moves only to a host with the same CPU; {remedy}"
        )
    missing = [f for f in source.features if f not in set(dest.features)]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        return (
            f"{what}, and the CPU of {dest.name} ({dest.model}) lacks features it has "
            f"({shown}); {remedy}"
        )
    return None


def _same_name(compat: CpuCompat, model: str) -> str:
    found = compat.generation(model)
    return model.lower() if found is None else found.name
