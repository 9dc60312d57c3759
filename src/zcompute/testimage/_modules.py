"""Kernel module dependency resolution from the modules' own ``.modinfo`` sections.

The modules belong to a foreign architecture, so host tools such as ``modprobe`` cannot be used;
the ``depends=`` string in ``.modinfo`` is plain text and the same on every architecture.
"""

from __future__ import annotations

import re
from pathlib import Path

from zcompute.errors import ImageError

_DEPENDS = re.compile(rb"(?:^|\0)depends=([^\0]*)\0")


def index_modules(modules_root: Path) -> dict[str, Path]:
    """Map module name (``virtio_blk``) to its ``.ko`` file under ``lib/modules/<version>``."""
    return {ko.name.removesuffix(".ko").replace("-", "_"): ko for ko in modules_root.rglob("*.ko")}


def _depends(ko: Path) -> list[str]:
    match = _DEPENDS.search(ko.read_bytes())
    if not match or not match.group(1):
        return []
    return [name.replace("-", "_") for name in match.group(1).decode().split(",")]


def load_order(wanted: list[str], index: dict[str, Path]) -> list[str]:
    """Every module needed for ``wanted``, dependencies first; built-in ones are skipped.

    A wanted module that is neither a file nor a dependency of one is assumed built in, which
    is how the kernel config (``=y``) differs between architectures.
    """
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order or name not in index:
            return
        if name in visiting:
            raise ImageError(f"kernel module dependency cycle at {name}")
        visiting.add(name)
        for dep in _depends(index[name]):
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in wanted:
        visit(name)
    return order
