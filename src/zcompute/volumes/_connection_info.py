"""Cinder's Fibre Channel ``connection_info``, checked and normalised.

Nova hands a connector ``{"driver_volume_type": "fibre_channel", "serial": <volume id>,
"data": {...}}``; ``data`` holds ``target_wwn`` (one or a list) or ``target_wwns``,
``target_lun`` or ``target_luns``, and optionally ``initiator_target_map``,
``addressing_mode``, ``enable_wildcard_scan`` and ``multipath``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zcompute.errors import InvalidInput
from zcompute.volumes._names import apply_addressing_mode, normalize_wwpn, validate_target_lun

DRIVER_VOLUME_TYPE = "fibre_channel"
# libvirt's RelaxNG pattern for <serial>; the volume id becomes the disk serial.
_SERIAL_RE = re.compile(r"[A-Za-z0-9_.+\- ]+")


@dataclass(frozen=True, order=True)
class FcTarget:
    """One target port and the LUN (already in host addressing) the volume has behind it."""

    wwpn: str
    lun: int


@dataclass(frozen=True)
class FcConnectionInfo:
    """A validated FC connection: targets, optional zoning map and scan policy."""

    volume_id: str
    targets: tuple[FcTarget, ...]
    # initiator WWPN -> target WWPNs zoned to it; None when the driver sent no map.
    initiator_target_map: Mapping[str, tuple[str, ...]] | None = None
    multipath: bool | None = None
    enable_wildcard_scan: bool = True

    def targets_for(self, initiator_wwpn: str) -> tuple[FcTarget, ...]:
        """The targets an HBA may reach: all of them, or those the map zones to it."""
        if self.initiator_target_map is None:
            return self.targets
        zoned = self.initiator_target_map.get(initiator_wwpn, ())
        return tuple(t for t in self.targets if t.wwpn in zoned)


def parse_connection_info(connection_info: Mapping[str, Any]) -> FcConnectionInfo:
    """Validate Nova's FC ``connection_info``; every error names the offending field."""
    if not isinstance(connection_info, Mapping):
        raise InvalidInput("connection_info", "is not a mapping", "a dict with a 'data' mapping")
    kind = connection_info.get("driver_volume_type", DRIVER_VOLUME_TYPE)
    if kind != DRIVER_VOLUME_TYPE:
        raise InvalidInput(
            "connection_info.driver_volume_type", f"{kind!r} is not FC", DRIVER_VOLUME_TYPE
        )
    data = connection_info.get("data")
    if not isinstance(data, Mapping):
        raise InvalidInput("connection_info.data", "is missing or not a mapping", "a dict")
    mode = data.get("addressing_mode")
    targets = _targets(data, mode)
    return FcConnectionInfo(
        volume_id=volume_id_of(connection_info, data),
        targets=targets,
        initiator_target_map=_initiator_target_map(data.get("initiator_target_map"), targets),
        multipath=_optional_bool(data, "multipath"),
        enable_wildcard_scan=_optional_bool(data, "enable_wildcard_scan") is not False,
    )


def volume_id_of(connection_info: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """The volume id (``data.volume_id``, else Nova's ``serial``): the guest disk's serial."""
    value = data.get("volume_id", connection_info.get("serial"))
    if not isinstance(value, str) or _SERIAL_RE.fullmatch(value) is None:
        raise InvalidInput(
            "connection_info.data.volume_id",
            f"{value!r} cannot serve as the disk serial",
            "letters, digits and _ . + - or space (libvirt's serial pattern)",
        )
    return value


def _targets(data: Mapping[str, Any], mode: object) -> tuple[FcTarget, ...]:
    wwpns = _wwpn_list(data)
    luns = _lun_list(data)
    if len(luns) == 1 and len(wwpns) > 1:
        luns = luns * len(wwpns)  # one LUN shared by every target port, the common case
    if len(luns) != len(wwpns):
        raise InvalidInput(
            "connection_info.data.target_luns",
            f"{len(luns)} LUNs for {len(wwpns)} target ports",
            "one LUN, or one per target WWPN",
        )
    pairs = (
        FcTarget(w, apply_addressing_mode(lun, mode)) for w, lun in zip(wwpns, luns, strict=True)
    )
    return tuple(dict.fromkeys(pairs))  # drop repeats, keep the driver's order


def _wwpn_list(data: Mapping[str, Any]) -> list[str]:
    key = "target_wwns" if "target_wwns" in data else "target_wwn"
    raw = data.get(key)
    field = f"connection_info.data.{key}"
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, Sequence) or not items:
        raise InvalidInput(field, f"{raw!r} names no target port", "a WWPN or a list of WWPNs")
    return [normalize_wwpn(item, f"{field}[{i}]") for i, item in enumerate(items)]


def _lun_list(data: Mapping[str, Any]) -> list[int]:
    if "target_luns" in data:
        raw = data["target_luns"]
        field = "connection_info.data.target_luns"
        if isinstance(raw, str | bytes) or not isinstance(raw, Sequence) or not raw:
            raise InvalidInput(field, f"{raw!r} is not a list of LUNs", "a non-empty list")
        return [validate_target_lun(v, f"{field}[{i}]") for i, v in enumerate(raw)]
    if "target_lun" not in data:
        raise InvalidInput("connection_info.data.target_lun", "is missing", "an integer LUN")
    return [validate_target_lun(data["target_lun"], "connection_info.data.target_lun")]


def _initiator_target_map(
    raw: object, targets: tuple[FcTarget, ...]
) -> Mapping[str, tuple[str, ...]] | None:
    if raw is None:
        return None
    field = "connection_info.data.initiator_target_map"
    if not isinstance(raw, Mapping):
        raise InvalidInput(field, f"{raw!r} is not a mapping", "{initiator WWPN: [target WWPNs]}")
    known = {t.wwpn for t in targets}
    result: dict[str, tuple[str, ...]] = {}
    for initiator, ports in raw.items():
        key = normalize_wwpn(initiator, f"{field} key")
        if isinstance(ports, str) or not isinstance(ports, Sequence):
            raise InvalidInput(f"{field}[{initiator}]", f"{ports!r} is not a list", "target WWPNs")
        normalized = (normalize_wwpn(p, f"{field}[{initiator}]") for p in ports)
        # Ports the map names but target_wwn does not carry no LUN: ignore them.
        result[key] = tuple(p for p in normalized if p in known)
    return result


def _optional_bool(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise InvalidInput(f"connection_info.data.{key}", f"{value!r} is not a boolean", "true, false")
