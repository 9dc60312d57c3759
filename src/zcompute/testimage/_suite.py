"""A private apt index of one Debian suite and architecture: which package versions a build gets.

A cloud image's content key names every package version that goes into it. The host's own apt
cannot say (a Debian 13 host has no bookworm lists, and the host's lists follow the host's
updates, not the guest's), so each architecture gets its own small apt state under the data
dir, with the suite's official sources and Debian's archive keyring, and no dpkg status: the
answer is what a fresh bootstrap of the suite installs today.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from zcompute.errors import ImageError

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
#: How long fetched lists are trusted before apt-get update runs again. Within this, repeated
#: builds (every CI run on a machine) find the cached image without touching the network.
REFRESH_SECONDS = 12 * 3600


def sources(debian_arch: str) -> list[str]:
    """The suite's one-line apt sources (the same for the index and for mmdebstrap)."""
    opts = f"[arch={debian_arch} signed-by={KEYRING}]"
    return [
        f"deb {opts} {MIRROR} {SUITE} main",
        f"deb {opts} {MIRROR} {SUITE}-updates main",
        f"deb {opts} {SECURITY_MIRROR} {SUITE}-security main",
    ]


class SuiteIndex:
    """apt's view of :data:`SUITE` for one architecture, kept under ``root``."""

    def __init__(self, root: Path, debian_arch: str) -> None:
        self.root = root
        self.arch = debian_arch
        for sub in ("lists/partial", "cache/archives/partial"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "sources.list").write_text("\n".join(sources(debian_arch)) + "\n")
        (root / "status").touch()

    def _apt_options(self) -> list[str]:
        options = {
            "Dir::Etc::SourceList": self.root / "sources.list",
            "Dir::Etc::SourceParts": "/nonexistent",
            "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": "/nonexistent",
            "Dir::State::Lists": self.root / "lists",
            "Dir::State::status": self.root / "status",
            "Dir::Cache": self.root / "cache",
            "APT::Architecture": self.arch,
            "APT::Architectures": self.arch,
            "APT::Sandbox::User": "root",
            "Debug::NoLocking": "true",
        }
        return [arg for key, value in options.items() for arg in ("-o", f"{key}={value}")]

    def _run(self, command: str, *args: str) -> str:
        argv = [command, *self._apt_options(), *args]
        env = {**os.environ, "LC_ALL": "C"}
        done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            raise ImageError(f"{command} {' '.join(args)} failed: {done.stderr.strip()[-400:]}")
        return done.stdout

    def _lists(self) -> list[Path]:
        return sorted((self.root / "lists").glob("*_Packages*"))

    def refresh(self, *, force: bool = False) -> None:
        """``apt-get update`` when the lists are missing or older than a day's half.

        Offline with lists already fetched, the old lists are used: the key stays that of the
        last known state, so the cached image is found.
        """
        lists = self._lists()
        age = time.time() - min((p.stat().st_mtime for p in lists), default=0.0)
        if lists and age < REFRESH_SECONDS and not force:
            return
        try:
            self._run("apt-get", "update", "-qq")
        except ImageError:
            if not lists:
                raise
        for path in self._lists():
            os.utime(path)  # unchanged lists are not rewritten; their age is the check's

    def essential(self) -> list[str]:
        """The suite's ``Essential: yes`` packages: what every bootstrap installs unasked."""
        names: list[str] = []
        package = None
        for line in self._run("apt-cache", "dumpavail").splitlines():
            if line.startswith("Package: "):
                package = line.removeprefix("Package: ").strip()
            elif line == "Essential: yes" and package is not None:
                names.append(package)
        return sorted(set(names))

    def bootstrap_closure(self, packages: list[str]) -> list[str]:
        """``name=version`` of what a minbase bootstrap with ``packages`` installs, sorted.

        Asking apt takes seconds; the answer only changes with the lists, so it is kept next to
        them, keyed by the lists' modification times and the packages asked for.
        """
        stamp = [p.stat().st_mtime_ns for p in self._lists()]
        memo = self.root / "closure.json"
        try:
            saved = json.loads(memo.read_text())
            if saved["stamp"] == stamp and saved["packages"] == packages:
                return list(saved["closure"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no usable memo: ask apt
        closure = self.closure([*self.essential(), "apt", *packages])
        memo.write_text(json.dumps({"stamp": stamp, "packages": packages, "closure": closure}))
        return closure

    def closure(self, packages: list[str]) -> list[str]:
        """``name=version`` of every package installing ``packages`` takes, sorted."""
        text = self._run("apt-get", "install", "--simulate", "-qq", *packages)
        found = []
        for line in text.splitlines():
            if line.startswith("Inst "):
                name, _sep, rest = line.removeprefix("Inst ").partition(" (")
                found.append(f"{name}={rest.split()[0]}")
        if not found:
            raise ImageError(f"apt resolved no packages for {' '.join(packages)}")
        return sorted(found)
