"""Nova's support matrix, row by row, and where zcompute stands in each row.

Nova documents what each of its virt drivers can do in ``doc/source/user/support-matrix.ini``
of the openstack/nova repository (it is not shipped in the wheel). :data:`NOVA_ROWS` declares
every row of that file once: its key, title and status (mandatory, optional, one choice of a
group, or required under a condition), and, as facts read from the file, the values Nova gives
its own libvirt KVM drivers (the columns ``libvirt-kvm-x86``, ``-s390x``, ``-aarch64`` and
``-ppc64``; each profile names its column in :attr:`ArchProfile.nova_driver`). A row also says
what it takes from zcompute: the features of zcompute's own matrix (:data:`FEATURES`) it rests
on, and the methods of Nova's ``nova.virt.driver.ComputeDriver`` an adapter must implement for
it. Nova capability flags the adapter must set for Nova to use the row are recorded as well.

zcompute's column is computed, never typed (:mod:`zcompute.arch._nova_matrix`): a row is
*complete* on an architecture when it maps to features, every one is available there (the
profile's claim is not missing and the driver implements it, :meth:`ArchProfile.available`),
the adapter implements every listed method and sets every listed capability flag; *partial*
when all that holds but a claim is partial. Otherwise it is *missing*, with the reason: the
profile's (no VNC on IBM Z), the driver's (not implemented yet), or the adapter's. A row that
maps to no feature is not implemented by zcompute, unless it is a host fact the adapter answers
itself. This module is the declarations alone: 59 rows, one each.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from types import MappingProxyType

from zcompute.arch._support import FEATURE_KEYS

__all__ = [
    "NOVA_ROWS",
    "NovaRow",
    "NovaStatus",
    "NovaStatusKind",
    "NovaSupport",
]


class NovaSupport(enum.StrEnum):
    """A cell of Nova's matrix. Nova's own columns also say *unknown*; zcompute's never do."""

    COMPLETE = "complete"
    PARTIAL = "partial"
    MISSING = "missing"
    UNKNOWN = "unknown"


class NovaStatusKind(enum.StrEnum):
    MANDATORY = "mandatory"
    OPTIONAL = "optional"
    CHOICE = "choice"  # at least one row of the group must be implemented
    CONDITION = "condition"  # required when the condition holds


@dataclasses.dataclass(frozen=True)
class NovaStatus:
    """A row's status as Nova writes it: ``mandatory``, ``choice(console)``, ..."""

    kind: NovaStatusKind
    argument: str = ""  # the choice's group, or the condition

    def __str__(self) -> str:
        return f"{self.kind}({self.argument})" if self.argument else str(self.kind)


MANDATORY = NovaStatus(NovaStatusKind.MANDATORY)
OPTIONAL = NovaStatus(NovaStatusKind.OPTIONAL)


def _choice(group: str) -> NovaStatus:
    return NovaStatus(NovaStatusKind.CHOICE, group)


def _condition(condition: str) -> NovaStatus:
    return NovaStatus(NovaStatusKind.CONDITION, condition)


@dataclasses.dataclass(frozen=True)
class NovaRow:
    """One row of Nova's support matrix and what it takes from zcompute and its adapter.

    ``nova`` holds Nova's own values for its libvirt KVM columns, keyed by Nova's driver name
    (``libvirt-kvm-s390x``). ``features`` are keys of zcompute's :data:`FEATURES` (empty: no
    zcompute feature does it), ``methods`` the ``ComputeDriver`` methods an adapter overrides
    for it and ``capabilities`` the keys of ``ComputeDriver.capabilities`` it must set true.
    ``adapter_only``: a fact about the host that the adapter answers itself (uptime, address),
    complete with its methods although no zcompute feature is involved.
    """

    key: str
    title: str
    status: NovaStatus
    nova: Mapping[str, NovaSupport]
    features: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    note: str = ""
    adapter_only: bool = False

    def __post_init__(self) -> None:
        unknown = [key for key in self.features if key not in FEATURE_KEYS]
        if unknown:
            raise ValueError(f"{self.key}: unknown zcompute features {unknown}")

    def nova_value(self, driver: str | None) -> NovaSupport:
        """Nova's own value for its driver column ``driver``; unknown where it has none."""
        return self.nova.get(driver or "", NovaSupport.UNKNOWN)


