"""The host model: libvirt's capabilities and domain capabilities as typed read-only objects,
the IBM Z ``/proc/cpuinfo`` CPU model fallback, and what zcompute concludes from them.
"""

from __future__ import annotations

import logging

from zcompute.host._capabilities import (
    CpuSignature,
    CpuTopology,
    GuestArch,
    GuestDomain,
    HostCapabilities,
    HostCpu,
    Machine,
    NumaCell,
)
from zcompute.host._cpuinfo import (
    IBM_Z_MACHINES,
    CpuinfoReading,
    CpuModelGuess,
    IbmZMachine,
    cpu_model_from_cpuinfo,
    guess_from_cpuinfo_text,
    inspect_cpuinfo,
    machine_types_in_cpuinfo,
)
from zcompute.host._domcaps import CpuModelInfo, CpuModes, DeviceCaps, DomainCapabilities
from zcompute.host._model import CPU_SOURCES, HostModel, read_host
from zcompute.host._report import GuestConclusion, conclude

__all__ = [
    "CPU_SOURCES",
    "IBM_Z_MACHINES",
    "CpuModelGuess",
    "CpuModelInfo",
    "CpuModes",
    "CpuSignature",
    "CpuTopology",
    "CpuinfoReading",
    "DeviceCaps",
    "DomainCapabilities",
    "GuestArch",
    "GuestConclusion",
    "GuestDomain",
    "HostCapabilities",
    "HostCpu",
    "HostModel",
    "IbmZMachine",
    "Machine",
    "NumaCell",
    "conclude",
    "cpu_model_from_cpuinfo",
    "guess_from_cpuinfo_text",
    "inspect_cpuinfo",
    "machine_types_in_cpuinfo",
    "read_host",
]

# A library logs; the application decides where warnings go (the CLI prints them itself).
logging.getLogger("zcompute.host").addHandler(logging.NullHandler())
