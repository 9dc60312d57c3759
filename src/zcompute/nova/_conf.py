"""zcompute's options in ``nova.conf``, and the zcompute configuration they make.

Nova's own options keep their meaning where zcompute has the same setting (``[libvirt]
connection_uri``, ``virt_type`` and ``hw_machine_type``; ``[serial_console] enabled``,
``port_range`` and ``proxyclient_address`` make zcompute's ``serial_tcp``, as Nova's libvirt
driver makes its guests' TCP consoles from them; ``[libvirt] file_backed_memory`` makes
``file_backed_memory_mib``; ``[libvirt] cpu_mode = custom`` with ``cpu_models`` makes
``cpu_baseline_model``, the model a mixed fleet's guests can move between its hosts with);
what only zcompute has lives in the ``[zcompute]`` group. Each Nova compute service gets its own
data directory, so two services on one machine (a test harness, or two cells) never share
records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oslo_config import cfg

from zcompute.config import Config, load_config
from zcompute.errors import ConfigError

__all__ = [
    "CONF",
    "cpu_baseline_model",
    "data_dir_for",
    "file_backed_memory",
    "serial_tcp",
    "zcompute_config",
]

CONF: Any = cfg.CONF

_OPTS = [
    cfg.StrOpt(
        "data_dir",
        default="/var/lib/zcompute",
        help="zcompute's data directory: records, images fetched from Glance, guests' files. "
        "The compute service's host name is appended (one directory per service).",
    ),
    cfg.StrOpt(
        "config_file",
        help="A zcompute.toml with further zcompute settings (default: zcompute's own, "
        "/etc/zcompute/zcompute.toml); the options of this group and [libvirt] win.",
    ),
    cfg.ListOpt(
        "guest_arches",
        default=[],
        help="The guest architectures this compute node offers (e.g. s390x); empty: every "
        "architecture it runs, emulated ones included. Reported as COMPUTE_ARCH_* traits.",
    ),
    cfg.StrOpt(
        "migration_inbound_uri",
        help="The libvirt URI other compute hosts reach this host's libvirtd with when a guest "
        "migrates here (default: [libvirt] connection_uri unless it is local, else "
        "qemu+tcp://<my_ip>/system).",
    ),
    cfg.StrOpt(
        "console_form",
        choices=("console", "serial"),
        help="The SCLP console form on s390x (see zcompute's docs/s390x.md).",
    ),
]
CONF.register_opts(_OPTS, group="zcompute")


def data_dir_for(host: str) -> Path:
    """The data directory of the compute service on ``host``."""
    return Path(CONF.zcompute.data_dir) / f"nova-{host}"


def _virt_type() -> str:
    kind = str(CONF.libvirt.virt_type)
    return kind if kind in ("kvm", "qemu") else "auto"  # lxc, parallels: not zcompute's


def serial_tcp() -> str:
    """``serial_tcp`` from ``[serial_console]``: ``""`` (off) unless it is enabled.

    The consoles listen on ``proxyclient_address`` (what Nova's serial proxy connects to), on a
    port of ``port_range`` (``10000:20000`` becomes ``10000-20000``).
    """
    group = CONF.serial_console
    if not group.enabled:
        return ""
    address = str(group.proxyclient_address)
    host = f"[{address}]" if ":" in address else address
    first, _, last = str(group.port_range).partition(":")
    return f"{host}:{first}-{last}"


def file_backed_memory() -> int:
    """``[libvirt] file_backed_memory`` (MiB; 0: off), with the settings Nova requires of it.

    The capacity is reported as the host's memory and guests' memory is never overcommitted
    or reserved against: like Nova's libvirt driver, the service refuses to start unless
    ``ram_allocation_ratio`` is 1.0 and ``reserved_host_memory_mb`` is 0.
    """
    mib = int(CONF.libvirt.file_backed_memory or 0)
    if not mib:
        return 0
    if CONF.ram_allocation_ratio != 1.0:
        raise ConfigError(
            "[DEFAULT] ram_allocation_ratio",
            f"{CONF.ram_allocation_ratio} with [libvirt] file_backed_memory",
            "1.0",
        )
    if CONF.reserved_host_memory_mb:
        raise ConfigError(
            "[DEFAULT] reserved_host_memory_mb",
            f"{CONF.reserved_host_memory_mb} with [libvirt] file_backed_memory",
            "0",
        )
    return mib


_CPU_MODES = ("host-model", "custom", "none")


def cpu_baseline_model() -> str:
    """``cpu_baseline_model`` from ``[libvirt] cpu_mode`` and ``cpu_models``: the first model
    for ``custom`` (Nova's libvirt driver takes the first one that has the CPU traits a flavor
    asks for; zcompute pins one model, checked by the architecture's profile), else none: KVM
    guests get host-model. ``host-passthrough`` would tie a guest to its host's exact CPU,
    which a fleet's migration must not: refused."""
    mode = CONF.libvirt.cpu_mode
    if mode is None or mode in ("host-model", "none"):
        return ""
    if mode != "custom":
        raise ConfigError("[libvirt] cpu_mode", f"{mode!r} is not one zcompute runs", _CPU_MODES)
    models = list(CONF.libvirt.cpu_models or [])
    if not models:
        raise ConfigError("[libvirt] cpu_models", "empty with cpu_mode = custom", "e.g. z15")
    return str(models[0])


def zcompute_config(host: str) -> Config:
    """zcompute's configuration for the compute service on ``host``."""
    overrides: dict[str, Any] = {
        "data_dir": str(data_dir_for(host)),
        "virt_type": _virt_type(),
        "machine_types": ",".join(CONF.libvirt.hw_machine_type or []),
        "serial_tcp": serial_tcp(),
    }
    if CONF.libvirt.connection_uri:
        overrides["uri"] = CONF.libvirt.connection_uri
    if CONF.zcompute.guest_arches:
        overrides["guest_arches"] = ",".join(CONF.zcompute.guest_arches)
    if CONF.zcompute.console_form:
        overrides["console_form"] = CONF.zcompute.console_form
    baseline = cpu_baseline_model()
    if baseline:
        overrides["cpu_baseline_model"] = baseline
    file_backed = file_backed_memory()
    if file_backed:
        overrides["file_backed_memory_mib"] = file_backed
    config_file = CONF.zcompute.config_file
    return load_config(overrides, config_file=Path(config_file) if config_file else None)
