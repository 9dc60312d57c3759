"""Fetching Debian packages of any architecture with the host's own apt, without installing them."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from zcompute.errors import ImageError


@dataclass(frozen=True)
class DebInfo:
    """What apt's package index says about one package's candidate version."""

    name: str
    arch: str
    version: str
    sha256: str
    depends: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "depends", tuple(self.depends))  # JSON gives lists

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"


def _run(args: list[str], *, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise ImageError(f"{args[0]} is not installed; run scripts/setup-host") from err
    if done.returncode != 0:
        raise ImageError(f"{' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def ensure_architecture(debian_arch: str) -> None:
    """Make apt able to fetch ``debian_arch`` packages (``dpkg --add-architecture``)."""
    native = _run(["dpkg", "--print-architecture"]).strip()
    foreign = _run(["dpkg", "--print-foreign-architectures"]).split()
    if debian_arch == native or debian_arch in foreign:
        return
    if os.geteuid() != 0:
        raise ImageError(
            f"apt cannot fetch {debian_arch} packages yet; run as root: "
            f"dpkg --add-architecture {debian_arch} && apt-get update (or scripts/setup-host)"
        )
    _run(["dpkg", "--add-architecture", debian_arch])
    _run(["apt-get", "update", "-qq"])


def package_info(name: str, debian_arch: str) -> DebInfo:
    """The candidate version of ``name:debian_arch`` as apt's index describes it."""
    text = _run(["apt-cache", "show", "--no-all-versions", f"{name}:{debian_arch}"])
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep and not line.startswith(" "):
            fields.setdefault(key, value.strip())
    if "Version" not in fields or "SHA256" not in fields:
        raise ImageError(f"apt has no installable {name}:{debian_arch}; run apt-get update")
    depends = tuple(
        dep.split()[0].split(":")[0] for dep in fields.get("Depends", "").split(",") if dep.strip()
    )
    return DebInfo(
        name, fields.get("Architecture", debian_arch), fields["Version"], fields["SHA256"], depends
    )


def download(info: DebInfo, cache: Path) -> Path:
    """The ``.deb`` for ``info`` in ``cache``, downloaded with ``apt-get download`` when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / info.filename
    if target.is_file():
        return target
    # apt drops privileges to _apt for downloads; a private temp dir it may write to avoids the
    # "download is performed unsandboxed" warning and half-written files in the cache.
    staging = cache / f".download-{os.getpid()}"
    staging.mkdir(exist_ok=True)
    try:
        shutil.chown(staging, user="_apt") if _has_user("_apt") else None
        _run(["apt-get", "download", "-qq", f"{info.name}:{info.arch}={info.version}"], cwd=staging)
        fetched = staging / info.filename
        if not fetched.is_file():
            raise ImageError(f"apt-get download did not produce {info.filename}")
        fetched.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def extract(deb: Path, dest: Path) -> Path:
    """Unpack ``deb``'s files into ``dest`` (``dpkg-deb -x``)."""
    dest.mkdir(parents=True, exist_ok=True)
    _run(["dpkg-deb", "-x", str(deb), str(dest)])
    return dest
