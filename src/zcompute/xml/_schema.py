"""Validation against libvirt's installed RelaxNG schema for domains."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

from lxml import etree

from zcompute.errors import SchemaError
from zcompute.xml._domain import Domain
from zcompute.xml._object import parse_element

__all__ = ["DOMAIN_SCHEMA", "validate_schema"]

#: Where libvirt installs its domain schema (package libvirt-daemon / libvirt-common).
DOMAIN_SCHEMA = Path("/usr/share/libvirt/schemas/domain.rng")

_lock = threading.Lock()
_schemas: dict[Path, etree.RelaxNG] = {}


def _schema(path: Path) -> etree.RelaxNG:
    """Compile the schema on first use (some milliseconds), once per process."""
    with _lock:
        schema = _schemas.get(path)
        if schema is None:
            try:
                schema = etree.RelaxNG(etree.parse(str(path)))
            except OSError as err:
                raise SchemaError(
                    str(path),
                    f"libvirt's RelaxNG schema cannot be read ({err}); "
                    "install libvirt's schemas (libvirt-daemon or libvirt-common)",
                ) from None
            except etree.RelaxNGParseError as err:
                raise SchemaError(str(path), f"not a usable RelaxNG schema: {err}") from None
            _schemas[path] = schema
        return schema


def validate_schema(doc: Domain | str | bytes, schema: Path = DOMAIN_SCHEMA) -> None:
    """Raise SchemaError, carrying libvirt's schema messages, if ``doc`` is not valid.

    ``doc`` is a :class:`Domain` or domain XML text. The error's ``field`` is the path
    of the first offending element (e.g. ``/domain/devices/disk[2]``).
    """
    if isinstance(doc, Domain):
        tree = doc.element.getroottree()
    else:
        tree = parse_element(doc, "domain").getroottree()
    rng = _schema(schema)
    # a validator keeps its error log in the object, so calls must not interleave
    with _lock:
        valid = rng.validate(tree)
        errors = list(rng.error_log)
        culprits = [] if valid else _culprits(rng, tree)
    if valid:
        return
    where = culprits[0] if culprits else next((e.path for e in errors if e.path), "/domain")
    message = (
        "; ".join(f"{e.message} (at {e.path})" if e.path else e.message for e in errors)
        or "invalid document"
    )
    if culprits:
        message += f"; invalid on its own: {', '.join(culprits)}"
    raise SchemaError(where, f"rejected by {schema.name}: {message}")


def _culprits(rng: etree.RelaxNG, tree: etree._ElementTree) -> list[str]:
    """The devices that make the document invalid even when alone.

    libxml2 reports a bad device as "Extra element devices in interleave", naming no
    device; trying each device on its own finds the one to blame (only on failure, and
    only when the document without its devices is valid: otherwise the fault is
    elsewhere and the messages already point at it).
    """
    root = tree.getroot()
    devices = root.find("devices")
    if devices is None:
        return []
    own = [el for el in devices if isinstance(el.tag, str) and el.tag != "emulator"]
    if not rng.validate(_with_devices(root, [])):
        return []
    return [
        tree.getpath(device)
        for index, device in enumerate(own)
        if not rng.validate(_with_devices(root, [index]))
    ]


def _with_devices(root: etree._Element, keep: list[int]) -> etree._Element:
    """A copy of the document keeping only the devices at the positions in ``keep``."""
    trial = copy.deepcopy(root)
    devices = trial.find("devices")
    assert devices is not None
    own = [el for el in devices if isinstance(el.tag, str) and el.tag != "emulator"]
    for index, el in enumerate(own):
        if index not in keep:
            devices.remove(el)
    return trial
