"""Fibre Channel names: WWPNs, LUNs, CCW bus-IDs and the udev by-path links built from them.

Everything here is a pure function of its arguments, so the formats can be checked
against real examples and against os-brick without any host.
"""

from __future__ import annotations

import re

from zcompute.errors import InvalidInput

BY_PATH_DIR = "/dev/disk/by-path"

# SCSI addressing modes Cinder drivers may send as ``addressing_mode``.
ADDRESSING_SAM = "SAM"
ADDRESSING_TRANSPARENT = "transparent"
ADDRESSING_SAM2 = "SAM2"
ADDRESSING_SAM3_FLAT = "SAM3-flat"
ADDRESSING_MODES = (ADDRESSING_SAM, ADDRESSING_TRANSPARENT, ADDRESSING_SAM2, ADDRESSING_SAM3_FLAT)

MAX_TARGET_LUN = 0xFFFFFFFF
_SINGLE_LEVEL_MAX = 0xFFFF
# Flat space addressing (method 01b) carries a 14-bit LUN in the first level.
_FLAT_SPACE_BIAS = 0x4000
_FLAT_SPACE_MAX = 0x3FFF

_WWPN_RE = re.compile(r"(?:0[xX])?([0-9a-fA-F]{16})")
_FCP_LUN_RE = re.compile(r"0[xX]([0-9a-fA-F]{16})")
# A channel-subsystem bus-ID: css id, subchannel-set id (0-3) and a 4-digit device number.
_CCW_BUS_ID_RE = re.compile(r"[0-9a-f]\.[0-3]\.[0-9a-f]{4}")

_WWPN_ALLOWED = "16 hexadecimal digits, optionally prefixed by 0x"
_LUN_ALLOWED = (
    "an integer 0..0xffff (single-level LUN) or 0x10000..0xffffffff whose low 16 bits "
    "are not all zero (two levels packed as level1 << 16 | level2)"
)


def normalize_wwpn(value: object, field: str = "target_wwn") -> str:
    """Return a WWPN as 16 lower-case hex digits without ``0x``; reject anything else."""
    if not isinstance(value, str):
        raise InvalidInput(field, f"{value!r} is not a string", _WWPN_ALLOWED)
    match = _WWPN_RE.fullmatch(value.strip())
    if match is None:
        raise InvalidInput(field, f"{value!r} is not a WWPN", _WWPN_ALLOWED)
    return match.group(1).lower()


def validate_target_lun(value: object, field: str = "target_lun") -> int:
    """Return a Cinder ``target_lun`` as an int after checking it can be addressed.

    Only the range check lives here; :func:`fcp_lun` adds the zfcp-specific rule.
    """
    # bool is an int subclass; True as a LUN is always a bug upstream.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(field, f"{value!r} is not an integer", _LUN_ALLOWED)
    if value < 0:
        raise InvalidInput(field, f"{value} is negative", _LUN_ALLOWED)
    if value > MAX_TARGET_LUN:
        # Cinder passes at most two LUN levels (32 bits); udev's by-path names and the
        # os-brick conventions stop there too, so levels 3 and 4 have no spelling.
        raise InvalidInput(
            field,
            f"{value:#x} needs more than two LUN levels and cannot be addressed",
            _LUN_ALLOWED,
        )
    return value


def apply_addressing_mode(lun: int, mode: object, field: str = "addressing_mode") -> int:
    """Translate a LUN number to the value the host uses under Cinder's ``addressing_mode``.

    SAM and transparent keep the number. SAM2 uses peripheral addressing below 256 and
    flat space addressing from 256 on; SAM3-flat always uses flat space addressing.
    Flat space holds 14 bits, so larger LUNs are rejected in those modes.
    """
    if mode is None:
        return lun
    if mode not in ADDRESSING_MODES:
        raise InvalidInput(field, f"{mode!r} is not a SCSI addressing mode", ADDRESSING_MODES)
    flat = mode == ADDRESSING_SAM3_FLAT or (mode == ADDRESSING_SAM2 and lun >= 256)
    if not flat:
        return lun
    if lun > _FLAT_SPACE_MAX:
        raise InvalidInput(
            "target_lun",
            f"{lun} does not fit flat space addressing ({mode})",
            f"0..{_FLAT_SPACE_MAX}",
        )
    return lun + _FLAT_SPACE_BIAS