C, P, M, U = (NovaSupport.COMPLETE, NovaSupport.PARTIAL, NovaSupport.MISSING, NovaSupport.UNKNOWN)
_VOLUME = ("attach_volume", "detach_volume", "get_volume_connector")
_LIVE_MIGRATION = (
    "live_migration",
    "check_can_live_migrate_source",
    "check_can_live_migrate_destination",
    "cleanup_live_migration_destination_check",
    "pre_live_migration",
    "post_live_migration",
    "post_live_migration_at_destination",
    "rollback_live_migration_at_destination",
)
_NO_FIRMWARE = "zcompute does not read hw_firmware_type"
_QUIESCE = "The guest agent freezes and thaws the file systems (hw_qemu_guest_agent)"


def _kvm(
    *, x86: NovaSupport, s390x: NovaSupport, aarch64: NovaSupport, ppc64: NovaSupport
) -> Mapping[str, NovaSupport]:
    """Nova's values for its libvirt KVM columns, as the ini writes them."""
    return MappingProxyType(
        {
            "libvirt-kvm-x86": x86,
            "libvirt-kvm-s390x": s390x,
            "libvirt-kvm-aarch64": aarch64,
            "libvirt-kvm-ppc64": ppc64,
        }
    )


#: Every row of Nova's support-matrix.ini, in the file's order, as openstack/nova's master has it
#: (the file is unchanged since the 33.0.0 tag). Nova's values are facts read from the file; the
#: features, methods and notes are zcompute's mapping.
NOVA_ROWS: tuple[NovaRow, ...] = (
    NovaRow(
        "operation.attach-volume",
        "Attach block volume to instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("attach-volume",),
        methods=_VOLUME,
        note="Hotplug and persistent; Nova asks for the volume connector before attaching",
    ),
    NovaRow(
        "operation.attach-tagged-volume",
        "Attach tagged block device to instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("attach-volume", "device-tags"),
        methods=("attach_volume",),
        capabilities=("supports_tagged_attach_volume",),
    ),
    NovaRow(
        "operation.detach-volume",
        "Detach block volume from instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("attach-volume",),
        methods=("detach_volume",),
    ),
    NovaRow(
        "operation.extend-volume",
        "Extend block volume attached to instance",
        OPTIONAL,
        _kvm(x86=C, s390x=U, aarch64=C, ppc64=U),
        features=("attach-volume",),
        methods=("extend_volume",),
        capabilities=("supports_extend_volume",),
    ),
    NovaRow(
        "operation.attach-interface",
        "Attach virtual network interface to instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("attach-interface",),
        methods=("attach_interface", "detach_interface"),
        capabilities=("supports_attach_interface",),
    ),
    NovaRow(
        "operation.attach-tagged-interface",
        "Attach tagged virtual network interface to instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=U, ppc64=C),
        features=("attach-interface", "device-tags"),
        methods=("attach_interface",),
        capabilities=("supports_tagged_attach_interface",),
    ),
    NovaRow(
        "operation.detach-interface",
        "Detach virtual network interface from instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("attach-interface",),
        methods=("detach_interface",),
    ),
    NovaRow(
        "operation.maintenance-mode",
        "Set the host in a maintenance mode",
        OPTIONAL,
        _kvm(x86=M, s390x=M, aarch64=M, ppc64=M),
        features=(),
        methods=("host_maintenance_mode", "set_host_enabled"),
        note="Nova's own libvirt driver has neither method",
    ),
    NovaRow(
        "operation.evacuate",
        "Evacuate instances from a host",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=U),
        features=("launch", "terminate"),
        methods=("spawn", "destroy"),
        capabilities=("supports_evacuate",),
        note=(
            "Nova rebuilds the guest on another host (a spawn there) and destroys the leftover "
            "when the old host returns"
        ),
    ),
    NovaRow(
        "operation.rebuild",
        "Rebuild instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("launch", "terminate"),
        methods=("spawn", "destroy"),
        note="Nova's default rebuild: destroy, then spawn from the new image",
    ),
    NovaRow(
        "operation.rebuild-volume-backed",
        "Rebuild volume backed instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("launch", "terminate", "boot-from-volume"),
        methods=("spawn", "destroy"),
        note=(
            "Nova's default rebuild: destroy, Cinder re-images the root volume, then a spawn "
            "boots it"
        ),
    ),
    NovaRow(
        "operation.get-guest-info",
        "Guest instance status",
        MANDATORY,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("get-guest-info",),
        methods=("get_info",),
    ),
    NovaRow(
        "operation.get-host-uptime",
        "Guest host uptime",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=(),
        methods=("get_host_uptime",),
        adapter_only=True,
        note="the adapter reads it from the host (/proc/uptime)",
    ),
    NovaRow(
        "operation.get-host-ip",
        "Guest host ip",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=(),
        methods=("get_host_ip_addr",),
        adapter_only=True,
        note="the adapter reports Nova's my_ip",
    ),
    NovaRow(
        "operation.live-migrate",
        "Live migrate instance across hosts",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=M, ppc64=C),
        features=("live-migration",),
        methods=_LIVE_MIGRATION,
    ),
    NovaRow(
        "operation.force-live-migration-to-complete",
        "Force live migration to complete",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=M, ppc64=C),
        features=("live-migration",),
        methods=("live_migration_force_complete",),
    ),
    NovaRow(
        "operation.abort-in-progress-live-migration",
        "Abort an in-progress or queued live migration",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=M, ppc64=C),
        features=("live-migration",),
        methods=("live_migration_abort",),
    ),
    NovaRow(
        "operation.launch",
        "Launch instance",
        MANDATORY,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("launch",),
        methods=("spawn",),
    ),
    NovaRow(
        "operation.pause",
        "Stop instance CPUs (pause)",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("pause",),
        methods=("pause",),
    ),
    NovaRow(
        "operation.reboot",
        "Reboot instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("reboot",),
        methods=("reboot",),
    ),
    NovaRow(
        "operation.rescue",
        "Rescue instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=U, ppc64=C),
        features=("rescue",),
        methods=("rescue", "unrescue"),
        note="legacy rescue: the rescue image boots, the root disk second; a config drive "
        "with the rescue password",
    ),
    NovaRow(
        "operation.resize",
        "Resize instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("resize",),
        methods=(
            "migrate_disk_and_power_off",
            "finish_migration",
            "confirm_migration",
            "finish_revert_migration",
        ),
        note=(
            "same host: the old disks and definition are kept until confirmed; another host: "
            "it fetches the stopped guest through libvirt, the source keeps it until confirmed"
        ),
    ),
    NovaRow(
        "operation.resume",
        "Restore instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("suspend",),
        methods=("resume",),
        note="The other half of suspend (managed save)",
    ),
    NovaRow(
        "operation.set-admin-password",
        "Set instance admin password",
        OPTIONAL,
        _kvm(x86=C, s390x=M, aarch64=U, ppc64=M),
        features=("guest-agent",),
        methods=("set_admin_password",),
        note="The guest agent's set-user-password (hw_qemu_guest_agent; os_admin_user or root)",
    ),
    NovaRow(
        "operation.snapshot",
        "Save snapshot of instance disk",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("snapshot",),
        methods=("snapshot",),
    ),
    NovaRow(
        "operation.suspend",
        "Suspend instance",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("suspend",),
        methods=("suspend",),
    ),
    NovaRow(
        "operation.swap-volume",
        "Swap block volumes",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=U, ppc64=C),
        features=("swap-volume",),
        methods=("swap_volume",),
        note="the new volume must have the old one's size (QEMU mirrors only onto that)",
    ),
    NovaRow(
        "operation.terminate",
        "Shutdown instance",
        MANDATORY,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("terminate",),
        methods=("destroy",),
    ),
    NovaRow(
        "operation.trigger-crash-dump",
        "Trigger crash dump",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=U, ppc64=C),
        features=("trigger-crash-dump",),
        methods=("trigger_crash_dump",),
    ),
    NovaRow(
        "operation.unpause",
        "Resume instance CPUs (unpause)",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("pause",),
        methods=("unpause",),
    ),
    NovaRow(
        "guest.disk.autoconfig",
        "Auto configure disk",
        OPTIONAL,
        _kvm(x86=M, s390x=M, aarch64=M, ppc64=M),
        features=(),
        methods=("spawn",),
        note="The host never partitions or resizes a guest's file system",
    ),
    NovaRow(
        "guest.disk.rate-limit",
        "Instance disk I/O limits",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("disk-rate-limit",),
        methods=("spawn",),
        note="The flavor's quota:disk_* limits on the guest's own disks; volumes' Cinder QoS "
        "specs are not applied yet",
    ),
    NovaRow(
        "guest.setup.configdrive",
        "Config drive support",
        _choice("guest.setup"),
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=M),
        features=("config-drive",),
        methods=("spawn",),
    ),
    NovaRow(
        "guest.setup.inject.file",
        "Inject files into disk image",
        OPTIONAL,
        _kvm(x86=C, s390x=M, aarch64=U, ppc64=M),
        features=(),
        methods=("spawn",),
        note="zcompute never writes into a guest's disk; files reach the guest on the config drive",
    ),
    NovaRow(
        "guest.setup.inject.networking",
        "Inject guest networking config",
        OPTIONAL,
        _kvm(x86=P, s390x=M, aarch64=U, ppc64=M),
        features=("inject-networking",),
        methods=("spawn",),
    ),
    NovaRow(
        "console.rdp",
        "Remote desktop over RDP",
        _choice("console"),
        _kvm(x86=M, s390x=M, aarch64=M, ppc64=M),
        features=(),
        methods=(),
        note="No RDP console, and Nova's driver interface has no method for one",
    ),
    NovaRow(
        "console.serial.log",
        "View serial console logs",
        _choice("console"),
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=M),
        features=("console-log",),
        methods=("get_console_output",),
    ),
    NovaRow(
        "console.serial.interactive",
        "Remote interactive serial console",
        _choice("console"),
        _kvm(x86=C, s390x=C, aarch64=U, ppc64=U),
        features=("interactive-console",),
        methods=("get_serial_console",),
    ),
    NovaRow(
        "console.spice",
        "Remote desktop over SPICE",
        _choice("console"),
        _kvm(x86=C, s390x=M, aarch64=U, ppc64=M),
        features=("spice",),
        methods=("get_spice_console",),
    ),
    NovaRow(
        "console.vnc",
        "Remote desktop over VNC",
        _choice("console"),
        _kvm(x86=C, s390x=M, aarch64=C, ppc64=M),
        features=("vnc",),
        methods=("get_vnc_console",),
    ),
    NovaRow(
        "storage.block",
        "Block storage support",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("attach-volume",),
        methods=_VOLUME,
    ),
    NovaRow(
        "storage.block.backend.fibrechannel",
        "Block storage over fibre channel",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=U, ppc64=M),
        features=("attach-volume-fc",),
        methods=_VOLUME,
    ),
    NovaRow(
        "storage.block.backend.iscsi",
        "Block storage over iSCSI",
        _condition("storage.block==complete"),
        _kvm(x86=C, s390x=C, aarch64=U, ppc64=C),
        features=("attach-volume-iscsi",),
        methods=_VOLUME,
        note="QEMU's own iSCSI initiator: the host needs no open-iscsi",
    ),
    NovaRow(
        "storage.block.backend.iscsi.auth.chap",
        "CHAP authentication for iSCSI",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=U, ppc64=C),
        features=("attach-volume-iscsi",),
        methods=_VOLUME,
        note="the CHAP password in a private libvirt secret, removed with the disk",
    ),
    NovaRow(
        "storage.image",
        "Image storage support",
        MANDATORY,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("launch",),
        methods=("spawn",),
        note="A spawn boots from an image",
    ),
    NovaRow(
        "operation.uefi-boot",
        "uefi boot",
        OPTIONAL,
        _kvm(x86=C, s390x=M, aarch64=C, ppc64=M),
        features=(),
        methods=("spawn",),
        note=_NO_FIRMWARE,
    ),
    NovaRow(
        "operation.device-tags",
        "Device tags",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("device-tags",),
        methods=("spawn", "attach_interface"),
        capabilities=("supports_device_tagging",),
        note="Tagged NICs (and volumes) in the config drive and Nova's metadata API; on s390x "
        "with their CCW bus id in the config drive (Nova's metadata API has no CCW bus type)",
    ),
    NovaRow(
        "operation.quiesce",
        "quiesce",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=U, ppc64=C),
        features=("guest-agent",),
        methods=("quiesce",),
        note=_QUIESCE,
    ),
    NovaRow(
        "operation.unquiesce",
        "unquiesce",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=U, ppc64=C),
        features=("guest-agent",),
        methods=("unquiesce",),
        note=_QUIESCE,
    ),
    NovaRow(
        "operation.multiattach-volume",
        "Attach block volume to multiple instances",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=U, ppc64=C),
        features=("attach-volume-iscsi",),
        methods=("attach_volume",),
        capabilities=("supports_multiattach",),
        note="iSCSI volumes: a shareable disk without host cache",
    ),
    NovaRow(
        "operation.encrypted-volume",
        "Attach encrypted block volume to server",
        OPTIONAL,
        _kvm(x86=C, s390x=U, aarch64=U, ppc64=U),
        features=("attach-volume-iscsi",),
        methods=("attach_volume",),
        note="LUKS (version 1) iSCSI volumes, decrypted by QEMU with a libvirt secret",
    ),
    NovaRow(
        "operation.trusted-certs",
        "Validate image with trusted certificates",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=(),
        methods=("spawn",),
        capabilities=("supports_trusted_certs",),
        note="zcompute checks no image signature or certificate",
    ),
    NovaRow(
        "operation.file-backed-memory",
        "File backed memory",
        OPTIONAL,
        _kvm(x86=C, s390x=U, aarch64=U, ppc64=U),
        features=("file-backed-memory",),
        methods=("spawn",),
        capabilities=("supports_mem_backing_file",),
        note="[libvirt] file_backed_memory; qemu.conf's memory_backing_dir is the operator's",
    ),
    NovaRow(
        "operation.report-cpu-traits",
        "Report CPU traits",
        OPTIONAL,
        _kvm(x86=C, s390x=M, aarch64=U, ppc64=C),
        features=(),
        methods=("update_provider_tree",),
        note="zcompute reports no CPU traits",
    ),
    NovaRow(
        "operation.port-with-resource-request",
        "SR-IOV ports with resource request",
        OPTIONAL,
        _kvm(x86=C, s390x=M, aarch64=M, ppc64=M),
        features=(),
        methods=("get_available_resource",),
        note="zcompute has no SR-IOV ports",
    ),
    NovaRow(
        "operation.boot-encrypted-vm",
        "Boot instance with secure encrypted memory",
        OPTIONAL,
        _kvm(x86=P, s390x=M, aarch64=M, ppc64=M),
        features=("secure-execution",),
        methods=("spawn",),
        note="On IBM Z this is Secure Execution",
    ),
    NovaRow(
        "operation.cache-images",
        "Cache base images for faster instance boot",
        OPTIONAL,
        _kvm(x86=C, s390x=C, aarch64=C, ppc64=C),
        features=("launch",),
        methods=("cache_image", "manage_image_cache"),
        capabilities=("has_imagecache",),
        note="Glance images cached in zcompute's image store (root disks are overlays of "
        "them), pre-cached on request, pruned by Nova's [image_cache] options",
    ),
    NovaRow(
        "operation.boot-emulated-tpm",
        "Boot instance with an emulated trusted platform module (TPM)",
        OPTIONAL,
        _kvm(x86=P, s390x=M, aarch64=M, ppc64=M),
        features=(),
        methods=("spawn",),
        capabilities=("supports_vtpm",),
        note="zcompute writes no TPM device",
    ),
    NovaRow(
        "operation.boot-stateless-firmware",
        "Boot instance with stateless firmware",
        OPTIONAL,
        _kvm(x86=P, s390x=M, aarch64=M, ppc64=M),
        features=(),
        methods=("spawn",),
        note=_NO_FIRMWARE,
    ),
)
