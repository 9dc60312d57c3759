"""The shape of an architecture profile and the decisions every profile makes the same way.

A profile holds data (one module per architecture fills it in) and answers questions with it.
It decides; it builds no XML. The builder asks, the XML layer writes.

Every field that ends up in domain XML is typed with the XML layer's ``Literal`` for it
(:mod:`zcompute.xml._enums`: ``DiskBus``, ``WatchdogModel``, ``ConsoleTarget``, ...), so mypy
checks each profile's values against libvirt's schema and the builder needs no casts. Where a
value arrives as text (an image property, an operator's flag) the profile narrows it to the
typed value while checking it (:func:`one_of`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

from zcompute.arch._cpucompat import (
    BASELINE_OPTION,
    CpuCompat,
    GuestCpu,
    HostCpuFacts,
    cpu_move_problem,
)
from zcompute.arch._lint import LintFinding, lint_domain
from zcompute.arch._support import (
    FEATURE_KEYS,
    IMPLEMENTATION,
    Claim,
    ImplState,
    Status,
    feature,
)
from zcompute.arch._testimage import TestImageRecipe
from zcompute.errors import ConfigError, FeatureUnsupported, InvalidInput
from zcompute.xml import (
    AddressType,
    CharType,
    ConsoleTarget,
    CpuFallback,
    CpuMode,
    DiskBus,
    DiskDevice,
    GraphicsType,
    InputBus,
    InputType,
    LaunchSecurityType,
    MemBalloonModel,
    PanicModel,
    SerialTarget,
    SerialTargetModel,
    TimerName,
    VideoModel,
    WatchdogAction,
    WatchdogModel,
)

if TYPE_CHECKING:
    from zcompute.host import DomainCapabilities

__all__ = [
    "DOMAIN_TYPES",
    "WATCHDOG_ACTIONS",
    "ArchProfile",
    "ConsoleLayout",
    "ConsoleSpec",
    "CpuSpec",
    "GraphicsPlan",
    "GuestDomainType",
    "InputSpec",
    "WatchdogSpec",
    "one_of",
]

LOG = logging.getLogger("zcompute.arch")

#: The domain types zcompute runs guests with: KVM, or QEMU's TCG emulation.
GuestDomainType = Literal["kvm", "qemu"]
DOMAIN_TYPES: tuple[GuestDomainType, ...] = get_args(GuestDomainType)
#: What libvirt's schema allows in ``<watchdog action=...>``: the one list of watchdog actions
#: (the XML layer's ``WatchdogAction``; image properties and flavors take it from here).
WATCHDOG_ACTIONS: tuple[WatchdogAction, ...] = get_args(WatchdogAction)
ConsoleElement = Literal["console", "serial"]
ConsoleRole = Literal["interactive", "log"]
_CONSOLE_TARGETS: tuple[ConsoleTarget, ...] = get_args(ConsoleTarget)
_SERIAL_TARGETS: tuple[SerialTarget, ...] = get_args(SerialTarget)

_T = TypeVar("_T", bound=str)


def one_of(value: object, allowed: Sequence[_T]) -> _T | None:
    """The member of ``allowed`` equal to ``value`` (typed as ``allowed``'s Literal), or None."""
    return next((member for member in allowed if member == value), None)


@dataclasses.dataclass(frozen=True)
class ConsoleSpec:
    """One console or serial device the builder must write.

    ``element`` is ``console`` or ``serial``; ``source_type`` ``pty``, ``file`` (``path`` is
    the file then) or ``tcp`` (a raw TCP server on ``tcp_host``:``tcp_port``, see
    :meth:`ArchProfile.layout`). A pty or TCP device may also keep a log (``log_file``,
    ``log_append``: libvirt's ``<log file=... append='on'/>``, written by virtlogd). ``role``
    says what zcompute uses the device for; :attr:`log_path` is where this device's output is
    kept, if anywhere.
    """

    element: ConsoleElement
    source_type: CharType
    target_type: ConsoleTarget | SerialTarget | None
    role: ConsoleRole
    target_model: SerialTargetModel | None = None
    path: str | None = None
    log_file: str | None = None
    log_append: bool = False
    port: int | None = None
    # For a file source: append instead of truncating when QEMU (re)opens the file, so the
    # boot logs of reboots and restarts follow each other instead of replacing one another.
    append: bool = True
    # For a tcp source: the address and port the raw TCP server listens on.
    tcp_host: str | None = None
    tcp_port: int | None = None

    def __post_init__(self) -> None:
        if (self.source_type == "tcp") != (self.tcp_host is not None and self.tcp_port is not None):
            raise ValueError("a tcp console needs tcp_host and tcp_port, and only a tcp one has")
        if (
            self.target_type is not None
            and (self.console_target if self.element == "console" else self.serial_target) is None
        ):
            raise ValueError(f"{self.target_type!r} is not a target of <{self.element}>")
        if self.element == "console" and self.target_model is not None:
            raise ValueError("a <console> has no target model")

    @property
    def log_path(self) -> str | None:
        return self.path if self.source_type == "file" else self.log_file

    @property
    def console_target(self) -> ConsoleTarget | None:
        """The target type as a ``<console>`` target (None when it is a serial one)."""
        return one_of(self.target_type, _CONSOLE_TARGETS)

    @property
    def serial_target(self) -> SerialTarget | None:
        """The target type as a ``<serial>`` target (None when it is a console one)."""
        return one_of(self.target_type, _SERIAL_TARGETS)


@dataclasses.dataclass(frozen=True)
class ConsoleLayout:
    """A profile's complete console answer for one form: devices, kernel args, guest device."""

    specs: tuple[ConsoleSpec, ...]
    kernel_args: tuple[str, ...]
    interactive_device: str


@dataclasses.dataclass(frozen=True)
class WatchdogSpec:
    model: WatchdogModel
    action: WatchdogAction


@dataclasses.dataclass(frozen=True)
class InputSpec:
    type: InputType
    bus: InputBus


@dataclasses.dataclass(frozen=True)
class GraphicsPlan:
    """What a graphical console needs: the graphics type, a video model and input devices."""

    type: GraphicsType
    video_model: VideoModel
    inputs: tuple[InputSpec, ...]


@dataclasses.dataclass(frozen=True)
class CpuSpec:
    """The ``<cpu>`` decision. ``mode`` None means: write no ``<cpu>``, QEMU's default applies.
    ``fallback`` ``forbid``: libvirt must not replace the model by a similar one."""

    mode: CpuMode | None
    model: str | None = None
    reason: str = ""
    fallback: CpuFallback | None = None


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
    timers: tuple[TimerName, ...] = ()
    # Storage and network.
    disk_bus: DiskBus
    disk_buses: tuple[DiskBus, ...]
    cdrom_bus: DiskBus
    cdrom_buses: tuple[DiskBus, ...]
    scsi_controller_model: str = "virtio-scsi"
    # The config drive: a read-only disk (every arch has virtio-blk; s390x has no IDE or SATA
    # CD-ROM, and a virtio-blk disk needs no SCSI controller).
    config_drive_bus: DiskBus = "virtio"
    config_drive_device: DiskDevice = "disk"
    nic_model: str = "virtio"
    nic_models: tuple[str, ...]
    address_type: AddressType | None
    virtio_address_types: tuple[AddressType, ...]
    # Other devices; None means the architecture has no such device.
    usb_controller_model: str | None
    tablet_bus: InputBus | None
    watchdog_model: WatchdogModel | None
    watchdog_models: tuple[WatchdogModel, ...]
    panic_model: PanicModel | None
    panic_models: tuple[PanicModel, ...]
    video_model: VideoModel | None
    video_models: tuple[VideoModel, ...]
    graphics_types: tuple[GraphicsType, ...]
    sound: bool
    memballoon: MemBalloonModel = "virtio"
    launch_security: LaunchSecurityType | None = None
    secure_memballoon: MemBalloonModel = "none"
    supports_loadparm: bool = False
    # CPU: modes to try under KVM (in order) and named models to try under TCG (in order).
    kvm_cpu_modes: tuple[CpuMode, ...]
    tcg_cpu_models: tuple[str, ...]
    # Firmware images to use when installed (UEFI), best first.
    uefi_loaders: tuple[str, ...] = ()
    # Whether a missing host CPU model may be derived from /proc/cpuinfo (IBM Z format).
    cpu_model_from_cpuinfo: bool = False
    # The guest CPU across hosts: which hosts a guest may move to, which baselines may be pinned.
    cpu_compat: CpuCompat
    # How Fibre Channel LUNs appear: "zfcp" (IBM Z FCP channels, unit_add) or "scsi-scan"
    # (PCI HBAs, SCSI host scan); None where FC volumes are not supported.
    fc_transport: str | None = None
    # Consoles: forms with the minimum libvirt version each needs, and the layout function.
    console_forms: Mapping[str, int]
    console_layout: LayoutFn
    default_console_target: ConsoleTarget
    default_serial_target: SerialTarget
    serial_targets: tuple[SerialTarget, ...]
    console_targets: tuple[ConsoleTarget, ...]
    early_console_targets: tuple[ConsoleTarget | SerialTarget, ...]
    # The support-matrix column: one claim per feature.
    support: Mapping[str, Claim]
    # How this architecture's test guest is built; None: no test guest (never booted here).
    test_image: TestImageRecipe | None = None
    # The column of Nova's own support matrix (doc/source/user/support-matrix.ini) for this
    # architecture's libvirt KVM driver, e.g. "libvirt-kvm-s390x"; None: Nova has no column.
    nova_driver: str | None = None

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

    def available(self, key: str) -> bool:
        """Whether zcompute can do ``key`` here: the platform supports it (the claim is not
        missing) and zcompute's driver implements it. A host's capabilities follow this rule."""
        return self.supports(key) and IMPLEMENTATION[key].state is not ImplState.NOT_IMPLEMENTED

    def domain_features(self, *, uefi: bool = False) -> tuple[str, ...]:
        return self.features + (self.uefi_features if uefi else ())

    # -- machine type --------------------------------------------------------------------

    def machine_usable(self, name: str) -> bool:
        """Whether a machine name belongs to one of the arch's usable machine families."""
        return any(name == fam or name.startswith(f"{fam}-") for fam in self.machine_families)

    # -- devices -------------------------------------------------------------------------

    def memballoon_model(self, secure: bool = False) -> MemBalloonModel:
        """``virtio`` normally; for protected (secure) guests what the platform requires."""
        if secure:
            self.require("secure-execution")
            return self.secure_memballoon
        return self.memballoon

    def watchdog(self, action: str = "reset") -> WatchdogSpec:
        self.require("watchdog")
        chosen = one_of(action, WATCHDOG_ACTIONS)
        if chosen is None:
            raise InvalidInput("watchdog action", f"unknown action {action!r}", WATCHDOG_ACTIONS)
        if self.watchdog_model is None:  # a profile claiming support must name a model
            raise FeatureUnsupported("Watchdog", self.arch, "no watchdog device model")
        return WatchdogSpec(self.watchdog_model, chosen)

    def config_drive(self) -> tuple[DiskBus, DiskDevice]:
        """The bus and device kind a config drive is attached as."""
        self.require("config-drive")
        return self.config_drive_bus, self.config_drive_device

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
        chosen = one_of(kind, self.graphics_types)
        if chosen is None or self.video_model is None:
            raise FeatureUnsupported(feature(kind).name, self.arch, "no graphics device")
        return GraphicsPlan(chosen, self.video_model, self.input_devices(graphics=True))

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

    def layout(
        self,
        log_path: str,
        form: str = "console",
        virtlogd: bool = True,
        tcp: tuple[str, int] | None = None,
    ) -> ConsoleLayout:
        """The consoles of ``form``; with ``tcp`` (address, port) the interactive one is a raw
        TCP server there instead of a pty, with the same target (the guest sees no difference)
        and the same log, if it keeps one. The log console is the same either way."""
        if not PurePosixPath(log_path).is_absolute():
            raise InvalidInput("log_path", f"must be an absolute path, got {log_path!r}")
        if form not in self.console_forms:
            raise InvalidInput("console_form", f"unknown form {form!r}", self.console_forms)
        layout = self.console_layout(log_path, form, virtlogd)
        if tcp is None:
            return layout
        host, port = tcp
        specs = tuple(
            dataclasses.replace(spec, source_type="tcp", tcp_host=host, tcp_port=port)
            if spec.role == "interactive"
            else spec
            for spec in layout.specs
        )
        return dataclasses.replace(layout, specs=specs)

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
        *,
        baseline: str | None = None,
    ) -> CpuSpec:
        """The CPU: host-model/passthrough only under KVM; under TCG a model domcaps accepts.

        ``baseline`` (the model ``cpu_baseline_model`` pins for this architecture, see
        :meth:`cpu_baseline`) replaces host-model for KVM guests, so that they can move to any
        host of the fleet; a TCG guest keeps its emulated model. A baseline this host cannot
        run is a ConfigError naming the option.
        """
        if domain_type not in DOMAIN_TYPES:
            raise InvalidInput("domain type", f"unknown type {domain_type!r}", DOMAIN_TYPES)
        if domain_type == "kvm":
            if baseline is not None:
                return self._baseline_cpu(baseline, host_cpu_model, domcaps)
            kvm = self._kvm_cpu(host_cpu_model, domcaps)
            if kvm is not None:
                return kvm
        return self._tcg_cpu(domcaps)

    def cpu_baseline(self, model: str, where: str = "value") -> str:
        """How a configured baseline ``model`` is written for this architecture (aliases
        resolved, QEMU's spelling); ConfigError naming the option for a model it cannot take."""
        return self.cpu_compat.baseline(self.arch, model, where)

    def migration_cpu_problem(
        self, guest: GuestCpu, source: HostCpuFacts, dest: HostCpuFacts
    ) -> str | None:
        """Why ``guest``, running on ``source``, must not move to ``dest``'s CPU: one line naming
        the guest's CPU model, the destination's and what to do; None when it may move.
        TCG guests always may (their CPU is emulated); see :mod:`zcompute.arch._cpucompat`."""
        return cpu_move_problem(self.arch, self.cpu_compat, guest, source, dest)

    def _baseline_cpu(
        self, baseline: str, host_model: str | None, domcaps: DomainCapabilities | None
    ) -> CpuSpec:
        usable = None if domcaps is None else _usable(domcaps, baseline)
        if usable == "no":
            raise ConfigError(
                BASELINE_OPTION,
                f"this host cannot run {self.arch} CPU model {baseline} (libvirt marks it not "
                "usable here); pin one every host of the fleet runs",
                domcaps.cpu.usable_models if domcaps is not None else None,
            )
        mine, here = self.cpu_compat.generation(baseline), self.cpu_compat.generation(host_model)
        if mine is not None and here is not None and mine.generation > here.generation:
            raise ConfigError(
                BASELINE_OPTION,
                f"{baseline} ({mine.label}) is newer than this host's CPU {host_model} "
                f"({here.label}): guests could not start here; pin one every host runs",
            )
        # forbid: a fleet's baseline is that model or nothing, never a similar one
        return CpuSpec(
            "custom",
            baseline,
            reason=f"KVM: the fleet's baseline ({BASELINE_OPTION})",
            fallback="forbid",
        )

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
