"""Small, safe helpers for reading libvirt's XML documents about a host.

Capabilities documents come from libvirtd or from files an operator hands us; both are parsed
with a parser that never fetches anything or expands entities, and every failure becomes a
:class:`~zcompute.errors.HostDataError` that names the document.
"""

from __future__ import annotations

from lxml import etree

from zcompute.errors import HostDataError

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False
)


def parse_document(text: str | bytes, source: str, root_tag: str) -> etree._Element:
    """Parse ``text`` and check that its root element is ``root_tag``."""
    data = text.encode() if isinstance(text, str) else text
    if not data.strip():
        raise HostDataError(source, "the document is empty", f"a <{root_tag}> document")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as err:
        raise HostDataError(source, f"not well-formed XML: {err}") from err
    if root.tag != root_tag:
        raise HostDataError(
            source, f"root element is <{tag_name(root)}>, expected <{root_tag}>", f"<{root_tag}>"
        )
    return root


def tag_name(node: etree._Element) -> str:
    """An element's tag as text (lxml types it as str or bytes)."""
    return str(etree.QName(node).localname)


def text_of(node: etree._Element | None, path: str) -> str | None:
    """Stripped text of the first element at ``path`` below ``node``, or None."""
    if node is None:
        return None
    found = node.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def int_attr(node: etree._Element | None, name: str, source: str) -> int | None:
    """Integer attribute ``name`` of ``node`` (decimal or 0x-hex), None when absent."""
    if node is None:
        return None
    raw = node.get(name)
    if raw is None or raw.strip() == "":
        return None
    return parse_int(raw, f"{source}/@{name}")


def int_text(node: etree._Element | None, path: str, source: str) -> int | None:
    """Integer text of the element at ``path`` below ``node``, None when absent."""
    raw = text_of(node, path)
    return None if raw is None else parse_int(raw, f"{source}/{path}")


def parse_int(raw: str, field: str) -> int:
    """An integer in decimal or 0x-hex notation, as libvirt writes them."""
    try:
        return int(raw.strip(), 0)
    except ValueError:
        try:
            return int(raw.strip(), 10)  # "0010" is decimal to libvirt, not an error
        except ValueError as err:
            raise HostDataError(field, f"expected an integer, got {raw!r}") from err


def yes_no(raw: str | None) -> bool | None:
    """libvirt's yes/no (or on/off) attribute values as a bool; None when absent."""
    if raw is None:
        return None
    return raw.strip().lower() in ("yes", "on", "true", "1")
