"""Per-architecture decisions: devices, consoles, features, refusals."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from zcompute.arch import ARCHES, FEATURES, PROFILES, ConsoleSpec, Status, get_profile
from zcompute.errors import FeatureUnsupported, InvalidInput

S390X, X86, ARM, PPC = (PROFILES[a] for a in ("s390x", "x86_64", "aarch64", "ppc64le"))
LOG = "/var/lib/zcompute/instances/i/console.log"


def test_registry_and_aliases() -> None:
    assert ARCHES == ("s390x", "x86_64", "aarch64", "ppc64le")
    assert get_profile("amd64") is X86
    assert get_profile("ARM64") is ARM
    assert get_profile("ppc64el") is PPC
    assert get_profile(" s390x ") is S390X


def test_unknown_arch_names_the_allowed() -> None:
    with pytest.raises(InvalidInput) as err:
        get_profile("s390")
    assert err.value.field == "arch"
    assert err.value.allowed == "s390x, x86_64, aarch64, ppc64le"


@pytest.mark.parametrize("arch", ARCHES)
def test_every_profile_claims_every_feature(arch: str) -> None:
    profile = PROFILES[arch]
    assert {f.key for f in FEATURES} == set(profile.support)
    assert profile.machine_usable(profile.default_machine)
    assert profile.disk_bus in profile.disk_buses
    assert profile.cdrom_bus in profile.cdrom_buses
    assert profile.nic_model in profile.nic_models
    assert not set(profile.features) & set(profile.unsupported_features)
    if profile.watchdog_model:
        assert profile.watchdog_model in profile.watchdog_models
    if profile.panic_model:
        assert profile.panic_model in profile.panic_models


def test_s390x_device_rules() -> None:
    assert S390X.default_machine == "s390-ccw-virtio"
    assert S390X.features == ()
    assert S390X.domain_features(uefi=True) == ()
    assert {"acpi", "apic"} <= set(S390X.unsupported_features)
    assert (S390X.disk_bus, S390X.nic_model, S390X.address_type) == ("virtio", "virtio", "ccw")
    assert S390X.cdrom_bus == "scsi"
    assert S390X.scsi_controller_model == "virtio-scsi"
    assert S390X.usb_controller_model == "none"
    assert S390X.watchdog("reset").model == "diag288"
    assert S390X.panic_model == "s390"
    assert S390X.memballoon_model() == "virtio"
    assert S390X.memballoon_model(secure=True) == "none"
    assert S390X.launch_security == "s390-pv"
    assert S390X.supports_loadparm
    assert S390X.input_devices(graphics=True) == ()
    assert S390X.video_model is None
    assert S390X.graphics_types == ()


@pytest.mark.parametrize("kind", ["vnc", "spice"])
def test_graphics_refused_on_s390x(kind: str) -> None:
    with pytest.raises(FeatureUnsupported) as err:
        S390X.graphics(kind)
    assert err.value.arch == "s390x"
    assert kind.upper() in err.value.feature
    assert "SCLP" in str(err.value)


def test_require_reports_feature_and_arch() -> None:
    with pytest.raises(FeatureUnsupported, match="Inject networking is not supported on s390x"):
        S390X.require("inject-networking")
    assert S390X.require("secure-execution").status is Status.PARTIAL
    with pytest.raises(FeatureUnsupported, match="Secure Execution"):
        X86.memballoon_model(secure=True)
    with pytest.raises(InvalidInput, match="unknown feature"):
        S390X.require("teleport")


def test_x86_rules() -> None:
    assert X86.features == ("acpi", "apic")
    assert X86.watchdog("poweroff").model == "i6300esb"
    plan = X86.graphics("vnc")
    assert (plan.type, plan.video_model) == ("vnc", "vga")
    assert [(i.type, i.bus) for i in plan.inputs] == [("tablet", "usb")]
    assert X86.input_devices(graphics=False) == ()  # a tablet only with graphics


def test_aarch64_and_ppc64le_rules(tmp_path: Path) -> None:
    assert ARM.default_machine == "virt"
    assert PPC.default_machine == "pseries"
    assert ARM.domain_features(uefi=True) == ("acpi",)
    assert ARM.domain_features() == ()
    assert [(i.type, i.bus) for i in ARM.graphics("vnc").inputs] == [("tablet", "virtio")]
    with pytest.raises(FeatureUnsupported):
        ARM.graphics("spice")
    firmware = tmp_path / "AAVMF_CODE.fd"
    assert ARM.uefi_loader(candidates=[str(firmware)]) is None  # not installed
    firmware.write_bytes(b"\0")
    assert ARM.uefi_loader(candidates=[str(tmp_path / "x"), str(firmware)]) == str(firmware)


def test_watchdog_action_is_checked() -> None:
    with pytest.raises(InvalidInput) as err:
        S390X.watchdog("explode")
    assert "inject-nmi" in (err.value.allowed or "")


def test_s390x_console_form_of_the_blueprint() -> None:
    interactive, log = S390X.consoles(LOG)
    assert interactive == ConsoleSpec("console", "pty", "sclp", "interactive")
    assert log == ConsoleSpec("console", "file", "sclplm", "log", path=LOG)
    assert log.log_path == LOG
    assert interactive.log_path is None
    assert S390X.kernel_console_args() == ("console=ttysclp0", "console=ttyS0")
    assert S390X.interactive_device() == "/dev/ttysclp0"


def test_s390x_serial_form() -> None:
    interactive, log = S390X.consoles(LOG, form="serial")
    assert (interactive.element, interactive.target_type, interactive.target_model) == (
        "serial",
        "sclp-serial",
        "sclpconsole",
    )
    assert (log.source_type, log.target_model, log.path) == ("file", "sclplmconsole", LOG)
    assert S390X.kernel_console_args("serial") == S390X.kernel_console_args("console")


def test_s390x_serial_form_needs_libvirt_3_10(caplog: pytest.LogCaptureFixture) -> None:
    assert S390X.console_form("serial", 9_000_000) == "serial"
    with caplog.at_level(logging.WARNING, "zcompute.arch"):
        assert S390X.console_form("serial", 3_009_000) == "console"
    assert "3.10.0" in caplog.text
    with pytest.raises(InvalidInput, match="console_form"):
        S390X.console_form("hologram")


@pytest.mark.parametrize(
    ("profile", "args", "device", "target"),
    [
        (X86, ("console=ttyS0",), "/dev/ttyS0", "isa-serial"),
        (ARM, ("console=ttyAMA0",), "/dev/ttyAMA0", "system-serial"),
        (PPC, ("console=hvc0",), "/dev/hvc0", "spapr-vio-serial"),
    ],
)
def test_pty_with_virtlogd_log(profile, args, device, target) -> None:  # type: ignore[no-untyped-def]
    (spec,) = profile.consoles(LOG)
    assert (spec.source_type, spec.target_type, spec.role) == ("pty", target, "interactive")
    assert spec.log_file == LOG
    assert spec.log_append
    assert spec.log_path == LOG
    assert profile.kernel_console_args() == args
    assert profile.interactive_device() == device


@pytest.mark.parametrize("profile", [X86, ARM, PPC])
def test_without_virtlogd_the_log_is_a_file_console(profile) -> None:  # type: ignore[no-untyped-def]
    specs = profile.consoles(LOG, virtlogd=False)
    roles = {s.role: s for s in specs}
    assert roles["log"].source_type == "file"
    assert roles["log"].path == LOG
    assert roles["interactive"].source_type == "pty"
    assert roles["interactive"].log_file is None
    args = profile.kernel_console_args(virtlogd=False)
    # The log console is named last so it also becomes /dev/console.
    assert profile.interactive_device(virtlogd=False).endswith(args[0].split("=")[1])


def test_console_log_path_must_be_absolute() -> None:
    with pytest.raises(InvalidInput, match="log_path"):
        S390X.consoles("console.log")


def test_fc_transport_is_a_profile_decision() -> None:
    assert S390X.fc_transport == "zfcp"
    assert X86.fc_transport == ARM.fc_transport == PPC.fc_transport == "scsi-scan"
