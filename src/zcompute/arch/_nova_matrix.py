"""zcompute's column of Nova's support matrix, computed per architecture, and its renderings.

:func:`nova_cell` decides one cell from a row of :data:`~zcompute.arch._nova_rows.NOVA_ROWS`,
an architecture profile and what the Nova adapter implements (its method names and the
capability flags it sets, passed in: nothing here imports Nova); :func:`nova_matrix` computes
every cell, and the renderers print it as text, markdown (docs/nova.md) or JSON.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Collection, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from rich.console import Console
from rich.table import Table

from zcompute.arch._matrix import _Notes, support_matrix
from zcompute.arch._nova_rows import NOVA_ROWS, NovaRow, NovaSupport
from zcompute.arch._profile import ArchProfile
from zcompute.arch._registry import PROFILES
from zcompute.arch._support import IMPLEMENTATION, ImplState, Status, feature
from zcompute.errors import InvalidInput

__all__ = [
    "NOVA_MATRIX_FORMATS",
    "NovaCell",
    "NovaMatrix",
    "NovaMatrixRow",
    "nova_cell",
    "nova_matrix",
    "render_nova",
    "render_nova_json",
    "render_nova_markdown",
    "render_nova_text",
]

NOVA_MATRIX_FORMATS = ("text", "markdown", "json")


@dataclasses.dataclass(frozen=True)
class NovaCell:
    """zcompute's value for one row on one architecture, and why when it is not complete."""

    support: NovaSupport
    reason: str = ""


def nova_cell(row: NovaRow, profile: ArchProfile, implemented: Collection[str]) -> NovaCell:
    """zcompute's value for ``row`` on ``profile``'s architecture (see the module docs).

    ``implemented`` holds the names of the ``ComputeDriver`` methods the Nova adapter
    implements and of the ``capabilities`` it sets true. Reasons come in order: the
    platform's, the driver's, then the adapter's.
    """
    if not row.features and not row.adapter_only:
        return NovaCell(NovaSupport.MISSING, "not implemented by zcompute")
    claims = [(feature(key), profile.claim(key)) for key in row.features]
    platform = [
        claim.note or f"{item.name}: not supported on {profile.arch}"
        for item, claim in claims
        if claim.status is Status.MISSING
    ]
    if platform:
        return NovaCell(NovaSupport.MISSING, "; ".join(dict.fromkeys(platform)))
    driver = [
        f"not implemented by zcompute ({item.name}: {IMPLEMENTATION[item.key].note})"
        if IMPLEMENTATION[item.key].note
        else f"not implemented by zcompute ({item.name})"
        for item, _ in claims
        if IMPLEMENTATION[item.key].state is ImplState.NOT_IMPLEMENTED
    ]
    if driver:
        return NovaCell(NovaSupport.MISSING, "; ".join(driver))
    lacking = [name for name in row.methods if name not in implemented]
    if lacking:
        return NovaCell(NovaSupport.MISSING, f"the Nova adapter lacks {', '.join(lacking)}")
    unset = [flag for flag in row.capabilities if flag not in implemented]
    if unset:
        return NovaCell(NovaSupport.MISSING, f"the Nova adapter does not set {', '.join(unset)}")
    partial = [
        claim.note or f"{item.name}: partial on {profile.arch}"
        for item, claim in claims
        if claim.status is Status.PARTIAL
    ]
    if partial:
        return NovaCell(NovaSupport.PARTIAL, "; ".join(dict.fromkeys(partial)))
    return NovaCell(NovaSupport.COMPLETE)


@dataclasses.dataclass(frozen=True)
class NovaMatrixRow:
    row: NovaRow
    cells: Mapping[str, NovaCell]  # by architecture


