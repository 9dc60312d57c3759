"""libvirt secrets: the CHAP passwords and LUKS passphrases QEMU needs, kept by libvirt.

A value goes to libvirt (``virSecretSetValue``) and is never read back or written anywhere
else: the secrets are *private* (libvirt refuses to hand their value to any client) and not
*ephemeral* (libvirt keeps them across its restarts, as long as the guest that uses them
exists, root-only under ``/etc/libvirt/secrets``). Their usage id and description name what
they are for, so that whoever made them can find and remove them again.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

import libvirt
from lxml import etree

from zcompute.errors import NotFound, VirtError
from zcompute.virt._connection import Hypervisor
from zcompute.virt._errors import libvirt_errors

__all__ = ["SecretInfo", "SecretUsage", "Secrets", "secret_xml"]

#: The usages zcompute defines: CHAP of a network disk (iscsi), a LUKS passphrase (volume).
SecretUsage = Literal["iscsi", "volume"]
_USAGE_TYPES = {
    libvirt.VIR_SECRET_USAGE_TYPE_ISCSI: "iscsi",
    libvirt.VIR_SECRET_USAGE_TYPE_VOLUME: "volume",
}
# the element of <usage> that holds the usage id, per usage type
_USAGE_ELEMENT = {"iscsi": "target", "volume": "volume"}


@dataclass(frozen=True)
class SecretInfo:
    """One secret libvirt has: its UUID and what it is for (never its value)."""

    uuid: str
    usage_type: str  # "iscsi", "volume", or "other" for usages zcompute never makes
    usage_id: str
    description: str


def secret_xml(uuid: str, usage: SecretUsage, usage_id: str, description: str) -> str:
    """The definition of a private, persistent secret (libvirt's secret.rng)."""
    root = etree.Element("secret", ephemeral="no", private="yes")
    etree.SubElement(root, "uuid").text = uuid
    etree.SubElement(root, "description").text = description
    element = etree.SubElement(root, "usage", type=usage)
    etree.SubElement(element, _USAGE_ELEMENT[usage]).text = usage_id
    return etree.tostring(root, encoding="unicode")


class Secrets:
    """Define, list and remove libvirt secrets on one connection."""

    def __init__(self, hv: Hypervisor) -> None:
        self._hv = hv

    def define(
        self, uuid: str, usage: SecretUsage, usage_id: str, description: str, value: bytes
    ) -> None:
        """Define the secret and give it ``value``; on failure nothing is left defined."""
        xml = secret_xml(uuid, usage, usage_id, description)
        with libvirt_errors(f"secret {uuid}"):
            secret = self._hv.conn.secretDefineXML(xml, 0)
            try:
                secret.setValue(value, 0)
            except BaseException:
                with contextlib.suppress(libvirt.libvirtError):
                    secret.undefine()
                raise

    def undefine(self, uuid: str) -> bool:
        """Remove the secret; False if libvirt has none with that UUID."""
        try:
            with libvirt_errors(f"secret {uuid}"):
                self._hv.conn.secretLookupByUUIDString(uuid).undefine()
        except NotFound:
            return False
        return True

    def exists(self, uuid: str) -> bool:
        return any(info.uuid == uuid for info in self.list())

    def list(self) -> list[SecretInfo]:
        """Every secret libvirt has (one that vanishes while listed is left out)."""
        found = []
        try:
            with libvirt_errors("secrets"):
                secrets = self._hv.conn.listAllSecrets(0)
        except VirtError as err:
            if err.code == libvirt.VIR_ERR_NO_SUPPORT:
                return []  # a connection without a secret driver (test:///) keeps none
            raise
        for secret in secrets:
            try:
                with libvirt_errors("secret"):
                    found.append(_info(secret))
            except NotFound:
                continue
        return found


def _info(secret: libvirt.virSecret) -> SecretInfo:
    doc = etree.fromstring(secret.XMLDesc(0).encode())
    return SecretInfo(
        uuid=str(secret.UUIDString()),
        usage_type=_USAGE_TYPES.get(secret.usageType(), "other"),
        usage_id=str(secret.usageID() or ""),
        description=doc.findtext("description") or "",
    )
