"""Host capabilities (``virConnectGetCapabilities``) as typed, read-only objects."""

from __future__ import annotations

import dataclasses
from typing import Any

from lxml import etree

from zcompute.errors import HostDataError
from zcompute.host._xmlread import int_attr, int_text, parse_document, parse_int, text_of

__all__ = [
    "CpuSignature",
    "CpuTopology",
    "GuestArch",
    "GuestDomain",
    "HostCapabilities",
    "HostCpu",
    "Machine",
    "NumaCell",
]


@dataclasses.dataclass(frozen=True)
class Machine:
    """One machine type a guest arch offers; ``canonical`` is set when ``name`` is an alias."""

    name: str
    canonical: str | None = None
    max_cpus: int | None = None


@dataclasses.dataclass(frozen=True)
class GuestDomain:
    """A domain type (``kvm``/``qemu``) of a guest arch, with its own emulator and machines.

    libvirt omits the emulator and the machine list of a domain type when they are the
    arch's; :meth:`GuestArch.machines_for` and :meth:`GuestArch.emulator_for` apply that rule.
    """

    type: str
    emulator: str | None
    machines: tuple[Machine, ...]


@dataclasses.dataclass(frozen=True)
class GuestArch:
    """One ``<guest>``/``<arch>`` entry: what the host can run for that guest architecture."""

    name: str
    os_type: str
    wordsize: int | None
    emulator: str | None
    machines: tuple[Machine, ...]
    domains: tuple[GuestDomain, ...]
    features: tuple[str, ...]

    @property
    def domain_types(self) -> tuple[str, ...]:
        return tuple(d.type for d in self.domains)

    def domain(self, domain_type: str) -> GuestDomain | None:
        return next((d for d in self.domains if d.type == domain_type), None)

    def machines_for(self, domain_type: str) -> tuple[Machine, ...]:
        """The machines offered for ``domain_type`` (its own list, else the arch's)."""
        dom = self.domain(domain_type)
        if dom is None:
            return ()
        return dom.machines or self.machines

    def emulator_for(self, domain_type: str) -> str | None:
        dom = self.domain(domain_type)
        if dom is None:
            return None
        return dom.emulator or self.emulator


@dataclasses.dataclass(frozen=True)
class CpuTopology:
    sockets: int | None = None
    dies: int | None = None
    cores: int | None = None
    threads: int | None = None

    @property
    def cpu_count(self) -> int | None:
        if self.sockets is None or self.cores is None or self.threads is None:
            return None
        return self.sockets * (self.dies or 1) * self.cores * self.threads


@dataclasses.dataclass(frozen=True)
class CpuSignature:
    family: int | None = None
    model: int | None = None
    stepping: int | None = None


@dataclasses.dataclass(frozen=True)
class HostCpu:
    arch: str
    model: str | None
    vendor: str | None
    features: tuple[str, ...]
    topology: CpuTopology | None
    signature: CpuSignature | None


