"""Building zcompute's test guest images: a Debian kernel plus a busybox initramfs.

What goes into one architecture's image (Debian architecture and kernel package, modules, boot
form) is that architecture's profile's recipe (:class:`zcompute.arch.TestImageRecipe`); this
package knows no architecture.

An image is content-addressed: its key hashes everything that goes into it (the kernel and busybox
packages' SHA256 from apt's index, the module list, ``/init`` and the builder version), so a cached
build is found without downloading anything and a changed input builds a new image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from zcompute.arch import TestImageRecipe, recipe_for
from zcompute.errors import ImageError
from zcompute.testimage import _cpio, _debs, _modules

LOG = logging.getLogger("zcompute.testimage")
BUILDER_VERSION = "1"
_APT_LISTS = Path("/var/lib/apt/lists")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TestImage:
    """A built test image: kernel and initramfs files, ready for direct kernel boot."""

    __test__ = False  # not a pytest test class, despite the name

    arch: str
    key: str
    kernel: Path
    initrd: Path
    kernel_version: str
    cached: bool
    build_seconds: float


def _init_script() -> bytes:
    return resources.files("zcompute.testimage").joinpath("init.sh").read_bytes()


def _resolve(recipe: TestImageRecipe, memo: Path) -> tuple[_debs.DebInfo, _debs.DebInfo]:
    """The kernel and busybox packages apt would fetch now.

    ``apt-cache`` takes seconds per call with several architectures enabled, and its answer only
    changes when apt's lists do, so the answer is kept in ``memo`` keyed by the lists' mtime.
    """
    stamp = f"{recipe.debian_arch}:{_APT_LISTS.stat().st_mtime_ns if _APT_LISTS.exists() else 0}"
    try:
        saved = json.loads(memo.read_text())
        if saved.get("stamp") == stamp:
            return _debs.DebInfo(**saved["kernel"]), _debs.DebInfo(**saved["busybox"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no usable memo: ask apt
    meta = _debs.package_info(recipe.kernel_package, recipe.debian_arch)
    kernel = _debs.package_info(meta.depends[0], recipe.debian_arch)
    busybox = _debs.package_info("busybox-static", recipe.debian_arch)
    memo.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "stamp": stamp,
        "kernel": dataclasses.asdict(kernel),
        "busybox": dataclasses.asdict(busybox),
    }
    memo.write_text(json.dumps(record))
    return kernel, busybox


def _inputs(recipe: TestImageRecipe, memo: Path) -> tuple[_debs.DebInfo, _debs.DebInfo, str]:
    kernel, busybox = _resolve(recipe, memo)
    material = {
        "builder": BUILDER_VERSION,
        "kernel": kernel.sha256,
        "busybox": busybox.sha256,
        "modules": recipe.modules,
        "lz4_vmlinux": recipe.lz4_vmlinux,
        "init": hashlib.sha256(_init_script()).hexdigest(),
    }
    key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return kernel, busybox, key


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_builds(root: Path, prefix: str) -> None:
    """Remove the build folders ``root/prefix*`` a killed build left behind.

    The caller holds the build's lock, so no live build of the same kind owns one. A folder with
    a file system still mounted inside (a killed bootstrap's chroot ``/proc``) is left alone:
    removing through a mount would reach outside the folder.
    """
    mounted = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for stale in root.glob(f"{prefix}*"):
        inside = [m for m in mounted if m == str(stale) or m.startswith(f"{stale}/")]
        if inside:
            LOG.warning("leaving %s: %s is still mounted inside it", stale, inside[0])
            continue
        shutil.rmtree(stale, ignore_errors=True)


def publish(out: Path, final: Path, manifest: dict[str, object]) -> None:
    """Make a finished build ``out`` the cached image ``final``; the manifest marks it whole."""
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if final.exists():
        shutil.rmtree(final)
    out.chmod(0o755)
    out.rename(final)


def _load(directory: Path, arch: str, key: str) -> TestImage | None:
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text())
    return TestImage(
        arch, key, directory / "kernel", directory / "initrd", data["kernel_version"], True, 0.0
    )


def build_test_image(
    arch: str, data_dir: Path, progress: Progress | None = None, *, force: bool = False
) -> TestImage:
    """The test image for ``arch`` under ``data_dir/testimages``, built when not cached."""
    say = progress or (lambda _msg: None)
    recipe = recipe_for(arch)
    _debs.ensure_architecture(recipe.debian_arch)
    root = data_dir / "testimages"
    kernel_deb, busybox_deb, key = _inputs(recipe, root / f".{arch}-packages.json")
    final = root / f"{arch}-{key[:16]}"
    with locked(root / f".{arch}.lock"):
        cached = None if force else _load(final, arch, key)
        if cached is not None:
            say(f"{arch} test image {key[:16]} is cached")
            return cached
        started = time.monotonic()
        say(f"building {arch} test image from {kernel_deb.name} {kernel_deb.version}")
        debs = root / "debs"
        kernel_file = _debs.download(kernel_deb, debs)
        busybox_file = _debs.download(busybox_deb, debs)
        remove_stale_builds(root, f".build-{arch}-")
        with tempfile.TemporaryDirectory(dir=root, prefix=f".build-{arch}-") as tmp:
            work = Path(tmp)
            version = _assemble(recipe, kernel_file, busybox_file, work, say)
            publish(work / "out", final, {"arch": arch, "key": key, "kernel_version": version})
        seconds = time.monotonic() - started
        say(f"built {arch} test image {key[:16]} in {seconds:.1f} s")
        return TestImage(arch, key, final / "kernel", final / "initrd", version, False, seconds)


def _assemble(
    recipe: TestImageRecipe, kernel_deb: Path, busybox_deb: Path, work: Path, say: Progress
) -> str:
    kroot = _debs.extract(kernel_deb, work / "kernel")
    broot = _debs.extract(busybox_deb, work / "busybox")
    out = work / "out"
    out.mkdir()
    (vmlinuz,) = (kroot / "boot").glob("vmlinuz-*")
    version = vmlinuz.name.removeprefix("vmlinuz-")
    if recipe.lz4_vmlinux:
        say("extracting the uncompressed vmlinux (PVH boot)")
        (out / "kernel").write_bytes(lz4_payload(vmlinuz.read_bytes()))
    else:
        shutil.copyfile(vmlinuz, out / "kernel")
    modules_root = kroot / "lib" / "modules" / version
    index = _modules.index_modules(modules_root)
    order = _modules.load_order(list(recipe.modules), index)
    say(f"initramfs with busybox and modules: {', '.join(order) or '(all built in)'}")
    (out / "initrd").write_bytes(_initramfs(broot / "bin" / "busybox", order, index))
    for name in ("kernel", "initrd"):
        (out / name).chmod(0o644)
    return version


def _initramfs(busybox: Path, modules: list[str], index: dict[str, Path]) -> bytes:
    entries = [_cpio.directory(d) for d in ("bin", "dev", "etc", "etc/zcompute", "lib")]
    entries += [_cpio.directory("lib/modules"), _cpio.directory("proc"), _cpio.directory("sys")]
    entries += [_cpio.directory("tmp"), _cpio.directory("mnt")]
    entries.append(_cpio.regular("bin/busybox", busybox.read_bytes(), executable=True))
    entries.append(_cpio.symlink("bin/sh", "busybox"))
    entries.append(_cpio.regular("init", _init_script(), executable=True))
    entries.append(_cpio.regular("etc/zcompute/modules", "\n".join(modules).encode() + b"\n"))
    entries += [_cpio.regular(f"lib/modules/{m}.ko", index[m].read_bytes()) for m in modules]
    return _cpio.write_newc(entries)


_LZ4_LEGACY_MAGIC = b"\x02\x21\x4c\x18"


def lz4_payload(bzimage: bytes) -> bytes:
    start = bzimage.find(_LZ4_LEGACY_MAGIC)
    if start < 0:
        raise ImageError("no LZ4 payload found in the x86 kernel image")
    # lz4 exits non-zero on the bzImage's trailing bytes after the payload; the payload itself
    # is complete, which the ELF magic check below confirms.
    done = subprocess.run(["lz4", "-dc"], input=bzimage[start:], capture_output=True, check=False)
    if not done.stdout.startswith(b"\x7fELF"):
        raise ImageError(f"LZ4 payload did not decompress to an ELF kernel: {done.stderr[-300:]!r}")
    return done.stdout
