"""The host as libvirt and the kernel describe it: capabilities and domain capabilities as
typed read-only objects, and the IBM Z ``/proc/cpuinfo`` CPU model fallback.

Parsing only, below the architecture profiles; what zcompute concludes from it (with the
profiles) is :mod:`zcompute.hostreport`.
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

__all__ = [
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
    "GuestDomain",
    "HostCapabilities",
    "HostCpu",
    "IbmZMachine",
    "Machine",
    "NumaCell",
    "cpu_model_from_cpuinfo",
    "guess_from_cpuinfo_text",
    "inspect_cpuinfo",
    "machine_types_in_cpuinfo",
]

# A library logs; the application decides where warnings go (the CLI prints them itself).
logging.getLogger("zcompute.host").addHandler(logging.NullHandler())