@dataclasses.dataclass(frozen=True)
class NumaCell:
    id: int
    memory_kib: int | None
    cpus: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class HostCapabilities:
    """The host part and the guest list of a capabilities document."""

    uuid: str | None
    cpu: HostCpu
    cells: tuple[NumaCell, ...]
    guests: tuple[GuestArch, ...]
    live_migration: bool
    source: str = "capabilities"

    @classmethod
    def from_xml(cls, text: str | bytes, source: str = "capabilities") -> HostCapabilities:
        """Parse a ``<capabilities>`` document; bad input raises HostDataError naming ``source``."""
        root = parse_document(text, source, "capabilities")
        host = root.find("host")
        if host is None:
            raise HostDataError(source, "no <host> element")
        return cls(
            uuid=text_of(host, "uuid"),
            cpu=_host_cpu(host, source),
            cells=tuple(_cells(host, source)),
            guests=tuple(_guest(g, source) for g in root.findall("guest")),
            live_migration=host.find("migration_features/live") is not None,
            source=source,
        )

    @property
    def arch(self) -> str:
        return self.cpu.arch

    @property
    def memory_kib(self) -> int | None:
        sizes = [c.memory_kib for c in self.cells if c.memory_kib is not None]
        return sum(sizes) if sizes else None

    @property
    def cpu_count(self) -> int | None:
        listed = sum(len(c.cpus) for c in self.cells)
        if listed:
            return listed
        return self.cpu.topology.cpu_count if self.cpu.topology else None

    @property
    def guest_arches(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.name for g in self.guests if g.os_type == "hvm"))

    def guest(self, arch: str) -> GuestArch | None:
        """The hvm guest entry for ``arch``, if the host offers that architecture."""
        return next((g for g in self.guests if g.name == arch and g.os_type == "hvm"), None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _host_cpu(host: etree._Element, source: str) -> HostCpu:
    cpu = host.find("cpu")
    arch = text_of(cpu, "arch")
    if cpu is None or arch is None:
        raise HostDataError(f"{source}: host/cpu/arch", "missing; cannot tell the host arch")
    topo = cpu.find("topology")
    sig = cpu.find("signature")
    where = f"{source}: host/cpu"
    return HostCpu(
        arch=arch,
        model=text_of(cpu, "model"),
        vendor=text_of(cpu, "vendor"),
        features=tuple(f.get("name", "") for f in cpu.findall("feature") if f.get("name")),
        topology=None
        if topo is None
        else CpuTopology(
            sockets=int_attr(topo, "sockets", where),
            dies=int_attr(topo, "dies", where),
            cores=int_attr(topo, "cores", where),
            threads=int_attr(topo, "threads", where),
        ),
        signature=None
        if sig is None
        else CpuSignature(
            family=int_attr(sig, "family", where),
            model=int_attr(sig, "model", where),
            stepping=int_attr(sig, "stepping", where),
        ),
    )


def _cells(host: etree._Element, source: str) -> list[NumaCell]:
    where = f"{source}: host/topology/cells/cell"
    cells = []
    for cell in host.findall("topology/cells/cell"):
        raw_id = cell.get("id")
        if raw_id is None:
            raise HostDataError(where, "a NUMA cell without an id")
        cells.append(
            NumaCell(
                id=parse_int(raw_id, f"{where}/@id"),
                memory_kib=_memory_kib(cell, where),
                cpus=tuple(
                    parse_int(c.get("id", ""), f"{where}/cpus/cpu/@id")
                    for c in cell.findall("cpus/cpu")
                ),
            )
        )
    return cells


_UNIT_KIB = {"b": 1 / 1024, "bytes": 1 / 1024, "kib": 1, "k": 1, "mib": 1024, "m": 1024}
_UNIT_KIB |= {"gib": 1024**2, "g": 1024**2, "tib": 1024**3, "t": 1024**3}


def _memory_kib(cell: etree._Element, where: str) -> int | None:
    node = cell.find("memory")
    size = int_text(cell, "memory", where)
    if node is None or size is None:
        return None
    unit = (node.get("unit") or "KiB").lower()
    if unit not in _UNIT_KIB:
        raise HostDataError(f"{where}/memory/@unit", f"unknown unit {unit!r}", ["KiB", "MiB"])
    return int(size * _UNIT_KIB[unit])


def _machines(node: etree._Element, where: str) -> tuple[Machine, ...]:
    machines = []
    for m in node.findall("machine"):
        name = (m.text or "").strip()
        if not name:
            raise HostDataError(f"{where}/machine", "a machine element without a name")
        machines.append(Machine(name, m.get("canonical"), int_attr(m, "maxCpus", where)))
    return tuple(machines)


def _guest(guest: etree._Element, source: str) -> GuestArch:
    arch = guest.find("arch")
    name = arch.get("name") if arch is not None else None
    if arch is None or not name:
        raise HostDataError(f"{source}: guest/arch/@name", "a <guest> without an arch name")
    where = f"{source}: guest/arch[@name='{name}']"
    domains = []
    for dom in arch.findall("domain"):
        dtype = dom.get("type")
        if not dtype:
            raise HostDataError(f"{where}/domain/@type", "a domain element without a type")
        domains.append(GuestDomain(dtype, text_of(dom, "emulator"), _machines(dom, where)))
    features = guest.find("features")
    return GuestArch(
        name=name,
        os_type=text_of(guest, "os_type") or "hvm",
        wordsize=int_text(arch, "wordsize", where),
        emulator=text_of(arch, "emulator"),
        machines=_machines(arch, where),
        domains=tuple(domains),
        features=() if features is None else tuple(str(f.tag) for f in features),
    )
