"""The IBM Z ``/proc/cpuinfo`` reader behind the s390x CPU model fallback (blueprint item 2).

Some libvirt versions report s390x host capabilities without ``<cpu><model>``. The machine
type in ``/proc/cpuinfo`` names the hardware generation, and that maps to QEMU's CPU model.
This module only parses the IBM Z format; *whether* to use it is the architecture profile's
decision (``ArchProfile.cpu_model_from_cpuinfo``), so no architecture test lives here.

Both layouts the kernel has used are understood::

    processor 0: version = FF,  identification = 0133E8,  machine = 8561
    machine         : 8561            (per-CPU block, newer kernels)

Anything that goes wrong (unreadable file, no machine line, unknown machine type) is a warning
and no model, never an exception: the host stays usable, only without a named CPU model.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

__all__ = [
    "IBM_Z_MACHINES",
    "CpuModelGuess",
    "CpuinfoReading",
    "IbmZMachine",
    "cpu_model_from_cpuinfo",
    "guess_from_cpuinfo_text",
    "inspect_cpuinfo",
    "machine_types_in_cpuinfo",
]

LOG = logging.getLogger("zcompute.host")


@dataclasses.dataclass(frozen=True)
class IbmZMachine:
    generation: str
    qemu_model: str


# Machine type -> (generation, QEMU CPU model); from the project's facts file.
IBM_Z_MACHINES: Mapping[str, IbmZMachine] = MappingProxyType(
    {
        "2064": IbmZMachine("z900", "z900"),
        "2066": IbmZMachine("z800", "z800"),
        "2084": IbmZMachine("z990", "z990"),
        "2086": IbmZMachine("z890", "z890"),
        "2094": IbmZMachine("z9 EC", "z9EC"),
        "2096": IbmZMachine("z9 BC", "z9BC"),
        "2097": IbmZMachine("z10 EC", "z10EC"),
        "2098": IbmZMachine("z10 BC", "z10BC"),
        "2817": IbmZMachine("z196", "z196"),
        "2818": IbmZMachine("z114", "z114"),
        "2827": IbmZMachine("zEC12", "zEC12"),
        "2828": IbmZMachine("zBC12", "zBC12"),
        "2964": IbmZMachine("z13", "z13"),
        "2965": IbmZMachine("z13s", "z13s"),
        "3906": IbmZMachine("z14", "z14"),
        "3907": IbmZMachine("z14 ZR1", "z14ZR1"),
        "8561": IbmZMachine("z15", "gen15a"),
        "8562": IbmZMachine("z15 T02", "gen15b"),
        "3931": IbmZMachine("z16", "gen16a"),
        "3932": IbmZMachine("z16 A02", "gen16b"),
        "9175": IbmZMachine("z17", "gen17a"),
        "9176": IbmZMachine("z17", "gen17b"),
    }
)

_PROCESSOR_LINE = re.compile(
    r"^processor\s+\d+\s*:.*?\bmachine\s*=\s*([0-9A-Fa-f]{4})\b", re.MULTILINE
)
_MACHINE_LINE = re.compile(r"^machine[ \t]*:[ \t]*([0-9A-Fa-f]{4})[ \t]*$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class CpuModelGuess:
    """A CPU model derived from cpuinfo rather than reported by libvirt."""

    machine_type: str
    generation: str
    model: str
    vendor: str = "IBM"
    source: str = "/proc/cpuinfo"


@dataclasses.dataclass(frozen=True)
class CpuinfoReading:
    """The outcome of reading one cpuinfo file: a guess, or the reason there is none."""

    guess: CpuModelGuess | None
    problem: str | None = None


def machine_types_in_cpuinfo(text: str) -> tuple[str, ...]:
    """Every distinct machine type in ``text``, in order of appearance, upper-cased."""
    found = [
        (m.start(), m.group(1).upper())
        for pattern in (_PROCESSOR_LINE, _MACHINE_LINE)
        for m in pattern.finditer(text)
    ]
    return tuple(dict.fromkeys(value for _, value in sorted(found)))


def guess_from_cpuinfo_text(text: str, source: str = "/proc/cpuinfo") -> CpuinfoReading:
    """Map the machine type found in cpuinfo ``text`` to a QEMU CPU model."""
    types = machine_types_in_cpuinfo(text)
    if not types:
        return CpuinfoReading(None, f"{source}: no IBM Z machine type line found")
    if len(types) > 1:
        listed = ", ".join(types)
        return CpuinfoReading(None, f"{source}: conflicting machine types {listed}")
    known = IBM_Z_MACHINES.get(types[0])
    if known is None:
        return CpuinfoReading(
            None,
            f"{source}: unknown IBM Z machine type {types[0]} "
            f"(known: {', '.join(sorted(IBM_Z_MACHINES))})",
        )
    return CpuinfoReading(
        CpuModelGuess(types[0], known.generation, known.qemu_model, "IBM", source)
    )


def inspect_cpuinfo(path: Path) -> CpuinfoReading:
    """Read ``path`` and guess the CPU model; an unreadable file is a problem, not an error."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as err:
        return CpuinfoReading(None, f"{path}: cannot read cpuinfo: {err.strerror or err}")
    return guess_from_cpuinfo_text(text, str(path))


def cpu_model_from_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> CpuModelGuess | None:
    """The CPU model derived from an IBM Z cpuinfo file, or None with a logged warning."""
    reading = inspect_cpuinfo(path)
    if reading.problem:
        LOG.warning("no CPU model from cpuinfo: %s", reading.problem)
    return reading.guess
