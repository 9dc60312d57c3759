"""The host's iSCSI initiator name: what a storage back end's ACLs (and CHAP) are bound to.

QEMU logs in with it (``<initiator>`` of each iSCSI disk) and Nova's connector properties
report it to Cinder, which exports the volume to that name. The host's own open-iscsi name
(``/etc/iscsi/initiatorname.iscsi``) is used when there is one, so that both initiators of a
host are one to the back end; otherwise one is generated once and kept in the data directory.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from zcompute.errors import InvalidInput
from zcompute.model import check_iscsi_name

__all__ = ["INITIATOR_FILE", "SYSTEM_INITIATOR_FILE", "iscsi_initiator_name"]

SYSTEM_INITIATOR_FILE = Path("/etc/iscsi/initiatorname.iscsi")
INITIATOR_FILE = "iscsi-initiator-name"  # in the data directory
_PREFIX = "iqn.2004-10.org.debian:01:zcompute-"  # Debian's open-iscsi naming authority


def iscsi_initiator_name(data_dir: Path, system_file: Path = SYSTEM_INITIATOR_FILE) -> str:
    """The host's initiator name (see the module docs); generated and kept on first use."""
    name = _read(system_file, "InitiatorName=")
    if name is not None:
        return name
    own = data_dir / INITIATOR_FILE
    name = _read(own, "")
    if name is not None:
        return name
    _create(own, _PREFIX + secrets.token_hex(6))
    found = _read(own, "")  # another process may have created it first: its name wins
    assert found is not None
    return found


def _read(path: Path, key: str) -> str | None:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        text = line.strip()
        if text and not text.startswith("#") and text.startswith(key):
            try:
                return check_iscsi_name(text.removeprefix(key).strip(), str(path))
            except InvalidInput:
                return None  # e.g. open-iscsi's placeholder before it generated a name
    return None


def _create(path: Path, name: str) -> None:
    """Write ``name`` to a new file, atomically, unless the file exists by then."""
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    temp.write_text(name + "\n")
    temp.chmod(0o644)
    try:
        os.link(temp, path)  # fails if it exists: the first name stays
    except FileExistsError:
        pass
    finally:
        temp.unlink()
