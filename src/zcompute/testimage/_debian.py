"""Debian 12 cloud guests built from Debian's packages: systemd, cloud-init, sshd, a guest agent.

Cloud images for s390x cannot be downloaded here, but they can be bootstrapped: ``mmdebstrap``
installs the suite's packages into a directory (for a foreign architecture through qemu-user
and binfmt_misc), a customize script (``debian-customize.sh``) makes it a cloud guest, and
``mkfs.ext4 -d`` turns the directory into the root file system of a whole-disk image. The
kernel and initrd are taken out next to it: the guest boots directly from them with its root
on the disk, like the busybox test image but with a real distribution behind the kernel.

The content key hashes every package version the bootstrap installs (from a private apt index
of the suite, :mod:`._suite`), the customize script and the build options, so a cached image is
found without building and any change in the suite's packages builds a new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from zcompute.arch import CLOUD_IMAGE_ARCHES, TestImageRecipe, recipe_for
from zcompute.errors import ImageError, InvalidInput
from zcompute.testimage._build import (
    Progress,
    locked,
    lz4_payload,
    publish,
    remove_stale_builds,
)
from zcompute.testimage._suite import SUITE, SuiteIndex, sources

BUILDER_VERSION = "1"
DISTRO = "debian12"
#: What the guest is for: an init system, cloud-init reading the config drive, a login over SSH,
#: the QEMU guest agent. mmdebstrap installs no Recommends, so what cloud-init and systemd
#: merely recommend (dbus, sudo, growpart, zstd for the initramfs) is named here.
PACKAGES = (
    "systemd-sysv",
    "udev",
    "initramfs-tools",
    "zstd",
    "cloud-init",
    "cloud-guest-utils",
    "openssh-server",
    "qemu-guest-agent",
    "dbus",
    "sudo",
    "e2fsprogs",
    "netbase",
)
#: No documentation, manual pages or translations: less to unpack under qemu-user.
_DPKG_EXCLUDES = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
#: Besides the arch's virtio modules: the root file system's (ext4 checks metadata with crc32c).
ROOT_FS_MODULES = ("ext4", "crc32c_generic")
#: The root file system's label. The root disk is not always vda: on s390x the CCW devices
#: are probed in parallel and a config drive was measured to come up as vda first.
ROOT_LABEL = "debian-root"
#: The kernel-boot half's command line; the arch's console= arguments are added at boot.
ROOT_CMDLINE = f"root=LABEL={ROOT_LABEL} rw"
#: What a Debian guest's console log shows on its way up, in order: its boot timeline.
MILESTONES = (
    ("kernel", r"Linux version \S+"),
    ("systemd", r"Welcome to \S*Debian GNU/Linux"),  # systemd colours the name
    ("login", r"\S+ login: "),
    ("cloud-init final", r"Cloud-init v\. \S+ finished at"),
)
_DIVERT = (
    'chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs && '
    'printf "#!/bin/sh\\nexit 0\\n" > "$1/usr/sbin/update-initramfs" && '
    'chmod 755 "$1/usr/sbin/update-initramfs"'
)


@dataclass(frozen=True)
class CloudImage:
    """A built Debian cloud guest: a qcow2 root disk plus the kernel and initrd it boots with."""

    arch: str
    key: str
    disk: Path
    kernel: Path
    initrd: Path
    kernel_version: str
    packages: int
    cached: bool
    build_seconds: float

    @property
    def name(self) -> str:
        """``debian12-s390x``: the disk image's name in an image store."""
        return f"{DISTRO}-{self.arch}"


def _customize_script() -> bytes:
    return resources.files("zcompute.testimage").joinpath("debian-customize.sh").read_bytes()


