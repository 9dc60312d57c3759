"""Groups of libvirt ``<features>`` children that belong to one platform family.

Profiles combine these to say what they refuse; lint then flags, say, ``<acpi/>`` and
``<apic/>`` on an IBM Z guest (habits carried over from x86 guests).
"""

from __future__ import annotations

__all__ = ["ACPI", "ARM_ONLY", "POWER_ONLY", "X86_ONLY"]

ACPI = ("acpi",)
X86_ONLY = (
    "apic",
    "pae",
    "hap",
    "viridian",
    "hyperv",
    "pvspinlock",
    "vmport",
    "smm",
    "ioapic",
    "msrs",
    "tsx",
)
POWER_ONLY = ("hpt", "htm", "nested-hv", "ccf-assist", "cfpc", "sbbc", "ibs")
ARM_ONLY = ("gic",)
