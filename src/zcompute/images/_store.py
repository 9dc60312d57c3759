"""The embedded image store: base images in a local directory, recorded in the state database.

Layout under ``root``::

    images/<id>/disk           a raw or qcow2 base image (0440 root:QEMU group; directory 0750)
    images/<id>/kernel         a direct-kernel-boot image's kernel (0440 root:QEMU group)
    images/<id>/initrd         ... and its initrd (0440 root:QEMU group)
    images/.partial-<id>/      an import in progress (removed on failure)
    images/.owner-<id>         the process running that import (recover() spares live ones)
    images/.trash-<id>/        a deleted image being removed

Base images are read-only because every guest writes to its own qcow2 overlay instead; only
root and QEMU's group (libvirt's DAC label, see :mod:`._access`) read them, and libvirt is told
never to give them to the QEMU user (``relabel='no'``), so no guest's QEMU can change a base
that other guests share. Instance disks are 0600.

An import becomes visible in one step: the files are written and checked in the partial
directory, then the database record is inserted and the directory renamed inside one
transaction. A failure at any point leaves neither a record nor a file; a crash can at worst
leave a partial or unrecorded directory, which :meth:`ImageStore.recover` removes once the
process that made it is gone.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from zcompute._faults import fault_point
from zcompute.errors import Conflict, ImageError, InvalidInput, NoSpace, NotFound
from zcompute.images import _qemuimg as qemu
from zcompute.images._access import (
    DIR_SHARED,
    DIR_TRAVERSE,
    FILE_PRIVATE,
    FILE_SHARED,
    make_data_dir,
    make_dir,
    restrict,
    tighten,
)
from zcompute.images._copy import Progress, copy_with_digest, fsync_dir, open_regular
from zcompute.model import (
    Image,
    UnusableRecord,
    new_uuid,
    utcnow,
    validate_arch,
    validate_image_properties,
    validate_name,
    validate_uuid,
)
from zcompute.properties import CMDLINE_PROPERTY, IMAGE_ARCH_PROPERTY, KERNEL_ID_PROPERTY
from zcompute.state import SpaceReserve, StateDB, owner_alive, this_process

__all__ = ["GIB", "ImageStore", "Recovery"]

GIB = 1 << 30
DISK, KERNEL, INITRD = "disk", "kernel", "initrd"
_PARTIAL, _TRASH, _OWNER = ".partial-", ".trash-", ".owner-"


@dataclasses.dataclass(frozen=True)
class Recovery:
    """What :meth:`ImageStore.recover` found: leftovers it removed, records without files."""

    removed: tuple[Path, ...]
    missing: tuple[Image, ...]


class ImageStore:
    """Base images under ``root/images``, their records in ``db`` (see the module docs).

    ``qemu_group()`` names the group QEMU runs with (None while unknown: the files then get
    root's group until :meth:`share_with_qemu` hands them to QEMU's).
    """

    def __init__(
        self, root: Path, db: StateDB, qemu_group: Callable[[], int | None] | None = None
    ) -> None:
        self.root = Path(root).absolute()
        self.db = db
        self.images_dir = self.root / "images"
        self._qemu_group = qemu_group or (lambda: None)
        make_data_dir(self.root)  # an existing one is left as it is
        if not make_dir(self.images_dir, DIR_TRAVERSE):
            tighten(self.images_dir, 0o066)  # an older store's 0755: QEMU only traverses

    # --- queries ------------------------------------------------------------------------

    def get(self, name_or_id: str) -> Image:
        """The image; InvalidInput, naming what is wrong, for one today's rules refuse."""
        return self.db.find_image(name_or_id)

    def list(self) -> builtins.list[Image | UnusableRecord]:
        """Every image, one that today's rules refuse (an older zcompute recorded it) as an
        :class:`~zcompute.model.UnusableRecord`: its files stay until it is deleted."""
        return self.db.list_images()

    # --- imports ------------------------------------------------------------------------

    def import_file(
        self,
        name: str,
        path: Path,
        *,
        arch: str | None = None,
        properties: Mapping[str, str] | None = None,
        expected_sha256: str | None = None,
        expected_format: str | None = None,
        progress: Progress | None = None,
    ) -> Image:
        """Import a raw or qcow2 disk image; refuse it if unsafe (see :mod:`._qemuimg`).

        ``progress(done, total)`` is called after each chunk copied; raising from it cancels
        the import. ``arch`` defaults to the ``hw_architecture`` property. ``expected_format``:
        the format the image's source declares (Glance's ``disk_format``); an image whose bytes
        are another format is refused, so the format is decided once, from the bytes.
        """
        arch, props = self._prepare(name, arch, properties)
        expected = _digest_argument(expected_sha256)
        image_id = new_uuid()
        with self._staging(image_id) as staging:
            copied = copy_with_digest(Path(path), staging / DISK, progress)
            fault_point("image.copied")
            if expected is not None and copied.sha256 != expected:
                raise ImageError(
                    f"checksum mismatch importing {path}: expected sha256 {expected}, "
                    f"got {copied.sha256}"
                )
            info = qemu.inspect_disk(staging / DISK, str(path))
            if expected_format is not None and info.format != expected_format:
                raise ImageError(
                    f"{path} is declared {expected_format} but its bytes are {info.format}"
                )
            image = self._disk_image(image_id, name, arch, props, info, copied.size, copied.sha256)
            self._publish(staging, image)
        return image

    def import_kernel(
        self,
        name: str,
        kernel: Path,
        initrd: Path | None,
        cmdline: str | None,
        arch: str,
        properties: Mapping[str, str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> Image:
        """Import a direct kernel boot image: a kernel, an optional initrd, a command line.

        ``cmdline`` defaults to the ``os_command_line`` property.
        """
        arch_known, props = self._prepare(name, validate_arch(arch, "arch"), properties)
        sources = [Path(kernel)] + ([Path(initrd)] if initrd is not None else [])
        total = sum(_size_of(p) for p in sources)
        image_id = new_uuid()
        with self._staging(image_id) as staging:
            kernel_copy = copy_with_digest(sources[0], staging / KERNEL, progress, total=total)
            initrd_copy = None
            if initrd is not None:
                initrd_copy = copy_with_digest(
                    sources[1], staging / INITRD, progress, offset=kernel_copy.size, total=total
                )
            final = self._dir(image_id)
            image = Image(
                id=image_id,
                name=name,
                arch=arch_known,
                disk_format=None,
                path=None,
                kernel_path=final / KERNEL,
                initrd_path=None if initrd_copy is None else final / INITRD,
                cmdline=cmdline if cmdline is not None else props.get(CMDLINE_PROPERTY),
                properties=props,
                size=kernel_copy.size + (initrd_copy.size if initrd_copy else 0),
                sha256=kernel_copy.sha256,
                initrd_sha256=None if initrd_copy is None else initrd_copy.sha256,
                created_at=utcnow(),
            )
            self._publish(staging, image)
        return image

    def describe_volume(
        self, name: str, arch: str, properties: Mapping[str, str] | None = None
    ) -> Image:
        """Record a volume image: what a root volume holds (its architecture and properties,
        as Cinder keeps them for a volume made from an image), no bytes. A guest boots it
        only from that volume (``spawn(boot_volume=...)``); like any image it stays while a
        guest was made of it."""
        arch_known, props = self._prepare(name, validate_arch(arch, "arch"), properties)
        image_id = new_uuid()
        with self._staging(image_id) as staging:  # an empty folder: delete and recovery as usual
            image = Image(
                id=image_id,
                name=name,
                arch=arch_known,
                disk_format=None,
                path=None,
                kernel_path=None,
                initrd_path=None,
                cmdline=None,
                properties=props,
                size=0,
                sha256=hashlib.sha256(b"").hexdigest(),  # the digest of the nothing it holds
                created_at=utcnow(),
            )
            self._publish(staging, image)
        return image

    def adopt(self, image: Image) -> Image:
        """This store's copy of ``image`` from another store (a guest migrating in): the same
        id, name, properties and bytes (each file's digest checked), made once; the copy
        this store has already is returned as it is. An image of the same name with the
        same bytes (the same Glance image, fetched here too) is that image: the other
        store's files are not read (another machine's may not be reachable); one with
        other bytes is a conflict."""
        try:
            return self.get(image.id)
        except NotFound:
            pass
        try:
            named = self.get(image.name)
        except NotFound:
            pass
        else:
            if not _same_content(named, image):
                raise Conflict(
                    f"image {image.name} here is another image than the one the guest runs"
                )
            return named
        sources = [(DISK, image.path), (KERNEL, image.kernel_path), (INITRD, image.initrd_path)]
        with self._staging(image.id) as staging:
            moved: dict[str, Path | None] = {}
            for name, source in sources:
                moved[name] = None
                if source is not None:
                    copied = copy_with_digest(Path(source), staging / name)
                    wanted = image.initrd_sha256 if name == INITRD else image.sha256
                    if copied.sha256 != wanted:
                        raise ImageError(f"{source} is not the file image {image.name} recorded")
                    moved[name] = self._dir(image.id) / name
            copy = dataclasses.replace(
                image, path=moved[DISK], kernel_path=moved[KERNEL], initrd_path=moved[INITRD]
            )
            self._publish(staging, copy)
        return copy

    def snapshot_from(
        self,
        disk: Path,
        name: str,
        *,
        disk_format: str = "qcow2",
        arch: str | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> Image:
        """Flatten an instance disk (an overlay of a store image) into a new standalone image.

        The disk's backing chain must stay inside this store. Unless given, ``arch`` and
        ``properties`` are inherited from the store image the chain ends in. The guest must
        not be writing to ``disk`` meanwhile (QEMU's image lock makes qemu-img fail if it is).
        """
        source = Path(disk).absolute()
        os.close(open_regular(source))
        base = self._base_of_chain(source, disk_format)
        if base is not None:
            arch = base.arch if arch is None else arch
            properties = base.properties if properties is None else properties
        arch, props = self._prepare(name, arch, properties)
        image_id = new_uuid()
        with self._staging(image_id) as staging:
            qemu.convert_to_qcow2(source, disk_format, staging / DISK)
            fault_point("image.converted")
            info = qemu.inspect_disk(staging / DISK, f"snapshot of {source}")
            size, digest = _digest_file(staging / DISK)
            image = self._disk_image(image_id, name, arch, props, info, size, digest)
            self._publish(staging, image)
        return image

    # --- instance disks -----------------------------------------------------------------

    def create_overlay(self, image: Image, dest: Path, size_gib: int) -> Path:
        """Create ``dest``: the instance's own qcow2 disk on top of ``image``, ``size_gib`` large.

        ``size_gib == 0`` means the image's own virtual size (Nova's ``root_gb = 0``); a size
        smaller than the image is an error. ``dest``'s directory must exist; an existing
        ``dest`` is never overwritten.
        """
        if image.path is None or image.disk_format is None:
            raise InvalidInput("image", f"{image.name} is a kernel boot image: it has no disk")
        size = _overlay_size(image, size_gib)
        base = self._owned(image.path)
        fmt = image.disk_format
        return _new_disk(dest, lambda tmp: qemu.create_overlay(base, fmt, tmp, size))

    def create_blank(self, dest: Path, size_gib: int) -> Path:
        """Create ``dest``: an empty qcow2 disk of ``size_gib`` GiB (e.g. for a kernel boot guest).

        Same rules for ``dest`` as :meth:`create_overlay`; a size of 0 is refused, as there is
        no image to take the size from.
        """
        if not isinstance(size_gib, int) or isinstance(size_gib, bool) or size_gib < 1:
            raise InvalidInput("root_gib", f"invalid size {size_gib!r} for a blank disk", ">= 1")
        return _new_disk(dest, lambda tmp: qemu.create_blank(tmp, size_gib * GIB))

    def share_with_qemu(self, path: Path, gid: int | None) -> None:
        """Let QEMU (group ``gid``) read the store file ``path``, and nobody else but root.

        Before a guest starts on it: it sets what an import sets (0440 root:gid, directory
        0750), also on images imported while QEMU's group was unknown or by older versions
        (0444, or left owned by the QEMU user by libvirt's relabelling).
        """
        file = self._owned(path)
        restrict(file.parent, DIR_SHARED, gid)
        restrict(file, FILE_SHARED, gid)

    # --- deletion and recovery ----------------------------------------------------------

    def delete(self, name_or_id: str) -> Image | UnusableRecord:
        """Delete an image and its files; refused with Conflict while an instance uses it, or
        while another image boots with it (a snapshot of a kernel-boot guest: its kernel_id).
        An image today's rules refuse is deleted the same way. Returns what was deleted."""
        image = self.db.find_image_record(name_or_id)
        try:
            validate_uuid(image.id)  # an id edited into a path must not lead out of the store
        except InvalidInput:
            self.db.delete_image(image.id)  # nothing under images/ can be its directory
            return image
        final, trash = self._dir(image.id), self.images_dir / f"{_TRASH}{image.id}"
        moved = False
        try:
            with self.db.transaction():
                # kernel_id may name the image by id or by name (both are looked up at boot)
                referrers = [
                    i.name
                    for i in self.list()
                    if isinstance(i, Image) and i.prop(KERNEL_ID_PROPERTY) in (image.id, image.name)
                ]
                if referrers:
                    raise Conflict(
                        f"image {image.name} is the kernel-boot image of images "
                        f"{', '.join(referrers)} (their {KERNEL_ID_PROPERTY}); guests made from "
                        "them could not start without it: delete those images first"
                    )
                try:
                    self.db.delete_image(image.id)
                except Conflict as err:
                    raise Conflict(f"{err}; delete those instances first") from err
                if final.exists():
                    os.rename(final, trash)
                    moved = True
                    fault_point("image_delete.trashed")
        except BaseException:
            if moved:  # the record stays, so the files must too
                os.rename(trash, final)
            raise
        fault_point("image_delete.forgotten")
        shutil.rmtree(trash, ignore_errors=True)
        fsync_dir(self.images_dir)
        return image

    def recover(self) -> Recovery:
        """Remove leftovers of interrupted imports/deletes; report records whose files are gone.

        An import that another live process is running is left alone (its owner mark).
        """
        images = self.list()
        removed = self.remove_leftovers(images)
        missing = tuple(
            image for image in images if isinstance(image, Image) and not self._files_present(image)
        )
        return Recovery(removed=removed, missing=missing)

    def remove_leftovers(
        self, images: builtins.list[Image | UnusableRecord] | None = None
    ) -> tuple[Path, ...]:
        """Only the removal part of :meth:`recover` (what every command does first: it stats
        no image's files). An unusable image's files are no leftover: they go with its delete."""
        known = {image.id for image in (self.list() if images is None else images)}
        busy = _busy_imports(self.images_dir)
        removed = []
        for entry in sorted(self.images_dir.iterdir()):
            restored = entry.name.removeprefix(_TRASH)
            if entry.name.startswith(_TRASH) and restored in known:
                # a delete killed before its transaction committed: the image still exists
                os.rename(entry, self._dir(restored))
                continue
            if _is_leftover(entry.name, known, busy):
                _remove(entry)
                removed.append(entry)
        return tuple(removed)

    # --- helpers ------------------------------------------------------------------------

    def _prepare(
        self, name: str, arch: str | None, properties: Mapping[str, str] | None
    ) -> tuple[str | None, Mapping[str, str]]:
        """Check everything about a new image that can be checked before copying bytes."""
        validate_name(name, "image.name", allow_uuid=False)
        props = validate_image_properties(properties or {})
        declared = props.get(IMAGE_ARCH_PROPERTY)
        if arch is None:
            arch = declared
        elif declared is not None and declared != arch:
            raise InvalidInput(
                "arch", f"{arch} contradicts {IMAGE_ARCH_PROPERTY}={declared}", [declared]
            )
        if arch is not None:
            validate_arch(arch, "arch")
        try:
            self.get(name)
        except NotFound:
            return arch, props
        raise Conflict(f"an image named {name!r} already exists")

    def _disk_image(
        self,
        image_id: str,
        name: str,
        arch: str | None,
        props: Mapping[str, str],
        info: qemu.DiskInfo,
        size: int,
        digest: str,
    ) -> Image:
        return Image(
            id=image_id,
            name=name,
            arch=arch,
            disk_format=info.format,
            path=self._dir(image_id) / DISK,
            kernel_path=None,
            initrd_path=None,
            cmdline=None,
            properties=props,
            size=size,
            virtual_size=info.virtual_size,
            sha256=digest,
            created_at=utcnow(),
        )

    def _dir(self, image_id: str) -> Path:
        return self.images_dir / image_id

    @contextlib.contextmanager
    def _staging(self, image_id: str) -> Iterator[Path]:
        # The owner mark names this process: recover() in another process leaves an import
        # alone while its process lives, and removes what a killed one left behind.
        SpaceReserve(self.root).require_room("adding an image")
        mark = self.images_dir / f"{_OWNER}{image_id}"
        mark.write_text(this_process())
        staging = self.images_dir / f"{_PARTIAL}{image_id}"
        try:
            staging.mkdir(mode=0o700)
            yield staging
        except OSError as err:
            shutil.rmtree(staging, ignore_errors=True)
            if err.errno != errno.ENOSPC:
                raise
            raise NoSpace(
                f"the file system of {self.root} filled up while adding an image; nothing was "
                "added: free space (delete guests or images) and try again"
            ) from err
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            mark.unlink(missing_ok=True)

    def _publish(self, staging: Path, image: Image) -> None:
        """Make a checked import visible: read-only files, record and rename in one step."""
        gid = self._qemu_group()
        for child in staging.iterdir():
            restrict(child, FILE_SHARED, gid)
        restrict(staging, DIR_SHARED, gid)
        final = self._dir(image.id)
        renamed = False
        try:
            with self.db.transaction():
                self.db.add_image(image)
                fault_point("image.recorded")
                os.rename(staging, final)
                renamed = True
                fault_point("image.renamed")
        except BaseException:
            if renamed:  # the commit failed after the rename: put it back for the cleanup
                os.rename(final, staging)
            raise
        fsync_dir(self.images_dir)

    def _owned(self, path: Path) -> Path:
        """``path`` if it is an existing file of this store, else ImageError."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self.images_dir.resolve()) or not resolved.is_file():
            raise ImageError(f"image file {path} is missing or outside the store {self.images_dir}")
        return resolved

    def _files_present(self, image: Image) -> bool:
        paths = (image.path, image.kernel_path, image.initrd_path)
        return all(p.is_file() for p in paths if p is not None)

    def _base_of_chain(self, disk: Path, disk_format: str) -> Image | None:
        """Check that ``disk``'s backing chain stays in this store; return the store image."""
        chain = qemu.backing_chain(disk, disk_format)
        for layer in chain:
            data = layer.get("format-specific", {}).get("data", {})
            if "data-file" in data:
                raise ImageError(f"{layer.get('filename')}: external data files are not allowed")
            if "backing-filename" not in layer:
                continue
            if "backing-filename-format" not in layer:
                raise ImageError(f"{layer.get('filename')}: backing file without explicit format")
            self._owned(Path(str(layer.get("full-backing-filename"))))
        if len(chain) < 2:
            return None
        bottom = Path(str(chain[-1].get("filename"))).resolve()
        return next(
            (
                i
                for i in self.list()
                if isinstance(i, Image) and i.path is not None and i.path.resolve() == bottom
            ),
            None,
        )


def _digest_argument(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().lower() if isinstance(value, str) else ""
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InvalidInput("expected_sha256", f"not a sha256 digest: {value!r}", "64 hex digits")
    return text


def _size_of(path: Path) -> int:
    fd = open_regular(path)
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _digest_file(path: Path) -> tuple[int, str]:
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")  # reads in bounded chunks
    return path.stat().st_size, digest.hexdigest()


def _overlay_size(image: Image, size_gib: int) -> int:
    if not isinstance(size_gib, int) or isinstance(size_gib, bool) or size_gib < 0:
        raise InvalidInput("root_gib", f"invalid size {size_gib!r}", "an integer >= 0")
    if size_gib == 0:
        return image.virtual_size
    if size_gib * GIB < image.virtual_size:
        needed = -(-image.virtual_size // GIB)
        raise InvalidInput(
            "root_gib",
            f"a {size_gib} GiB root disk is smaller than image {image.name} "
            f"({image.virtual_size} bytes = {image.virtual_size / GIB:.2f} GiB)",
            f"{needed} or more, or 0 for the image's own size",
        )
    return size_gib * GIB


def _new_disk(dest: Path, make: Callable[[Path], None]) -> Path:
    """Create the disk ``dest`` with ``make(temporary)``, never overwriting, never half-made."""
    target = Path(dest).absolute()
    if target.exists():
        raise Conflict(f"{target} already exists")
    temporary = target.with_name(f".{target.name}{_PARTIAL}{new_uuid()}")
    try:
        make(temporary)
        restrict(temporary, FILE_PRIVATE)  # libvirt gives it to QEMU while the guest runs
        _link_no_clobber(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def _link_no_clobber(source: Path, target: Path) -> None:
    """Give ``source`` the name ``target`` unless ``target`` exists (atomically if possible)."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise Conflict(f"{target} already exists") from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
            raise ImageError(f"cannot create {target}: {err.strerror}") from err
        if target.exists():  # no hard links on this file system: check, then rename
            raise Conflict(f"{target} already exists") from None
        os.rename(source, target)


def _is_leftover(name: str, known: set[str], busy: set[str]) -> bool:
    """Whether ``name`` in the images folder is what an interrupted import or delete left;
    ``busy``: ids of imports whose process still runs."""
    for prefix in (_PARTIAL, _OWNER):
        if name.startswith(prefix):
            return name.removeprefix(prefix) not in busy
    if name.startswith(_TRASH):
        return True
    try:
        image_id = validate_uuid(name)
    except InvalidInput:
        return False  # not a name this store creates: leave it alone
    return image_id not in known and image_id not in busy


def _busy_imports(images_dir: Path) -> set[str]:
    """Ids of imports whose owner mark names a process that still runs."""
    busy = set()
    for mark in images_dir.glob(f"{_OWNER}*"):
        with contextlib.suppress(OSError):
            if owner_alive(mark.read_text()):
                busy.add(mark.name.removeprefix(_OWNER))
    return busy


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def _own_properties(image: Image) -> dict[str, str]:
    """An image's properties but the id of its kernel's image, which each store has its own."""
    return {k: v for k, v in image.properties.items() if k != KERNEL_ID_PROPERTY}


def _same_content(a: Image, b: Image) -> bool:
    """Whether two stores' images boot a guest the same way: the same bytes (digests), the
    same kind, architecture, command line and properties; ids and paths are each store's."""
    return (
        a.sha256 == b.sha256
        and a.initrd_sha256 == b.initrd_sha256
        and a.disk_format == b.disk_format
        and a.arch == b.arch
        and a.cmdline == b.cmdline
        and _own_properties(a) == _own_properties(b)
        and (a.path is None) == (b.path is None)
        and (a.kernel_path is None) == (b.kernel_path is None)
        and (a.initrd_path is None) == (b.initrd_path is None)
    )
