"""``<metadata>`` and zcompute's own namespaced record of an instance.

libvirt keeps every namespaced child of ``<metadata>`` verbatim, so it is where zcompute
pins facts decided at spawn time (instance id, flavor, image, owner, arch, machine).
Other applications' metadata in the same element is preserved untouched.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from zcompute.xml._children import Child
from zcompute.xml._convert import TIMESTAMP
from zcompute.xml._fields import Text
from zcompute.xml._object import XMLObject

__all__ = ["ZCOMPUTE_NS", "ZCOMPUTE_PREFIX", "InstanceMetadata", "Metadata"]

ZCOMPUTE_NS = "https://zcompute.dev/xmlns/instance/1.0"
ZCOMPUTE_PREFIX = "zcompute"


class InstanceMetadata(XMLObject):
    """``<zcompute:instance>`` inside ``<metadata>``.

    ``arch`` and ``machine`` record what the guest was created with, so that a later
    change of host defaults cannot silently change an existing guest.
    """

    __slots__ = ()
    TAG = "instance"
    NS = ZCOMPUTE_NS
    PREFIX = ZCOMPUTE_PREFIX
    ORDER = ("id", "name", "flavor", "image", "owner", "managed-by", "arch", "machine", "created")

    instance_id: Text[str] = Text("id")
    name: Text[str] = Text("name")
    flavor: Text[str] = Text("flavor")
    image: Text[str] = Text("image")
    owner: Text[str] = Text("owner")
    # the manager a guest belongs to (e.g. ``nova:<host>``): a Nova compute service lists,
    # counts and touches only its own guests on a libvirtd it may share
    managed_by: Text[str] = Text("managed-by")
    arch: Text[str] = Text("arch")
    machine: Text[str] = Text("machine")
    created: Text[datetime] = Text("created", TIMESTAMP)


class Metadata(XMLObject):
    """``<metadata>``: zcompute's record plus whatever other applications stored."""

    __slots__ = ()
    TAG = "metadata"

    zcompute: Child[InstanceMetadata] = Child(InstanceMetadata)

    @property
    def namespaces(self) -> list[str]:
        """The namespace URIs of the entries present (one element each)."""
        return [etree.QName(el).namespace or "" for el in self._el if isinstance(el.tag, str)]

    def find(self, namespace: str) -> etree._Element | None:
        """The raw entry of another application, by its namespace URI."""
        for el in self._el:
            if isinstance(el.tag, str) and etree.QName(el).namespace == namespace:
                return el
        return None

    def remove(self, namespace: str) -> None:
        """Drop the entry in ``namespace`` (no error if there is none)."""
        el = self.find(namespace)
        if el is not None:
            self._el.remove(el)
