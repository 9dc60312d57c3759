"""Shared builders for the state tests (a module, so tests can import it by its unique name)."""

from __future__ import annotations

from pathlib import Path

from zcompute.model import Flavor, Image, new_uuid, utcnow


def make_image(name: str = "debian", arch: str | None = "s390x") -> Image:
    image_id = new_uuid()
    return Image(
        id=image_id,
        name=name,
        arch=arch,
        disk_format="qcow2",
        path=Path(f"/var/lib/zcompute/images/{image_id}/disk"),
        kernel_path=None,
        initrd_path=None,
        cmdline=None,
        properties={"hw_disk_bus": "virtio", "os_distro": "debian"},
        size=4096,
        sha256="0" * 64,
        created_at=utcnow(),
        virtual_size=1 << 30,
    )


FLAVOR = Flavor("test", 1, 128, 1, {"hw:cpu_mode": "host-model"})
