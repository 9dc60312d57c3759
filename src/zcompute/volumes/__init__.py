"""Volume connectors: turn a Cinder ``connection_info`` into a local block device and back.

iSCSI volumes need no connector: QEMU logs in itself. :func:`parse_iscsi_connection_info`
checks Cinder's iSCSI ``connection_info`` and :func:`iscsi_initiator_name` is the host's
initiator name; the driver makes the network disk and its libvirt secrets.

:class:`VolumeConnector` is the interface the driver's volume attach uses;
:class:`FibreChannelConnector` implements it for FC SAN LUNs (zfcp on s390x, SCSI
host scan on PCI hosts). ``connect`` returns a :class:`ConnectedVolume`, whose
:meth:`~ConnectedVolume.disk_source` is the neutral :class:`DiskSource` the XML layer
renders as the guest's ``<disk type='block'>``.

The name helpers (:func:`fcp_lun`, :func:`zfcp_by_path_names`, ...) are public so
that tools and tests can build and check FC names without a host.

Decisions where the reference implementation (os-brick 7.1.1) is silent or wrong:

* ``target_lun`` 0x10000..0xffffffff with a zero low half is rejected: its FCP LUN is
  the one a single-level LUN already names (see :func:`fcp_lun`); above 0xffffffff too.
* s390x uses only ``Online`` FCP devices; each (device, target) pair gets ``unit_add``
  only when the unit does not exist yet, and only units this connector added are
  removed on disconnect or after a failed connect.
* An ``initiator_target_map`` restricts which HBA reaches which target port.
* With multipath the connect waits for the dm map and fails (undoing its units) if
  none appears, instead of silently handing a single path to the guest.
* Detach order: flush the used device, remove the multipath map, delete each SCSI disk
  (``/sys/block/sdX/device/delete``), then ``unit_remove`` (s390x).
"""

from __future__ import annotations

from zcompute.volumes._connection import VOLUME_TYPES, VolumeConnection, VolumeSecrets
from zcompute.volumes._connection_info import DRIVER_VOLUME_TYPE as FC_VOLUME_TYPE
from zcompute.volumes._connection_info import FcConnectionInfo, FcTarget, parse_connection_info
from zcompute.volumes._fc import FibreChannelConnector, flush_multipath_map, fsync_block_device
from zcompute.volumes._initiator import iscsi_initiator_name
from zcompute.volumes._iscsi import (
    ISCSI,
    LUKS_PROVIDERS,
    IscsiConnectionInfo,
    IscsiPath,
    VolumeEncryption,
    choose_path,
    parse_iscsi_connection_info,
)
from zcompute.volumes._local import SYSTEM_DIRS, LocalVolume, VolumePolicy, parse_volume_dirs
from zcompute.volumes._model import (
    ConnectedVolume,
    DiskSource,
    HostVolumePorts,
    VolumeConnector,
    ZfcpUnit,
)
from zcompute.volumes._names import (
    ADDRESSING_MODES,
    apply_addressing_mode,
    by_path_lun,
    fcp_lun,
    lun_from_fcp_lun,
    normalize_wwpn,
    pci_by_path_name,
    validate_ccw_bus_id,
    validate_target_lun,
    zfcp_by_path_names,
)
from zcompute.volumes._sysfs import FcHba, HostFs, discover_fc_hbas

__all__ = [
    "ADDRESSING_MODES",
    "FC_VOLUME_TYPE",
    "ISCSI",
    "LUKS_PROVIDERS",
    "SYSTEM_DIRS",
    "VOLUME_TYPES",
    "ConnectedVolume",
    "DiskSource",
    "FcConnectionInfo",
    "FcHba",
    "FcTarget",
    "FibreChannelConnector",
    "HostFs",
    "HostVolumePorts",
    "IscsiConnectionInfo",
    "IscsiPath",
    "LocalVolume",
    "VolumeConnection",
    "VolumeConnector",
    "VolumeEncryption",
    "VolumePolicy",
    "VolumeSecrets",
    "ZfcpUnit",
    "apply_addressing_mode",
    "by_path_lun",
    "choose_path",
    "discover_fc_hbas",
    "fcp_lun",
    "flush_multipath_map",
    "fsync_block_device",
    "iscsi_initiator_name",
    "lun_from_fcp_lun",
    "normalize_wwpn",
    "parse_connection_info",
    "parse_iscsi_connection_info",
    "parse_volume_dirs",
    "pci_by_path_name",
    "validate_ccw_bus_id",
    "validate_target_lun",
    "zfcp_by_path_names",
]
