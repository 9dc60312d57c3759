"""Per-architecture platform profiles: every architecture rule of zcompute, in one place each.

One module per architecture (``_s390x``, ``_x86_64``, ``_aarch64``, ``_ppc64le``) fills in an
:class:`ArchProfile`. Profiles *decide* (machine type, consoles, devices, CPU, what is
supported); the builder asks them and the XML layer writes what they decided. The registry
(``ARCHES``) is the one list of supported architectures, and each profile also holds its
architecture's facts (e.g. its test-image recipe). Nothing outside this package compares
architecture names, keys a table by them or lists them: a unit test enforces that.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from zcompute.arch._baseline import baseline_model, parse_cpu_baselines
from zcompute.arch._cpucompat import (
    BASELINE_OPTION,
    CpuCatalog,
    CpuCompat,
    CpuGeneration,
    GuestCpu,
    HostCpuFacts,
)
from zcompute.arch._guest import IMAGE_ARCH_PROPERTY, GuestPlatform, choose_guest, offered_arches
from zcompute.arch._lint import LintFinding, domain_arch, parse_domain_xml
from zcompute.arch._machine import (
    IMAGE_MACHINE_PROPERTY,
    MachineChoice,
    choose_machine_type,
    explain_machine_type,
    parse_machine_type_mapping,
)
from zcompute.arch._matrix import (
    MATRIX_FORMATS,
    SupportMatrix,
    SupportRow,
    render_json,
    render_markdown,
    render_matrix,
    render_text,
    rich_table,
    support_matrix,
)
from zcompute.arch._nova_matrix import (
    NOVA_MATRIX_FORMATS,
    NovaCell,
    NovaMatrix,
    NovaMatrixRow,
    nova_cell,
    nova_matrix,
    render_nova,
    render_nova_json,
    render_nova_markdown,
    render_nova_text,
)
from zcompute.arch._nova_rows import (
    NOVA_ROWS,
    NovaRow,
    NovaStatus,
    NovaStatusKind,
    NovaSupport,
)
from zcompute.arch._profile import (
    DOMAIN_TYPES,
    WATCHDOG_ACTIONS,
    ArchProfile,
    ConsoleLayout,
    ConsoleSpec,
    CpuSpec,
    GraphicsPlan,
    GuestDomainType,
    InputSpec,
    WatchdogSpec,
    one_of,
)
from zcompute.arch._registry import (
    ARCHES,
    CLOUD_IMAGE_ARCHES,
    PROFILES,
    TEST_IMAGE_ARCHES,
    canonical_arch,
    get_profile,
    recipe_for,
)
from zcompute.arch._support import (
    FEATURES,
    IMPLEMENTATION,
    Claim,
    Feature,
    Implementation,
    ImplState,
    Status,
)
from zcompute.arch._testimage import TestImageRecipe
from zcompute.errors import InvalidInput

if TYPE_CHECKING:
    from zcompute.host import DomainCapabilities

__all__ = [
    "ARCHES",
    "BASELINE_OPTION",
    "CLOUD_IMAGE_ARCHES",
    "DOMAIN_TYPES",
    "FEATURES",
    "IMAGE_ARCH_PROPERTY",
    "IMAGE_MACHINE_PROPERTY",
    "IMPLEMENTATION",
    "MATRIX_FORMATS",
    "NOVA_MATRIX_FORMATS",
    "NOVA_ROWS",
    "PROFILES",
    "TEST_IMAGE_ARCHES",
    "WATCHDOG_ACTIONS",
    "ArchProfile",
    "Claim",
    "ConsoleLayout",
    "ConsoleSpec",
    "CpuCatalog",
    "CpuCompat",
    "CpuGeneration",
    "CpuSpec",
    "Feature",
    "GraphicsPlan",
    "GuestCpu",
    "GuestDomainType",
    "GuestPlatform",
    "HostCpuFacts",
    "ImplState",
    "Implementation",
    "InputSpec",
    "LintFinding",
    "MachineChoice",
    "NovaCell",
    "NovaMatrix",
    "NovaMatrixRow",
    "NovaRow",
    "NovaStatus",
    "NovaStatusKind",
    "NovaSupport",
    "Status",
    "SupportMatrix",
    "SupportRow",
    "TestImageRecipe",
    "WatchdogSpec",
    "baseline_model",
    "canonical_arch",
    "choose_guest",
    "choose_machine_type",
    "cpu_for",
    "domain_arch",
    "explain_machine_type",
    "get_profile",
    "lint",
    "nova_cell",
    "nova_matrix",
    "offered_arches",
    "one_of",
    "parse_cpu_baselines",
    "parse_domain_xml",
    "parse_machine_type_mapping",
    "recipe_for",
    "render_json",
    "render_markdown",
    "render_matrix",
    "render_nova",
    "render_nova_json",
    "render_nova_markdown",
    "render_nova_text",
    "render_text",
    "rich_table",
    "support_matrix",
]


def cpu_for(
    arch: str,
    domain_type: str,
    host_cpu_model: str | None = None,
    domcaps: DomainCapabilities | None = None,
    *,
    baseline: str | None = None,
) -> CpuSpec:
    """Shorthand for ``get_profile(arch).cpu_for(...)``."""
    return get_profile(arch).cpu_for(domain_type, host_cpu_model, domcaps, baseline=baseline)


def lint(domain: Any, arch: str | None = None) -> list[LintFinding]:
    """Lint ``domain`` with the profile of ``arch``, or of the arch the domain declares."""
    chosen = arch or domain_arch(domain)
    if not chosen:
        raise InvalidInput("arch", "the domain declares no os/type/@arch; name one", ARCHES)
    return get_profile(chosen).lint(domain)


# A library logs; the application decides where warnings go (the CLI prints them itself).
logging.getLogger("zcompute.arch").addHandler(logging.NullHandler())
