"""One vocabulary, defined once: architectures, watchdog actions, domain types, profile value
types and test-image recipes each have one home that everything else imports."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import get_args

import pytest

import zcompute.model
from zcompute.arch import (
    ARCHES,
    DOMAIN_TYPES,
    PROFILES,
    TEST_IMAGE_ARCHES,
    WATCHDOG_ACTIONS,
    ArchProfile,
    ConsoleSpec,
    TestImageRecipe,
    get_profile,
    one_of,
    recipe_for,
)
from zcompute.config import VIRT_TYPES
from zcompute.errors import InvalidInput
from zcompute.model import validate_arch
from zcompute.xml import WatchdogAction

SRC = Path(zcompute.model.__file__).parent


# -- architectures: the profiles' registry -------------------------------------------------


def test_the_architectures_zcompute_accepts_are_those_with_a_profile() -> None:
    assert tuple(PROFILES) == ARCHES
    for arch in ARCHES:
        assert validate_arch(arch) == arch


@pytest.mark.parametrize("arch", ["armv7l", "i686", "ppc64", "sparc64", "amd64"])
def test_an_architecture_without_a_profile_is_refused_naming_the_allowed_ones(arch: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_arch(arch, "image.arch")
    assert info.value.field == "image.arch"
    assert info.value.allowed == ", ".join(ARCHES)


# -- watchdog actions: libvirt's schema, through the XML layer -----------------------------


def test_watchdog_actions_are_the_xml_layers() -> None:
    assert get_args(WatchdogAction) == WATCHDOG_ACTIONS


def _literal_sets_with(word: str) -> list[str]:
    """Where a tuple, list, set or Literal[...] spells out ``word`` among other strings."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and any(
                isinstance(elt, ast.Constant) and elt.value == word for elt in node.elts
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_the_watchdog_actions_are_written_down_once() -> None:
    places = _literal_sets_with("inject-nmi")
    assert len(places) == 1, places
    assert places[0].startswith("xml/_enums.py:"), places


def test_domain_types_are_the_profiles_and_virt_types_add_auto() -> None:
    assert zcompute.model.DOMAIN_TYPES is DOMAIN_TYPES
    assert DOMAIN_TYPES == ("kvm", "qemu")
    # config sits below arch, so it spells the set out; arch and the CLI import it
    assert ("auto", *DOMAIN_TYPES) == VIRT_TYPES


# -- profile fields: the XML layer's Literal types -----------------------------------------


def test_the_builder_renders_profile_values_without_casts() -> None:
    tree = ast.parse((SRC / "builder.py").read_text())
    casts = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "cast"
    ]
    assert casts == []


def test_profile_fields_that_reach_xml_are_typed_with_its_literals() -> None:
    hints = {f.name: str(f.type) for f in dataclasses.fields(ArchProfile)}
    for field, literal in [
        ("disk_bus", "DiskBus"),
        ("watchdog_model", "WatchdogModel"),
        ("panic_model", "PanicModel"),
        ("memballoon", "MemBalloonModel"),
        ("kvm_cpu_modes", "CpuMode"),
        ("console_targets", "ConsoleTarget"),
        ("serial_targets", "SerialTarget"),
        ("graphics_types", "GraphicsType"),
    ]:
        assert literal in hints[field], (field, hints[field])


def test_a_console_spec_target_must_belong_to_its_element() -> None:
    console = ConsoleSpec("console", "pty", "sclp", "interactive")
    assert (console.console_target, console.serial_target) == ("sclp", None)
    serial = ConsoleSpec("serial", "pty", "sclp-serial", "interactive", "sclpconsole")
    assert (serial.console_target, serial.serial_target) == (None, "sclp-serial")
    with pytest.raises(ValueError, match="not a target of <console>"):
        ConsoleSpec("console", "pty", "sclp-serial", "interactive")
    with pytest.raises(ValueError, match="not a target of <serial>"):
        ConsoleSpec("serial", "pty", "sclplm", "log")
    with pytest.raises(ValueError, match="no target model"):
        ConsoleSpec("console", "pty", "sclp", "interactive", "sclpconsole")


def test_one_of_narrows_text_to_a_profiles_value() -> None:
    profile = get_profile("s390x")
    assert one_of("scsi", profile.disk_buses) == "scsi"
    assert one_of("sata", profile.disk_buses) is None
    assert one_of(None, profile.disk_buses) is None


# -- test-image recipes: profile data --------------------------------------------------------


def test_test_images_exist_for_the_profiles_with_a_recipe() -> None:
    assert TEST_IMAGE_ARCHES == ("s390x", "x86_64", "aarch64")
    assert get_profile("ppc64le").test_image is None
    with pytest.raises(InvalidInput, match=r"no test image recipe for 'ppc64le'") as info:
        recipe_for("ppc64le")
    assert info.value.allowed == "aarch64, s390x, x86_64"
    with pytest.raises(InvalidInput):
        recipe_for("amd64")  # test images are named by the canonical arch


def test_recipes_are_what_the_cached_images_were_built_from() -> None:
    """The recipe is part of a test image's content key: moving it into the profiles must not
    change a single value, or every cached image would be rebuilt."""
    common = ("virtio_blk", "virtio_net", "virtio_scsi", "sd_mod", "sr_mod", "virtio_balloon")
    assert recipe_for("s390x") == TestImageRecipe(
        "s390x", "linux-image-s390x", (*common, "diag288_wdt"), cloud_image=True
    )
    assert recipe_for("x86_64") == TestImageRecipe(
        "amd64",
        "linux-image-cloud-amd64",
        ("virtio_pci", *common, "button", "evdev"),
        True,
        cloud_image=True,
    )
    assert recipe_for("aarch64") == TestImageRecipe(
        "arm64", "linux-image-cloud-arm64", ("virtio_pci", *common)
    )