def content_key(recipe: TestImageRecipe, index: SuiteIndex) -> tuple[str, int]:
    """The image's key and how many packages it holds (without building anything)."""
    versions = index.bootstrap_closure([*PACKAGES, recipe.kernel_package])
    material = {
        "builder": BUILDER_VERSION,
        "suite": SUITE,
        "arch": recipe.debian_arch,
        "packages": versions,
        "dpkg": _DPKG_EXCLUDES,
        "mmdebstrap": "skip=cleanup/apt",
        "cmdline": ROOT_CMDLINE,
        "customize": hashlib.sha256(_customize_script()).hexdigest(),
        "lz4_vmlinux": recipe.lz4_vmlinux,
        "initramfs_modules": _initramfs_modules(recipe),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest(), len(versions)


def _load(directory: Path, arch: str, key: str) -> CloudImage | None:
    try:
        data = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return CloudImage(
        arch,
        key,
        directory / "disk.qcow2",
        directory / "kernel",
        directory / "initrd",
        data["kernel_version"],
        data["packages"],
        True,
        0.0,
    )


def build_cloud_image(
    arch: str, data_dir: Path, progress: Progress | None = None, *, force: bool = False
) -> CloudImage:
    """The Debian cloud image for ``arch`` under ``data_dir/testimages``, built when not cached."""
    say = progress or (lambda _msg: None)
    recipe = recipe_for(arch)
    if not recipe.cloud_image:
        raise InvalidInput("arch", f"no {DISTRO} guest for {arch}", CLOUD_IMAGE_ARCHES)
    root = data_dir / "testimages"
    with locked(root / f".{DISTRO}-{arch}.lock"):
        index = SuiteIndex(root / f"{DISTRO}-apt" / recipe.debian_arch, recipe.debian_arch)
        index.refresh()
        key, count = content_key(recipe, index)
        final = root / f"{DISTRO}-{arch}-{key[:16]}"
        cached = None if force else _load(final, arch, key)
        if cached is not None:
            say(f"{DISTRO} {arch} image {key[:16]} is cached")
            return cached
        started = time.monotonic()
        say(f"building {DISTRO} {arch} from {count} packages")
        remove_stale_builds(root, f".build-{DISTRO}-{arch}-")
        with tempfile.TemporaryDirectory(dir=root, prefix=f".build-{DISTRO}-{arch}-") as tmp:
            work = Path(tmp)
            version = _assemble(recipe, arch, work, say)
            manifest = {"arch": arch, "key": key, "kernel_version": version, "packages": count}
            publish(work / "out", final, manifest)
        seconds = time.monotonic() - started
        say(f"built {DISTRO} {arch} image {key[:16]} in {seconds:.0f} s")
        _prune(root, arch, keep=final)
        return CloudImage(
            arch,
            key,
            final / "disk.qcow2",
            final / "kernel",
            final / "initrd",
            version,
            count,
            False,
            seconds,
        )


def _prune(root: Path, arch: str, keep: Path) -> None:
    """Older builds of the same arch: each is half a gigabyte, and nothing refers to them."""
    for old in root.glob(f"{DISTRO}-{arch}-*"):
        if old != keep and old.is_dir() and (old / "manifest.json").exists():
            shutil.rmtree(old, ignore_errors=True)


def _assemble(recipe: TestImageRecipe, arch: str, work: Path, say: Progress) -> str:
    rootfs = work / "rootfs"
    ensure_binfmt(recipe.debian_arch, arch)
    _bootstrap(recipe, rootfs, work, say)
    out = work / "out"
    out.mkdir()
    (vmlinuz,) = (rootfs / "boot").glob("vmlinuz-*")
    version = vmlinuz.name.removeprefix("vmlinuz-")
    if recipe.lz4_vmlinux:
        (out / "kernel").write_bytes(lz4_payload(vmlinuz.read_bytes()))
    else:
        shutil.copyfile(vmlinuz, out / "kernel")
    shutil.copyfile(rootfs / "boot" / f"initrd.img-{version}", out / "initrd")
    say("making the root file system (mkfs.ext4 -d) and the qcow2 disk")
    _make_disk(rootfs, work / "root.raw", out / "disk.qcow2")
    for name in ("kernel", "initrd", "disk.qcow2"):
        (out / name).chmod(0o644)
    return version


def _bootstrap(recipe: TestImageRecipe, rootfs: Path, work: Path, say: Progress) -> None:
    script = work / "customize.sh"
    script.write_bytes(_customize_script())
    argv = [
        "mmdebstrap",
        f"--arch={recipe.debian_arch}",
        "--variant=minbase",
        "--mode=root",
        "--format=directory",
        "--quiet",
        "--skip=cleanup/apt",  # debian-customize.sh cleans (see there why)
        f"--include={','.join([*PACKAGES, recipe.kernel_package])}",
        *[f"--dpkgopt={opt}" for opt in _DPKG_EXCLUDES],
        f"--essential-hook={_DIVERT}",
        f'--customize-hook=sh {script} "$1" {ROOT_LABEL} {" ".join(_initramfs_modules(recipe))}',
        SUITE,
        str(rootfs),
        *sources(recipe.debian_arch),
    ]
    say(f"mmdebstrap {recipe.debian_arch} {SUITE} with {len(PACKAGES) + 1} named packages")
    log = work / "mmdebstrap.log"
    with log.open("w") as handle:
        done = subprocess.run(argv, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-1500:]
        raise ImageError(f"mmdebstrap failed (exit {done.returncode}):\n{tail}")


def _initramfs_modules(recipe: TestImageRecipe) -> tuple[str, ...]:
    return (*recipe.modules, *ROOT_FS_MODULES)


def _make_disk(rootfs: Path, raw: Path, qcow2: Path) -> None:
    used = int(_run(["du", "-s", "--block-size=1M", str(rootfs)]).split()[0])
    # ext4's own metadata, and room for the first boot's journal, logs and SSH host keys
    size_mib = used + used // 4 + 160
    with raw.open("wb") as handle:
        handle.truncate(size_mib << 20)
    _run(["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-d", str(rootfs), str(raw)])
    _run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)])
    raw.unlink()


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise ImageError(f"{argv[0]} is not installed; run scripts/setup-host") from err
    if done.returncode != 0:
        raise ImageError(f"{argv[0]} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


_BINFMT = Path("/proc/sys/fs/binfmt_misc")


def ensure_binfmt(debian_arch: str, qemu: str) -> None:
    """Let the kernel run ``debian_arch`` binaries through qemu-user (for maintainer scripts).

    ``qemu`` names the qemu-user binary, which is zcompute's (libvirt's) name of the arch.

    binfmt_misc is not mounted on every host, and the qemu-user packages only register their
    interpreters through systemd-binfmt, which does not run everywhere: register it from the
    package's own ``binfmt.d`` entry when it is missing.
    """
    native = _run(["dpkg", "--print-architecture"]).strip()
    if debian_arch == native:
        return
    entry = _BINFMT / f"qemu-{qemu}"
    if entry.exists() and entry.read_text().startswith("enabled"):
        return
    conf = Path(f"/usr/lib/binfmt.d/qemu-{qemu}.conf")
    if not conf.is_file():
        raise ImageError(f"no qemu-user interpreter for {debian_arch}; run scripts/setup-host")
    if os.geteuid() != 0:
        raise ImageError(f"qemu-{qemu} is not registered with binfmt_misc; run as root")
    if not (_BINFMT / "register").exists():
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(_BINFMT)])
    if entry.exists():  # registered but disabled
        entry.write_text("1")
        return
    (_BINFMT / "register").write_text(conf.read_text().strip())
