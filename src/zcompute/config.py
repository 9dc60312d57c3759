"""zcompute's configuration: one typed object, read from a TOML file, the environment and flags.

Precedence (lowest first): built-in defaults, ``/etc/zcompute/zcompute.toml`` (or the file named
by ``ZCOMPUTE_CONFIG``), ``ZCOMPUTE_*`` environment variables, then explicit overrides (CLI flags).
This module only reads and checks values; what they mean is decided elsewhere.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zcompute.errors import ConfigError

__all__ = ["VIRT_TYPES", "Config", "SerialTcp", "default_data_dir", "load_config"]

VIRT_TYPES = ("auto", "kvm", "qemu")
CONSOLE_FORMS = ("console", "serial")
DEFAULT_CONFIG_FILE = Path("/etc/zcompute/zcompute.toml")
# NUL cannot be in a path or URI, and no setting has a use for other control characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


_SERIAL_TCP_RULE = (
    "empty (off), or LISTEN-ADDRESS:FIRST-LAST, e.g. 127.0.0.1:10000-20000 "
    "(an IP address, [::1] for IPv6; ports 1-65535, FIRST <= LAST)"
)
_SERIAL_TCP_RE = re.compile(
    r"(?P<host>\[[^\]]*\]|[^:\[\]]+):(?P<first>[0-9]{1,5})-(?P<last>[0-9]{1,5})"
)


@dataclasses.dataclass(frozen=True)
class SerialTcp:
    """Where interactive consoles listen when they are TCP endpoints: an address, a port range."""

    host: str  # an IP address as libvirt takes it (IPv6 without brackets)
    first: int
    last: int

    @property
    def ports(self) -> range:
        return range(self.first, self.last + 1)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.first}-{self.last}"


def parse_serial_tcp(text: str) -> SerialTcp | None:
    """``serial_tcp``'s value: None when empty (off); a ConfigError naming the field if bad."""
    if not text:
        return None
    match = _SERIAL_TCP_RE.fullmatch(text)
    if match is None:
        raise ConfigError("serial_tcp", f"invalid value {text!r}", _SERIAL_TCP_RULE)
    host = match["host"].removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            "serial_tcp", f"{host!r} is not an IP address", _SERIAL_TCP_RULE
        ) from None
    if (address.version == 6) != match["host"].startswith("["):
        raise ConfigError("serial_tcp", f"invalid address in {text!r}", _SERIAL_TCP_RULE)
    first, last = int(match["first"]), int(match["last"])
    if not 1 <= first <= last <= 65535:
        raise ConfigError("serial_tcp", f"invalid port range in {text!r}", _SERIAL_TCP_RULE)
    return SerialTcp(str(address), first, last)


