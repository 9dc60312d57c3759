"""The shape of an architecture profile and the decisions every profile makes the same way.

A profile holds data (one module per architecture fills it in) and answers questions with it.
It decides; it builds no XML. The builder asks, the XML layer writes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, get_args

from zcompute.arch._lint import LintFinding, lint_domain
from zcompute.arch._support import FEATURE_KEYS, Claim, Status, feature
from zcompute.errors import FeatureUnsupported, InvalidInput
from zcompute.xml._enums import WatchdogAction

if TYPE_CHECKING:
    from zcompute.host._domcaps import DomainCapabilities

__all__ = [
    "DOMAIN_TYPES",
    "WATCHDOG_ACTIONS",
    "ArchProfile",
    "ConsoleLayout",
    "ConsoleSpec",
    "CpuSpec",
    "GraphicsPlan",
    "InputSpec",
    "WatchdogSpec",
]

LOG = logging.getLogger("zcompute.arch")

DOMAIN_TYPES = ("kvm", "qemu")
#: What libvirt's schema allows in ``<watchdog action=...>``: the one list of watchdog actions.
WATCHDOG_ACTIONS: tuple[str, ...] = get_args(WatchdogAction)
CONSOLE_ROLES = ("interactive", "log")


@dataclasses.dataclass(frozen=True)
class ConsoleSpec:
    """One console or serial device the builder must write.

    ``element`` is ``console`` or ``serial``; ``source_type`` ``pty`` or ``file`` (``path`` is
    the file then). A pty may also keep a log (``log_file``, ``log_append``: libvirt's
    ``<log file=... append='on'/>``, written by virtlogd). ``role`` says what zcompute uses the
    device for; :attr:`log_path` is where this device's output is kept, if anywhere.
    """

    element: str
    source_type: str
    target_type: str | None
    role: str
    target_model: str | None = None
    path: str | None = None
    log_file: str | None = None
    log_append: bool = False
    port: int | None = None
    # For a file source: append instead of truncating when QEMU (re)opens the file, so the
    # boot logs of reboots and restarts follow each other instead of replacing one another.
    append: bool = True

    @property
    def log_path(self) -> str | None:
        return self.path if self.source_type == "file" else self.log_file


@dataclasses.dataclass(frozen=True)
class ConsoleLayout:
    """A profile's complete console answer for one form: devices, kernel args, guest device."""

    specs: tuple[ConsoleSpec, ...]
    kernel_args: tuple[str, ...]
    interactive_device: str


@dataclasses.dataclass(frozen=True)
class WatchdogSpec:
    model: str
    action: str


@dataclasses.dataclass(frozen=True)
class InputSpec:
    type: str
    bus: str


@dataclasses.dataclass(frozen=True)
class GraphicsPlan:
    """What a graphical console needs: the graphics type, a video model and input devices."""

    type: str
    video_model: str
    inputs: tuple[InputSpec, ...]


@dataclasses.dataclass(frozen=True)
class CpuSpec:
    """The ``<cpu>`` decision. ``mode`` None means: write no ``<cpu>``, QEMU's default applies."""

    mode: str | None
    model: str | None = None
    reason: str = ""


