"""Config drives: an instance's metadata, keys, user data and NICs on a read-only disk.

One builder for both front ends: the CLI (``zcompute boot --user-data/--ssh-key/--hostname``)
and the Nova adapter fill :class:`ConfigDrive`; :func:`config_drive_files` lays it out
in OpenStack's format and :func:`write_config_drive` makes the ``config-2`` ISO 9660 image.
How the drive is attached (a read-only virtio disk on s390x, which has no IDE or SATA CD-ROM)
is the arch profile's rule, not this package's.
"""

from __future__ import annotations

from zcompute.configdrive._content import (
    MAX_USER_DATA,
    SSH_KEY_TYPES,
    ConfigDrive,
    config_drive_files,
    hostname_from_name,
    network_data_for,
    parse_ssh_keys,
)
from zcompute.configdrive._iso import LABEL, remove_staging, write_config_drive

__all__ = [
    "LABEL",
    "MAX_USER_DATA",
    "SSH_KEY_TYPES",
    "ConfigDrive",
    "config_drive_files",
    "hostname_from_name",
    "network_data_for",
    "parse_ssh_keys",
    "remove_staging",
    "write_config_drive",
]
