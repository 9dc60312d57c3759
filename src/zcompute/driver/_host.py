"""What the driver knows about its host: capabilities, CPU model, whether KVM really runs."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zcompute.arch import get_profile
from zcompute.config import Config
from zcompute.errors import HostUnsupported
from zcompute.host import HostCapabilities, cpu_model_from_cpuinfo
from zcompute.plan import HostView
from zcompute.virt import Hypervisor

LOG = logging.getLogger("zcompute.driver")

# The oldest versions zcompute is tested on (docs/platforms.md): Debian 12's libvirt 9.0 and
# QEMU 7.2; CI also runs libvirt 11.3 / QEMU 10.0 (Debian 13, bookworm-backports). Versions are
# encoded as libvirt does: major * 1_000_000 + minor * 1000 + micro.
MIN_LIBVIRT = 9_000_000
MIN_QEMU = 7_002_000
TESTED_STACKS = ("libvirt 9.0 / QEMU 7.2", "libvirt 11.3 / QEMU 10.0")


def version_text(encoded: int) -> str:
    """``11003000`` -> ``11.3.0``."""
    return f"{encoded // 1_000_000}.{encoded // 1000 % 1000}.{encoded % 1000}"


def version_problem(libvirt_version: int, qemu_version: int) -> str | None:
    """Why these versions are too old for zcompute, or None when they are fine."""
    old = [
        f"{name} {version_text(have)} (needs >= {version_text(need)})"
        for name, have, need in (
            ("libvirt", libvirt_version, MIN_LIBVIRT),
            ("QEMU", qemu_version, MIN_QEMU),
        )
        if have < need
    ]
    if not old:
        return None
    return (
        f"this host runs {' and '.join(old)}; zcompute is tested on "
        f"{' and '.join(TESTED_STACKS)}: run 'scripts/setup-host' or upgrade libvirt and QEMU"
    )


def checked_versions(hv: Hypervisor) -> tuple[int, int]:
    """libvirt's and QEMU's versions; HostUnsupported if they are older than zcompute's minimum."""
    versions = hv.versions()
    problem = version_problem(*versions)
    if problem is not None:
        raise HostUnsupported(problem)
    return versions


@dataclass(frozen=True)
class CpuModel:
    """The host CPU model and where zcompute learned it."""

    model: str | None
    vendor: str | None
    source: str  # "capabilities", "cpuinfo" or "unknown"


def host_cpu_model(caps: HostCapabilities, cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuModel:
    """The model libvirt reports, else (where the arch allows it) the one cpuinfo implies.

    This is the blueprint's work item 2: some libvirt versions report s390x capabilities
    without a ``<model>``; the machine type in /proc/cpuinfo names the generation.
    """
    if caps.cpu.model:
        return CpuModel(caps.cpu.model, caps.cpu.vendor, "capabilities")
    if get_profile(caps.arch).cpu_model_from_cpuinfo:
        guess = cpu_model_from_cpuinfo(cpuinfo)
        if guess is not None:
            return CpuModel(guess.model, guess.vendor, "cpuinfo")
    return CpuModel(None, caps.cpu.vendor, "unknown")


@dataclass(frozen=True)
class KvmProbe:
    usable: bool
    detail: str


KvmProber = Callable[[], KvmProbe]


def kvm_usable(
    virt_type: str, data_dir: Path, versions: tuple[int, int], prober: KvmProber
) -> bool:
    """Whether KVM guests really run here; probed once per kernel/libvirt/QEMU and remembered.

    ``/dev/kvm`` existing proves nothing: on nested, paravirtualised hosts a standard guest
    kernel dies with "emulation failure" before its init. Only ``auto`` needs the answer.
    """
    known = known_kvm_answer(virt_type, data_dir, versions)
    if known is not None:
        return known
    result = prober()
    LOG.warning("KVM probe: %s", result.detail)
    record = data_dir / _PROBE_RECORD
    record.parent.mkdir(parents=True, exist_ok=True)
    key = _probe_key(versions)
    record.write_text(json.dumps({"key": key, "usable": result.usable, "detail": result.detail}))
    return result.usable


def known_kvm_answer(virt_type: str, data_dir: Path, versions: tuple[int, int]) -> bool | None:
    """Whether KVM guests run here, if that is known without the probe; None: only it can tell."""
    if virt_type != "auto":
        return virt_type == "kvm"
    if not os.path.exists("/dev/kvm"):
        return False
    saved = recorded_kvm_probe(data_dir, versions)
    return None if saved is None else saved.usable


#: What a dry run says when it plans before the KVM probe ever ran.
UNPROBED_NOTE = (
    "KVM has not been probed on this host yet: planned as if KVM were not usable (TCG); "
    "the first real boot probes it and may choose domain type kvm"
)


def dry_run_note(config: Config, versions: tuple[int, int]) -> str | None:
    """What a dry run says when the KVM probe's answer is not known yet (it never probes)."""
    known = known_kvm_answer(config.virt_type, config.data_dir, versions)
    return None if known is not None else UNPROBED_NOTE


_PROBE_RECORD = "kvm-probe.json"


def _probe_key(versions: tuple[int, int]) -> str:
    return f"{os.uname().release}/{versions[0]}/{versions[1]}"


def recorded_kvm_probe(data_dir: Path, versions: tuple[int, int]) -> KvmProbe | None:
    """The KVM probe's answer for this kernel, libvirt and QEMU, if it ran already."""
    try:
        saved = json.loads((data_dir / _PROBE_RECORD).read_text())
        if saved.get("key") == _probe_key(versions):
            return KvmProbe(bool(saved["usable"]), str(saved.get("detail", "")))
    except (OSError, ValueError, KeyError):
        pass  # not probed yet on this kernel/libvirt/QEMU
    return None


def read_host_view(hv: Hypervisor, kvm: bool, cpuinfo: Path = Path("/proc/cpuinfo")) -> HostView:
    caps = HostCapabilities.from_xml(hv.capabilities())
    libvirt_version, _qemu = hv.versions()
    return HostView(
        caps=caps,
        host_cpu_model=host_cpu_model(caps, cpuinfo).model,
        kvm_usable=kvm,
        libvirt_version=libvirt_version,
    )