def fcp_lun(lun: int) -> str:
    """Return the 16-hex-digit FCP LUN that zfcp's ``unit_add`` expects for a ``target_lun``.

    Cinder FC drivers send ``target_lun`` as an integer in one of two shapes; zfcp wants
    the full 8-byte SCSI LUN, written as ``0x`` and 16 hex digits:

    * ``0 .. 0xffff`` is a single-level LUN filling the first 2-byte level:
      2 -> ``0x0002000000000000`` (e.g. IBM Storwize/SVC).
    * ``0x10000 .. 0xffffffff`` is the first two levels packed as ``level1 << 16 | level2``:
      0x40104000 -> ``0x4010400000000000`` (e.g. IBM DS8000, which sends ``int(lun_id, 16)``).

    Both shapes put the value at the top of the 8 bytes, so a packed value whose second
    level is zero (0x10000, 0x20000, ..., 0xffff0000) spells the same FCP LUN as its first
    level alone (1, 2, ..., 0xffff). os-brick formats both without comment and two volumes
    would then share one device. **Decision:** such packed values are rejected with
    :class:`~zcompute.errors.InvalidInput`; the single-level number names that LUN and is
    accepted. Values above 0xffffffff are rejected by :func:`validate_target_lun`.
    """
    validate_target_lun(lun)
    if lun <= _SINGLE_LEVEL_MAX:
        return f"0x{lun:04x}000000000000"
    if lun & 0xFFFF == 0:
        raise InvalidInput(
            "target_lun",
            f"{lun:#x} is ambiguous: as two packed levels its second level is 0, which is "
            f"FCP LUN 0x{lun:08x}00000000, the LUN that target_lun {lun >> 16} already names",
            _LUN_ALLOWED,
        )
    return f"0x{lun:08x}00000000"


def lun_from_fcp_lun(text: str, field: str = "fcp_lun") -> int:
    """Invert :func:`fcp_lun`: ``0x4010400000000000`` -> 0x40104000, ``0x0021...`` -> 33."""
    match = _FCP_LUN_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(field, f"{text!r} is not an FCP LUN", "0x followed by 16 hex digits")
    value = int(match.group(1), 16)
    if value & 0xFFFFFFFF:
        raise InvalidInput(field, f"{text} uses LUN levels 3 or 4, which target_lun cannot express")
    top = value >> 32
    return top >> 16 if top & 0xFFFF == 0 else top


def by_path_lun(lun: int) -> str:
    """Return the LUN as udev's by-path ``-lun-`` component for a Linux SCSI LUN number.

    Below 256 it is decimal (peripheral addressing, bus 0); otherwise the kernel's
    ``int_to_scsilun`` byte order as 16 hex digits (1074413572 -> ``0x4004400a00000000``).
    """
    validate_target_lun(lun)
    if lun < 256:
        return str(lun)
    return f"0x{lun & 0xFFFF:04x}{(lun >> 16) & 0xFFFF:04x}00000000"


def validate_ccw_bus_id(value: str, field: str = "ccw_bus_id") -> str:
    """Return a CCW bus-ID such as ``0.0.3080`` (lower case) or raise InvalidInput."""
    text = value.strip().lower()
    if _CCW_BUS_ID_RE.fullmatch(text) is None:
        raise InvalidInput(field, f"{value!r} is not a CCW bus-ID", "c.s.dddd, e.g. 0.0.3080")
    return text


def zfcp_by_path_names(bus_id: str, wwpn: str, lun: int) -> tuple[str, str, str]:
    """Return the three by-path links udev may create for a zfcp LUN, most common first.

    RHEL/SLES s390-tools rules: ``ccw-<bus-id>-zfcp-0x<wwpn>:<fcp lun>``; systemd's
    common rules (Debian/Ubuntu, newer distributions): ``ccw-<bus-id>-fc-0x<wwpn>-lun-<n>``
    with ``<n>`` decimal below 256 or the 16-digit FCP LUN. Both ``-fc-`` spellings are
    listed for every LUN, as os-brick does, because which one exists depends on the rules.
    """
    bus_id = validate_ccw_bus_id(bus_id)
    port = "0x" + normalize_wwpn(wwpn)
    lun_text = fcp_lun(lun)
    return (
        f"{BY_PATH_DIR}/ccw-{bus_id}-zfcp-{port}:{lun_text}",
        f"{BY_PATH_DIR}/ccw-{bus_id}-fc-{port}-lun-{lun}",
        f"{BY_PATH_DIR}/ccw-{bus_id}-fc-{port}-lun-{lun_text}",
    )


def pci_by_path_name(pci_address: str, wwpn: str, lun: int, platform: str | None = None) -> str:
    """Return the by-path link of a LUN behind a PCI HBA.

    ``pci-0000:05:00.3-fc-0x<wwpn>-lun-1``; when the PCI bus hangs off a platform device
    udev prefixes ``platform-<name>-`` (``platform`` is that whole prefix without the dash).
    """
    port = "0x" + normalize_wwpn(wwpn)
    prefix = f"{platform}-" if platform else ""
    return f"{BY_PATH_DIR}/{prefix}pci-{pci_address}-fc-{port}-lun-{by_path_lun(lun)}"