@dataclasses.dataclass(frozen=True)
class NovaMatrix:
    """Nova's rows with Nova's own column and zcompute's for each architecture.

    ``untested_arches`` are those no end-to-end test boots a guest of (as in zcompute's own
    matrix); their complete and partial cells say untested.
    """

    arches: tuple[str, ...]
    nova_drivers: Mapping[str, str]  # Nova's column for each architecture
    rows: tuple[NovaMatrixRow, ...]
    untested_arches: tuple[str, ...] = ()

    def complete(self, arch: str) -> int:
        """How many rows zcompute has complete on ``arch``."""
        return sum(r.cells[arch].support is NovaSupport.COMPLETE for r in self.rows)

    def nova_complete(self, arch: str) -> int:
        """How many rows Nova's own driver for ``arch`` marks complete."""
        driver = self.nova_drivers[arch]
        return sum(r.row.nova_value(driver) is NovaSupport.COMPLETE for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arches": list(self.arches),
            "nova_drivers": dict(self.nova_drivers),
            "untested_arches": list(self.untested_arches),
            "summary": {
                arch: {
                    "rows": len(self.rows),
                    "zcompute_complete": self.complete(arch),
                    "nova_complete": self.nova_complete(arch),
                }
                for arch in self.arches
            },
            "rows": [
                {
                    "key": r.row.key,
                    "title": r.row.title,
                    "status": str(r.row.status),
                    "features": list(r.row.features),
                    "methods": list(r.row.methods),
                    "capabilities": list(r.row.capabilities),
                    "note": r.row.note,
                    "columns": {
                        arch: {
                            "nova": str(r.row.nova_value(self.nova_drivers[arch])),
                            "zcompute": str(r.cells[arch].support),
                            "reason": r.cells[arch].reason,
                        }
                        for arch in self.arches
                    },
                }
                for r in self.rows
            ],
        }


def nova_matrix(
    implemented: Collection[str], profiles: Iterable[ArchProfile] | None = None
) -> NovaMatrix:
    """Every row of :data:`NOVA_ROWS` for ``profiles`` (by default every profile Nova has a
    column for), with an adapter that implements the ``ComputeDriver`` methods ``implemented``.
    """
    chosen = tuple(
        profiles if profiles is not None else (p for p in PROFILES.values() if p.nova_driver)
    )
    bare = [p.arch for p in chosen if not p.nova_driver]
    if bare:
        raise InvalidInput("arch", f"Nova's matrix has no column for {', '.join(bare)}")
    names = frozenset(implemented)
    rows = tuple(
        NovaMatrixRow(row, MappingProxyType({p.arch: nova_cell(row, p, names) for p in chosen}))
        for row in NOVA_ROWS
    )
    return NovaMatrix(
        arches=tuple(p.arch for p in chosen),
        nova_drivers=MappingProxyType({p.arch: p.nova_driver or "" for p in chosen}),
        rows=rows,
        untested_arches=support_matrix(chosen).untested_arches,
    )


# -- rendering ---------------------------------------------------------------------------------

_MARKDOWN_HEAD = """\
# Nova support matrix: zcompute next to Nova's libvirt driver

<!-- Generated by `zcompute support-matrix --nova --format markdown`. Change the rows in
     src/zcompute/arch/_nova_rows.py, zcompute's claims and implementation table, or the
     Nova adapter, then regenerate. -->

One line per row of Nova's own support matrix (`doc/source/user/support-matrix.ini` in
openstack/nova). The **Nova** columns are what Nova says of its own libvirt KVM driver for that
architecture, as written in the file. The **zcompute** columns are computed: *complete* when
the zcompute features the row rests on are supported by the architecture's profile and
implemented by zcompute's driver, and the Nova adapter implements the row's `ComputeDriver`
methods (*partial* when that holds but the platform supports a feature only in part);
otherwise *missing*, with the reason in a note. A row that no zcompute feature does is missing.
"""


def _header(matrix: NovaMatrix) -> list[str]:
    columns = ["Nova row", "Status"]
    for arch in matrix.arches:
        columns += [f"Nova {matrix.nova_drivers[arch]}", f"zcompute {arch}"]
    return [*columns, "Notes"]


