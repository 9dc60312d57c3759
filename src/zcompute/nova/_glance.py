"""Glance images in zcompute's image store: fetched once, inspected like any import, reused.

An image is downloaded with Nova's image API into a staging folder inside zcompute's data
directory and imported exactly like ``zcompute image import``: the format is decided from the
bytes (and must be the one Glance declares), backing and data files are refused. The store
image is named after the Glance id and records Glance's checksum, so later boots of the same
image reuse it. Kernel-boot images (an ``ami`` with ``kernel_id``/``ramdisk_id``, or a disk
image with them) become a zcompute kernel-boot image, with the disk on top when there is one.
Snapshots go the other way: the store image made from the guest is uploaded, then removed.
Glance's ``kernel_id`` names a Glance image; the store's names the store image it became.
A guest booting from a volume is described by the properties Cinder keeps of the image the
volume was made from (:meth:`GlanceImages.volume_image_for`): with a ``kernel_id`` the volume
boots with that kernel, else it is a volume image (properties only, no bytes).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from nova import exception as nova_exception
from nova.image import glance
from nova.virt import images as nova_images

from zcompute.driver import KERNEL_ID_PROPERTY, ComputeAPI
from zcompute.errors import Conflict, ImageError, InvalidInput, NotFound
from zcompute.model import Image, utcnow
from zcompute.nova._translate import guest_arch, image_properties
from zcompute.properties import CMDLINE_PROPERTY

__all__ = ["STAGING_PREFIX", "GlanceImages"]

LOG = logging.getLogger(__name__)

#: Folders a download stages in (``<data_dir>/<prefix>*``); a killed download's is removed by
#: the next start of the compute service.
STAGING_PREFIX = ".glance-"
#: The store image property recording the Glance checksum an image was fetched with.
CHECKSUM_PROPERTY = "nova_image_checksum"
#: Store images fetched from Glance: ``glance-<id>``, a disk image's kernel ``...-boot``.
_CACHED, _BOOT_SUFFIX = "glance-", "-boot"
#: The key of a root volume's description: ``glance-vol-<digest of its properties>``.
_VOLUME = "vol-"
_DISK_FORMATS = {"qcow2": "qcow2", "raw": "raw", "ami": "raw"}


def _checksum(meta: Mapping[str, Any]) -> str:
    return str(meta.get("os_hash_value") or meta.get("checksum") or "")


class GlanceImages:
    """The Glance side of one compute service's zcompute driver."""

    def __init__(self, zc: ComputeAPI, data_dir: Path, host_arch: str) -> None:
        self._zc = zc
        self._data_dir = data_dir
        self._host_arch = host_arch
        self._locks: dict[str, threading.RLock] = {}
        self._spawning: collections.Counter[str] = collections.Counter()
        self._guard = threading.Lock()

    def remove_staging_leftovers(self) -> list[str]:
        """Remove what downloads cut short (kill -9) left; called once at service start."""
        gone = []
        for path in self._data_dir.glob(f"{STAGING_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path.name)
        return gone

    # -- boot images --------------------------------------------------------------------

    def image_for(self, context: Any, image_id: str) -> Image:
        """The store image to boot Glance image ``image_id`` with (fetched on first use)."""
        meta = glance.API().get(context, image_id)
        props = dict(meta.get("properties") or {})
        arch = guest_arch(props, self._host_arch)
        fmt = meta.get("disk_format")
        if fmt in ("aki", "ari"):
            raise InvalidInput(
                "image disk_format", f"a {fmt} image is a kernel/ramdisk, not bootable", ["ami"]
            )
        if fmt not in _DISK_FORMATS:
            raise InvalidInput("image disk_format", f"unsupported {fmt!r}", tuple(_DISK_FORMATS))
        with self._lock(image_id):
            cached = self._cached(f"{_CACHED}{image_id}", _checksum(meta))
            if cached is not None:
                return cached
            if fmt == "ami" and props.get(KERNEL_ID_PROPERTY) and not meta.get("size"):
                return self._kernel_image(context, f"{_CACHED}{image_id}", meta, arch)
            return self._disk_image(context, image_id, meta, arch)

    def volume_key(self, raw: Mapping[str, Any]) -> str:
        """The cache key of the description of a root volume with image properties ``raw``
        (what :meth:`in_use` and the store name take)."""
        arch = guest_arch(raw, self._host_arch)
        described = {
            "arch": arch,
            "properties": image_properties(raw, arch),
            "kernel": raw.get(KERNEL_ID_PROPERTY),
            "ramdisk": raw.get("ramdisk_id"),
            "cmdline": raw.get(CMDLINE_PROPERTY),
        }
        digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()
        return f"{_VOLUME}{digest[:32]}"

    def volume_image_for(self, context: Any, raw: Mapping[str, Any]) -> Image:
        """The store image describing a root volume whose image properties (Cinder's
        ``volume_image_metadata``, as Nova keeps them) are ``raw``: the kernel-boot image of
        its ``kernel_id`` (fetched from Glance), else a volume image. Guests booting volumes
        of one image share it; the image cache prunes it like any other."""
        arch = guest_arch(raw, self._host_arch)
        key = self.volume_key(raw)
        name, digest = f"{_CACHED}{key}", key.removeprefix(_VOLUME)
        with self._lock(key):
            cached = self._cached(name, digest)
            if cached is not None:
                return cached
            if raw.get(KERNEL_ID_PROPERTY):
                meta = {"properties": raw, "os_hash_value": digest}
                return self._kernel_image(context, name, meta, arch)
            props = image_properties(raw, arch)
            props[CHECKSUM_PROPERTY] = digest
            return self._zc.images.describe_volume(name, arch, props)

    def _disk_image(self, context: Any, image_id: str, meta: Mapping[str, Any], arch: str) -> Image:
        props = image_properties(meta.get("properties") or {}, arch)
        if (meta.get("properties") or {}).get(KERNEL_ID_PROPERTY):
            boot = self._kernel_image(context, f"{_CACHED}{image_id}{_BOOT_SUFFIX}", meta, arch)
            props[KERNEL_ID_PROPERTY] = boot.id
        props[CHECKSUM_PROPERTY] = _checksum(meta)
        with self._staging() as staging:
            disk = staging / "disk"
            nova_images.fetch(context, image_id, str(disk))
            return self._zc.images.import_file(
                f"{_CACHED}{image_id}",
                disk,
                arch=arch,
                properties=props,
                expected_format=_DISK_FORMATS[str(meta["disk_format"])],
            )

    def _kernel_image(self, context: Any, name: str, meta: Mapping[str, Any], arch: str) -> Image:
        raw = meta.get("properties") or {}
        cached = self._cached(name, _checksum(meta))
        if cached is not None:
            return cached
        props = image_properties(raw, arch)
        props.pop(CMDLINE_PROPERTY, None)  # the import takes it as the command line
        props[CHECKSUM_PROPERTY] = _checksum(meta)
        with self._staging() as staging:
            kernel = staging / "kernel"
            nova_images.fetch(context, str(raw[KERNEL_ID_PROPERTY]), str(kernel))
            initrd = None
            if raw.get("ramdisk_id"):
                initrd = staging / "initrd"
                nova_images.fetch(context, str(raw["ramdisk_id"]), str(initrd))
            return self._zc.images.import_kernel(
                name, kernel, initrd, raw.get(CMDLINE_PROPERTY), arch, props
            )

    def _cached(self, name: str, checksum: str) -> Image | None:
        try:
            image = self._zc.images.get(name)
        except NotFound:
            return None
        if image.prop(CHECKSUM_PROPERTY, "") != checksum:
            raise ImageError(
                f"image {name} in zcompute's store does not have Glance's checksum {checksum!r}"
            )
        return image

    @contextlib.contextmanager
    def _staging(self) -> Iterator[Path]:
        path = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self._data_dir))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def _lock(self, image_id: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(image_id, threading.RLock())

    @contextlib.contextmanager
    def in_use(self, image_id: str) -> Iterator[None]:
        """Keep Glance image ``image_id``'s cached copy while a spawn makes a guest of it: the
        cache's pruning passes it by until the guest's record names it (spawns of one image
        still run side by side)."""
        with self._guard:
            self._spawning[image_id] += 1
        try:
            yield
        finally:
            with self._guard:
                self._spawning[image_id] -= 1

    # -- migration --------------------------------------------------------------------------

    @contextlib.contextmanager
    def fetched(
        self,
        context: Any,
        image_id: str | None,
        volume_properties: Mapping[str, Any] | None,
    ) -> Iterator[None]:
        """The image of a guest migrating here (Glance image ``image_id``, else the image of
        a root volume with ``volume_properties``), fetched into the store as a boot here
        fetches it and kept while the guest arrives: zcompute's driver then takes this copy
        (same name, same bytes) instead of reading the source's store, which another
        machine cannot. Without it in Glance (deleted since), the driver copies the source's
        files (a store both hosts reach) or refuses."""
        key = str(image_id) if volume_properties is None else self.volume_key(volume_properties)
        with self.in_use(key):
            try:
                if volume_properties is None:
                    self.image_for(context, str(image_id))
                else:
                    self.volume_image_for(context, volume_properties)
            except nova_exception.ImageNotFound:
                LOG.warning("image %s is not in Glance: the source host's copy is taken", key)
            yield

    # -- the cache --------------------------------------------------------------------------

    def cache(self, context: Any, image_id: str) -> bool:
        """Fetch Glance image ``image_id`` into the store ahead of a boot (Nova's image
        pre-caching); False when it is there already."""
        with self._lock(image_id):
            try:
                self._zc.images.get(f"{_CACHED}{image_id}")
                return False
            except NotFound:
                self.image_for(context, image_id)
                return True

    def prune(self, minimum_age: float) -> list[str]:
        """Remove the cached Glance images that no guest boots from and that were fetched at
        least ``minimum_age`` seconds ago; returns their names. An image in use (a guest's,
        a spawn's under way, the kernel of another cached image) stays."""
        cached = [
            i for i in self._zc.images.list() if isinstance(i, Image) and i.name.startswith(_CACHED)
        ]
        # disk images before the kernel-boot companions they boot with
        cached.sort(key=lambda image: image.name.endswith(_BOOT_SUFFIX))
        now = utcnow()
        removed = []
        for image in cached:
            if (now - image.created_at).total_seconds() < minimum_age:
                continue
            image_id = image.name.removeprefix(_CACHED).removesuffix(_BOOT_SUFFIX)
            lock = self._lock(image_id)
            if not lock.acquire(blocking=False):
                continue  # a fetch of it is under way
            try:
                with self._guard:
                    if self._spawning[image_id]:
                        continue  # a guest is being made of it
                self._zc.images.delete(image.id)
                removed.append(image.name)
            except Conflict:
                continue  # a guest boots from it
            finally:
                lock.release()
        return removed

    # -- snapshots ------------------------------------------------------------------------

    def upload_snapshot(self, context: Any, image_id: str, snapshot: Image) -> None:
        """Upload the store image ``snapshot`` as Glance image ``image_id``, then drop it."""
        try:
            # the properties (arch, emulation, kernel_id) are the server's image's: Nova
            # copied them into the snapshot's record already
            metadata = {"disk_format": snapshot.disk_format, "container_format": "bare"}
            if snapshot.path is None:  # a snapshot is a disk image; never a kernel
                raise ImageError(f"snapshot {snapshot.name} has no disk to upload")
            with open(snapshot.path, "rb") as data:
                os.posix_fadvise(data.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                glance.API().update(context, image_id, metadata, data)
        finally:
            self._zc.images.delete(snapshot.id)