def default_data_dir() -> Path:
    """``/var/lib/zcompute`` for root, the XDG data directory otherwise."""
    if os.geteuid() == 0:
        return Path("/var/lib/zcompute")
    xdg = os.environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(xdg):  # the XDG spec: a relative value is invalid and ignored
        xdg = str(Path.home() / ".local" / "share")
    return Path(xdg) / "zcompute"


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of one zcompute host.

    ``virt_type`` is like Nova's ``[libvirt] virt_type``: ``kvm`` or ``qemu`` (TCG); ``auto``
    means zcompute probes whether a KVM guest really runs instead of trusting ``/dev/kvm``.
    ``machine_types`` is the per-arch mapping text, e.g. ``"x86_64=q35,s390x=s390-ccw-virtio"``;
    it is parsed and checked by the architecture layer. ``console_form`` picks the s390x SCLP
    console form: the blueprint's ``<console>`` targets or the newer ``<serial>`` + sclp-serial.
    ``serial_tcp`` (empty: off) makes every guest's interactive console a raw TCP endpoint,
    e.g. ``"127.0.0.1:10000-20000"``: the address it listens on and the ports guests get one
    each from (what Nova's serial proxy connects to); the log console is unchanged.
    ``file_backed_memory_mib`` (0: off), like Nova's ``[libvirt] file_backed_memory``: guests'
    memory is a shared file mapping in QEMU's ``memory_backing_dir`` (qemu.conf, by default
    ``/var/lib/libvirt/qemu/ram``), and this many MiB is the host's memory capacity for guests.
    ``cpu_baseline_model`` (empty: off, KVM guests get host-model) pins the CPU model of KVM
    guests for a fleet of mixed CPU generations, so that they can move to every host of it:
    ``"z14"`` (a model an architecture's profile knows) or ``"s390x=z14,x86_64=Haswell-noTSX"``;
    it is parsed and checked by the architecture layer. A guest gets it when it is defined
    (spawn, hard reboot); TCG guests keep their emulated model.
    """

    uri: str = "qemu:///system"
    virt_type: str = "auto"
    data_dir: Path = dataclasses.field(default_factory=default_data_dir)
    machine_types: str = ""
    console_form: str = "console"
    # Where file volumes may live (comma-separated absolute directories); see
    # zcompute.volumes.VolumePolicy for what is refused wherever they are.
    volume_dirs: str = "/srv,/var/lib/zcompute-volumes"
    # The guest architectures this host offers (comma-separated, e.g. "s390x"); empty: every
    # architecture it runs. An x86 host of a mixed cloud may offer only its own, leaving
    # emulated s390x guests to the hosts meant for them.
    guest_arches: str = ""
    serial_tcp: str = ""
    file_backed_memory_mib: int = 0
    cpu_baseline_model: str = ""

    def __post_init__(self) -> None:
        if self.virt_type not in VIRT_TYPES:
            raise ConfigError("virt_type", f"unknown value {self.virt_type!r}", VIRT_TYPES)
        if self.console_form not in CONSOLE_FORMS:
            raise ConfigError("console_form", f"unknown value {self.console_form!r}", CONSOLE_FORMS)
        if not self.uri:
            raise ConfigError("uri", "must not be empty")
        for name in ("uri", "machine_types", "volume_dirs", "guest_arches", "cpu_baseline_model"):
            if _CONTROL.search(getattr(self, name)):
                raise ConfigError(name, "control characters are not allowed", "printable text")
        _check_data_dir(str(self.data_dir))
        parse_serial_tcp(self.serial_tcp)
        _check_mib("file_backed_memory_mib", self.file_backed_memory_mib)

    @property
    def serial_tcp_endpoints(self) -> SerialTcp | None:
        """The parsed ``serial_tcp``: None when interactive consoles are ptys."""
        return parse_serial_tcp(self.serial_tcp)


def _check_data_dir(text: str) -> None:
    """An absolute path: a relative one would make the current directory the data directory."""
    rule = "an absolute path such as /var/lib/zcompute"
    if not os.path.isabs(text):
        raise ConfigError("data_dir", f"must be an absolute path, got {text!r}", rule)
    if _CONTROL.search(text):
        raise ConfigError("data_dir", f"control characters in {text!r}", rule)


MAX_MIB = 1 << 40  # a host's memory in MiB is far below an exbibyte
_MIB_RULE = f"a whole number of MiB from 0 (off) to {MAX_MIB}"


def _check_mib(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MIB:
        raise ConfigError(name, f"invalid value {value!r}", _MIB_RULE)


def _int_setting(origin: str, key: str, value: object) -> int:
    """An integer setting: an integer in a TOML file, decimal digits in the environment."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ConfigError(f"{origin}: {key}", f"invalid value {value!r}", _MIB_RULE)


_FIELDS = {f.name for f in dataclasses.fields(Config)}
_INT_FIELDS = {f.name for f in dataclasses.fields(Config) if f.type == "int"}


def _coerce(values: Mapping[str, Any], origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in _FIELDS:
            shown = key if key.isprintable() else repr(key)  # a key from a file: any text
            raise ConfigError(f"{origin}: {shown}", "unknown setting", sorted(_FIELDS))
        if key in _INT_FIELDS:
            out[key] = _int_setting(origin, key, value)
            continue
        if not isinstance(value, str | Path):
            raise ConfigError(f"{origin}: {key}", f"expected a string, got {value!r}")
        if key == "data_dir":
            _check_data_dir(str(value))  # before Path() turns "" into "."
            value = Path(value)
        out[key] = value
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    """The settings in the TOML file ``path``; any problem is one ConfigError naming the file."""
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as err:
        raise ConfigError(str(path), f"cannot read configuration: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        bad = f"byte 0x{err.object[err.start]:02x} at offset {err.start}"
        raise ConfigError(str(path), f"cannot read configuration: not UTF-8 ({bad})") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), f"cannot read configuration: {err}") from err


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective :class:`Config` from file, environment and overrides."""
    env = os.environ if environ is None else environ
    path = config_file or Path(env.get("ZCOMPUTE_CONFIG", str(DEFAULT_CONFIG_FILE)))
    merged: dict[str, Any] = {}
    if path.is_file():
        merged.update(_coerce(_read_toml(path), str(path)))
    from_env = {
        name: env[f"ZCOMPUTE_{name.upper()}"]
        for name in _FIELDS
        if f"ZCOMPUTE_{name.upper()}" in env
    }
    merged.update(_coerce(from_env, "environment"))
    merged.update(_coerce({k: v for k, v in (overrides or {}).items() if v is not None}, "option"))
    return Config(**merged)