LayoutFn = Callable[[str, str, bool], ConsoleLayout]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArchProfile:
    """Every rule zcompute has for one guest architecture."""

    arch: str
    aliases: tuple[str, ...] = ()
    # Machine type: the default, and the families a (canonical) machine name must belong to.
    default_machine: str
    machine_families: tuple[str, ...]
    # <features>: what to write, what only firmware adds, and what lint flags.
    features: tuple[str, ...]
    uefi_features: tuple[str, ...] = ()
    unsupported_features: tuple[str, ...]
    timers: tuple[str, ...] = ()
    # Storage and network.
    disk_bus: str
    disk_buses: tuple[str, ...]
    cdrom_bus: str
    cdrom_buses: tuple[str, ...]
    scsi_controller_model: str = "virtio-scsi"
    nic_model: str = "virtio"
    nic_models: tuple[str, ...]
    address_type: str | None
    virtio_address_types: tuple[str, ...]
    # Other devices; None means the architecture has no such device.
    usb_controller_model: str | None
    tablet_bus: str | None
    watchdog_model: str | None
    watchdog_models: tuple[str, ...]
    panic_model: str | None
    panic_models: tuple[str, ...]
    video_model: str | None
    video_models: tuple[str, ...]
    graphics_types: tuple[str, ...]
    sound: bool
    memballoon: str = "virtio"
    launch_security: str | None = None
    secure_memballoon: str = "none"
    supports_loadparm: bool = False
    # CPU: modes to try under KVM (in order) and named models to try under TCG (in order).
    kvm_cpu_modes: tuple[str, ...]
    tcg_cpu_models: tuple[str, ...]
    # Firmware images to use when installed (UEFI), best first.
    uefi_loaders: tuple[str, ...] = ()
    # Whether a missing host CPU model may be derived from /proc/cpuinfo (IBM Z format).
    cpu_model_from_cpuinfo: bool = False
    # How Fibre Channel LUNs appear: "zfcp" (IBM Z FCP channels, unit_add) or "scsi-scan"
    # (PCI HBAs, SCSI host scan); None where FC volumes are not supported.
    fc_transport: str | None = None
    # Consoles: forms with the minimum libvirt version each needs, and the layout function.
    console_forms: Mapping[str, int]
    console_layout: LayoutFn
    default_console_target: str
    default_serial_target: str
    serial_targets: tuple[str, ...]
    console_targets: tuple[str, ...]
    early_console_targets: tuple[str, ...]
    # The support-matrix column: one claim per feature.
    support: Mapping[str, Claim]

    def __post_init__(self) -> None:
        missing = set(FEATURE_KEYS) - set(self.support)
        extra = set(self.support) - set(FEATURE_KEYS)
        if missing or extra:
            raise ValueError(f"{self.arch}: support claims missing {missing}, unknown {extra}")

    # -- features and support ------------------------------------------------------------

    def claim(self, key: str) -> Claim:
        feature(key)  # raises InvalidInput for an unknown key
        return self.support[key]

    def require(self, key: str) -> Claim:
        """The claim for ``key``; raises FeatureUnsupported when the arch does not have it."""
        claim = self.claim(key)
        if claim.status is Status.MISSING:
            raise FeatureUnsupported(feature(key).name, self.arch, claim.note)
        return claim

    def supports(self, key: str) -> bool:
        return self.claim(key).status is not Status.MISSING

    def domain_features(self, *, uefi: bool = False) -> tuple[str, ...]:
        return self.features + (self.uefi_features if uefi else ())

    # -- machine type --------------------------------------------------------------------

    def machine_usable(self, name: str) -> bool:
        """Whether a machine name belongs to one of the arch's usable machine families."""
        return any(name == fam or name.startswith(f"{fam}-") for fam in self.machine_families)

    # -- devices -------------------------------------------------------------------------

    def memballoon_model(self, secure: bool = False) -> str:
        """``virtio`` normally; for protected (secure) guests what the platform requires."""
        if secure:
            self.require("secure-execution")
            return self.secure_memballoon
        return self.memballoon

    def watchdog(self, action: str = "reset") -> WatchdogSpec:
        self.require("watchdog")
        if action not in WATCHDOG_ACTIONS:
            raise InvalidInput("watchdog action", f"unknown action {action!r}", WATCHDOG_ACTIONS)
        if self.watchdog_model is None:  # a profile claiming support must name a model
            raise FeatureUnsupported("Watchdog", self.arch, "no watchdog device model")
        return WatchdogSpec(self.watchdog_model, action)

    def input_devices(self, *, graphics: bool) -> tuple[InputSpec, ...]:
        """A tablet only where there is a graphical console to point at, and a bus for it."""
        if graphics and self.tablet_bus is not None:
            return (InputSpec("tablet", self.tablet_bus),)
        return ()

    def graphics(self, kind: str) -> GraphicsPlan:
        """The devices for a ``vnc`` or ``spice`` console; FeatureUnsupported where missing."""
        if kind not in ("vnc", "spice"):
            raise InvalidInput("graphics type", f"unknown type {kind!r}", ("vnc", "spice"))
        self.require(kind)
        if kind not in self.graphics_types or self.video_model is None:
            raise FeatureUnsupported(feature(kind).name, self.arch, "no graphics device")
        return GraphicsPlan(kind, self.video_model, self.input_devices(graphics=True))

    def uefi_loader(
        self,
        domcaps: DomainCapabilities | None = None,
        *,
        candidates: Sequence[str] | None = None,
    ) -> str | None:
        """The UEFI firmware image to boot with, or None when none is installed."""
        paths = tuple(candidates if candidates is not None else self.uefi_loaders)
        if domcaps is not None and domcaps.loaders:
            paths = tuple(p for p in paths if p in domcaps.loaders)
        return next((p for p in paths if Path(p).is_file()), None)

    # -- consoles ------------------------------------------------------------------------

    def console_form(self, requested: str, libvirt_version: int | None = None) -> str:
        """``requested`` if this libvirt supports it, else the first form (with a warning)."""
        if requested not in self.console_forms:
            raise InvalidInput("console_form", f"unknown form {requested!r}", self.console_forms)
        needed = self.console_forms[requested]
        if libvirt_version is not None and libvirt_version < needed:
            fallback = next(iter(self.console_forms))
            LOG.warning(
                "console form %r needs libvirt %s on %s; using %r",
                requested,
                _version_text(needed),
                self.arch,
                fallback,
            )
            return fallback
        return requested

    def layout(self, log_path: str, form: str = "console", virtlogd: bool = True) -> ConsoleLayout:
        if not PurePosixPath(log_path).is_absolute():
            raise InvalidInput("log_path", f"must be an absolute path, got {log_path!r}")
        if form not in self.console_forms:
            raise InvalidInput("console_form", f"unknown form {form!r}", self.console_forms)
        return self.console_layout(log_path, form, virtlogd)

    def consoles(
        self, log_path: str, *, form: str = "console", virtlogd: bool = True
    ) -> list[ConsoleSpec]:
        """The console devices: one interactive, and one that keeps the log at ``log_path``."""
        return list(self.layout(log_path, form, virtlogd).specs)

    def kernel_console_args(
        self, form: str = "console", *, virtlogd: bool = True
    ) -> tuple[str, ...]:
        """``console=`` arguments for direct kernel boot so the boot log reaches the log file."""
        return self.layout("/console.log", form, virtlogd).kernel_args

    def interactive_device(self, form: str = "console", *, virtlogd: bool = True) -> str:
        """The guest device node behind the interactive console (for a shell on it)."""
        return self.layout("/console.log", form, virtlogd).interactive_device

    # -- CPU -----------------------------------------------------------------------------

    def cpu_for(
        self,
        domain_type: str,
        host_cpu_model: str | None = None,
        domcaps: DomainCapabilities | None = None,
    ) -> CpuSpec:
        """The CPU: host-model/passthrough only under KVM; under TCG a model domcaps accepts."""
        if domain_type not in DOMAIN_TYPES:
            raise InvalidInput("domain type", f"unknown type {domain_type!r}", DOMAIN_TYPES)
        if domain_type == "kvm":
            kvm = self._kvm_cpu(host_cpu_model, domcaps)
            if kvm is not None:
                return kvm
        return self._tcg_cpu(domcaps)

    def _kvm_cpu(
        self, host_model: str | None, domcaps: DomainCapabilities | None
    ) -> CpuSpec | None:
        for mode in self.kvm_cpu_modes:
            if domcaps is None or domcaps.cpu.supports(mode):
                return CpuSpec(mode, reason=f"KVM: {mode} is supported")
        if host_model and (domcaps is None or _usable(domcaps, host_model) == "yes"):
            return CpuSpec("custom", host_model, reason="KVM: the host's CPU model by name")
        return None

    def _tcg_cpu(self, domcaps: DomainCapabilities | None) -> CpuSpec:
        if domcaps is None:
            model = self.tcg_cpu_models[0]
            return CpuSpec("custom", model, reason="TCG: profile default (no domcaps to check)")
        for wanted in ("yes", "unknown"):
            for model in self.tcg_cpu_models:
                if _usable(domcaps, model) == wanted:
                    return CpuSpec("custom", model, reason=f"TCG: domcaps lists {model} ({wanted})")
        if domcaps.cpu.maximum:
            return CpuSpec("maximum", reason="TCG: no preferred model listed; maximum mode")
        return CpuSpec(None, reason="TCG: domcaps offers no usable choice; QEMU's default CPU")

    # -- lint ----------------------------------------------------------------------------

    def lint(self, domain: Any) -> list[LintFinding]:
        """What is wrong for this architecture in an existing domain (XML text or tree)."""
        return lint_domain(self, domain)


def _usable(domcaps: DomainCapabilities, model: str) -> str | None:
    info = domcaps.cpu.model(model)
    return None if info is None else info.usable


def _version_text(version: int) -> str:
    return f"{version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}"
