"""The architectures zcompute knows, and the lookup every caller goes through.

This registry is the one list of architectures: an architecture is one zcompute supports
exactly when it has a profile here. Image and instance validation (:mod:`zcompute.model`), the
CLI's ``--arch`` choices and the test images (:data:`TEST_IMAGE_ARCHES`) all take it from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from zcompute.arch._aarch64 import AARCH64
from zcompute.arch._ppc64le import PPC64LE
from zcompute.arch._profile import ArchProfile
from zcompute.arch._s390x import S390X
from zcompute.arch._testimage import TestImageRecipe
from zcompute.arch._x86_64 import X86_64
from zcompute.errors import InvalidInput

__all__ = [
    "ARCHES",
    "CLOUD_IMAGE_ARCHES",
    "PROFILES",
    "TEST_IMAGE_ARCHES",
    "canonical_arch",
    "get_profile",
    "recipe_for",
]

# Matrix column order: the first-class platform first.
PROFILES: Mapping[str, ArchProfile] = MappingProxyType(
    {p.arch: p for p in (S390X, X86_64, AARCH64, PPC64LE)}
)
ARCHES: tuple[str, ...] = tuple(PROFILES)
#: The architectures zcompute can build a test guest for (their profile has a recipe).
TEST_IMAGE_ARCHES: tuple[str, ...] = tuple(
    arch for arch, profile in PROFILES.items() if profile.test_image is not None
)
#: The architectures with a Debian cloud guest (their recipe says the cloud image was proven).
CLOUD_IMAGE_ARCHES: tuple[str, ...] = tuple(
    arch
    for arch, profile in PROFILES.items()
    if profile.test_image is not None and profile.test_image.cloud_image
)
_ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: p.arch for p in PROFILES.values() for alias in p.aliases}
)


def canonical_arch(name: str, field: str = "arch") -> str:
    """The libvirt name of an architecture (``amd64`` -> ``x86_64``); unknown is InvalidInput."""
    key = name.strip().lower()
    if key in PROFILES:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise InvalidInput(field, f"unknown architecture {name!r}", ARCHES)


def get_profile(arch: str, field: str = "arch") -> ArchProfile:
    """The profile for ``arch`` (aliases accepted); InvalidInput names the allowed arches."""
    return PROFILES[canonical_arch(arch, field)]


def recipe_for(arch: str, field: str = "arch") -> TestImageRecipe:
    """How the test guest of ``arch`` (a canonical name) is built; InvalidInput without one."""
    profile = PROFILES.get(arch)
    if profile is None or profile.test_image is None:
        raise InvalidInput(field, f"no test image recipe for {arch!r}", sorted(TEST_IMAGE_ARCHES))
    return profile.test_image