def _cell(matrix: NovaMatrix, row: NovaMatrixRow, arch: str, notes: _Notes) -> str:
    cell = row.cells[arch]
    untested = arch in matrix.untested_arches and cell.support is not NovaSupport.MISSING
    return f"{cell.support}{', untested' if untested else ''}{notes.ref(cell.reason)}"


def _row_note(row: NovaRow, code: str) -> str:
    parts = []
    if row.features:
        parts.append("zcompute: " + ", ".join(f"{code}{key}{code}" for key in row.features))
    if row.methods:
        parts.append("adapter: " + ", ".join(f"{code}{name}{code}" for name in row.methods))
    if row.capabilities:
        parts.append("capability: " + ", ".join(f"{code}{c}{code}" for c in row.capabilities))
    text = "; ".join(parts)
    return f"{text}. {row.note}" if text and row.note else text or row.note


def _cells(matrix: NovaMatrix, notes: _Notes, code: str) -> list[list[str]]:
    rows = []
    for r in matrix.rows:
        cells = [f"{r.row.title} ({code}{r.row.key}{code})", str(r.row.status)]
        for arch in matrix.arches:
            cells.append(str(r.row.nova_value(matrix.nova_drivers[arch])))
            cells.append(_cell(matrix, r, arch, notes))
        cells.append(_row_note(r.row, code))
        rows.append(cells)
    return rows


def _summary(matrix: NovaMatrix, notice: str) -> list[str]:
    lines = [
        f"zcompute complete on {arch}: {matrix.complete(arch)} of {len(matrix.rows)} rows; "
        f"Nova's own {matrix.nova_drivers[arch]}: {matrix.nova_complete(arch)}"
        for arch in matrix.arches
    ]
    if matrix.untested_arches:
        lines.append(
            f"Untested: {', '.join(matrix.untested_arches)} (no end-to-end test boots a guest)."
        )
    return [notice, *lines] if notice else lines


def render_nova_markdown(matrix: NovaMatrix, notice: str = "") -> str:
    """The Markdown table; ``notice`` (e.g. that no adapter is installed) goes above it."""
    notes = _Notes()
    rows = _cells(matrix, notes, "`")
    header = _header(matrix)
    lines = [_MARKDOWN_HEAD]
    lines += [f"- {line}" for line in _summary(matrix, notice)]
    lines.append("")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(" --- " for _ in header) + "|")
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    if notes.items:
        lines.append("\nNotes:\n")
        lines += [f"{number}. {note}" for note, number in notes.items.items()]
    return "\n".join(lines) + "\n"


def render_nova_text(matrix: NovaMatrix, notice: str = "", width: int = 200) -> str:
    notes = _Notes()
    table = Table(title="Nova support matrix: zcompute", show_lines=False)
    for name in _header(matrix):
        table.add_column(name, overflow="fold")
    for cells in _cells(matrix, notes, ""):
        table.add_row(*cells)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, highlight=False)
    console.print(table)
    for line in _summary(matrix, notice):
        console.print(line, markup=False)
    for note, number in notes.items.items():
        console.print(f"[{number}] {note}", markup=False)
    return buffer.getvalue()


def render_nova_json(matrix: NovaMatrix, notice: str = "") -> str:
    data = matrix.to_dict()
    if notice:
        data["notice"] = notice
    return json.dumps(data, indent=2) + "\n"


def render_nova(matrix: NovaMatrix, fmt: str, notice: str = "") -> str:
    renderers = {
        "text": render_nova_text,
        "markdown": render_nova_markdown,
        "json": render_nova_json,
    }
    if fmt not in renderers:
        raise InvalidInput("format", f"unknown format {fmt!r}", NOVA_MATRIX_FORMATS)
    return renderers[fmt](matrix, notice)
