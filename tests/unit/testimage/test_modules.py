"""Module load order comes from each module's own .modinfo depends= string."""

from __future__ import annotations

from pathlib import Path

import pytest

from zcompute.errors import ImageError
from zcompute.testimage._modules import index_modules, load_order


def _module(root: Path, name: str, depends: str) -> None:
    # A .ko is an ELF file whose .modinfo section holds NUL-separated key=value strings.
    body = b"\x7fELF....\0license=GPL\0depends=" + depends.encode() + b"\0vermagic=6.1\0"
    (root / f"{name}.ko").write_bytes(body)


def test_dependencies_come_first_and_builtins_are_skipped(tmp_path: Path) -> None:
    _module(tmp_path, "virtio_net", "net_failover")
    _module(tmp_path, "net_failover", "failover")
    _module(tmp_path, "failover", "")
    _module(tmp_path, "virtio-blk", "")
    order = load_order(["virtio_net", "virtio_blk", "virtio_ccw"], index_modules(tmp_path))
    assert order == ["failover", "net_failover", "virtio_net", "virtio_blk"]


def test_a_cycle_is_reported(tmp_path: Path) -> None:
    _module(tmp_path, "a", "b")
    _module(tmp_path, "b", "a")
    with pytest.raises(ImageError, match="cycle"):
        load_order(["a"], index_modules(tmp_path))
