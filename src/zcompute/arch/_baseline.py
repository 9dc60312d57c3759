"""``cpu_baseline_model``: the CPU model a mixed fleet pins for its KVM guests, per architecture.

With host-model a guest runs with everything its first host's CPU has and may then move only to
hosts at least as new. A fleet of, say, z14, z15 and z16 hosts pins ``z14`` instead: every KVM
guest of that architecture gets the z14 model and may move to any host of the fleet.

The value is ``MODEL`` or ``ARCH=MODEL[,ARCH=MODEL...]``. A bare model belongs to the
architecture whose profile knows the name (``z14``, ``gen16a``, ``z16``: IBM Z; ``POWER9``:
POWER); a model of an architecture without such a list (x86_64) is named with its
architecture, e.g. ``x86_64=Haswell-noTSX``. Each architecture's profile checks its model
(:meth:`~zcompute.arch.ArchProfile.cpu_baseline`); every problem is a ConfigError naming the
option.
"""

from __future__ import annotations

from zcompute.arch._cpucompat import BASELINE_OPTION
from zcompute.arch._registry import PROFILES, canonical_arch, get_profile
from zcompute.errors import ConfigError, InvalidInput

__all__ = ["baseline_model", "parse_cpu_baselines"]

_FORM = 'MODEL or ARCH=MODEL[,ARCH=MODEL...], e.g. "z14" or "s390x=z14,x86_64=Haswell-noTSX"'


def parse_cpu_baselines(text: str) -> dict[str, str]:
    """``{arch: model to write}`` from the option's value; empty when it is off (``""``)."""
    mapping: dict[str, str] = {}
    if not text.strip():
        return mapping
    for number, raw in enumerate(text.split(","), start=1):
        entry = raw.strip()
        where = f"entry {number} {entry!r}"
        if entry.count("=") > 1 or not entry.strip("="):
            raise ConfigError(BASELINE_OPTION, f"{where} is not MODEL or ARCH=MODEL", _FORM)
        arch_text, _, model = entry.rpartition("=")
        arch_text, model = arch_text.strip(), model.strip()
        if "=" in entry and not (arch_text and model):
            raise ConfigError(BASELINE_OPTION, f"{where} has an empty architecture or model", _FORM)
        arch = _arch(arch_text, model, where)
        if arch in mapping:
            raise ConfigError(BASELINE_OPTION, f"{where} repeats architecture {arch!r}", _FORM)
        mapping[arch] = get_profile(arch).cpu_baseline(model, where)
    return mapping


def baseline_model(text: str, arch: str) -> str | None:
    """The model the option pins for KVM guests of ``arch``, if any (the whole value is
    checked: a broken entry for another architecture is reported, never skipped)."""
    return parse_cpu_baselines(text).get(canonical_arch(arch))


def _arch(arch_text: str, model: str, where: str) -> str:
    if arch_text:
        try:
            return canonical_arch(arch_text)
        except InvalidInput as err:
            raise ConfigError(
                BASELINE_OPTION, f"{where}: unknown architecture", err.allowed
            ) from err
    knowing = [p.arch for p in PROFILES.values() if p.cpu_compat.generation(model) is not None]
    if not knowing:
        known = [
            name
            for p in PROFILES.values()
            if p.cpu_compat.catalog
            for name in p.cpu_compat.catalog.names
        ]
        raise ConfigError(
            BASELINE_OPTION,
            f"{where}: no architecture has a CPU model {model!r}; name it as ARCH=MODEL",
            f"{_FORM}; bare models: {', '.join(known)}",
        )
    return knowing[0]
