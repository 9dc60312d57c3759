"""``zcompute host show``, ``zcompute support-matrix`` and ``zcompute xml lint``.

These commands only read: a host's capabilities (live, read-only libvirt calls, or files an
operator collected), the profiles' support matrix, and a domain XML file.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from zcompute.arch import (
    ARCHES,
    MATRIX_FORMATS,
    lint,
    nova_matrix,
    parse_domain_xml,
    render_matrix,
    render_nova,
    rich_table,
)
from zcompute.arch import support_matrix as build_support_matrix
from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._render import stdout_console
from zcompute.cli._types import RegularFile
from zcompute.errors import HostDataError, ImageError, XMLError
from zcompute.host import DomainCapabilities, HostCapabilities
from zcompute.hostreport import GuestConclusion, HostModel, conclude, read_host
from zcompute.volumes import SYSTEM_DIRS, VolumePolicy, parse_volume_dirs

__all__ = ["host_group", "host_show", "support_matrix", "xml_group", "xml_lint"]

_MACHINES_SHOWN = 6


class LintFailed(click.ClickException):
    """Findings were reported: exit non-zero with a one-line summary on stderr."""

    exit_code = 1

    def __init__(self, count: int, source: str) -> None:
        super().__init__(f"{source}: {count} finding{'s' if count != 1 else ''}")

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), err=True)


def _read(path: Path, what: str, error: type[HostDataError] | type[XMLError]) -> bytes:
    """The whole file; a FIFO, device or directory is refused at once instead of read."""
    from zcompute.images import open_regular

    try:
        with open(open_regular(path), "rb") as handle:
            return handle.read()
    except ImageError as err:
        raise error(str(path), f"cannot read {what}: {err}") from err
    except OSError as err:
        raise error(str(path), f"cannot read {what}: {err.strerror or err}") from err


# -- host show -------------------------------------------------------------------------------


@cli.group("host")
def host_group() -> None:
    """Inspect a host before zcompute runs guests on it."""


@host_group.command("show")
@click.option(
    "--capabilities",
    "caps_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read host capabilities XML from FILE instead of libvirt.",
)
@click.option(
    "--domcapabilities",
    "domcaps_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Domain capabilities XML file (repeatable, one per arch/domain type).",
)
@click.option(
    "--cpuinfo",
    "cpuinfo_file",
    type=RegularFile(),
    help="cpuinfo file for the CPU model fallback (default /proc/cpuinfo for a live host).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@pass_app
def host_show(
    app: AppContext,
    caps_file: Path | None,
    domcaps_files: tuple[Path, ...],
    cpuinfo_file: Path | None,
    as_json: bool,
) -> None:
    """What zcompute concludes about a host: arch, CPU model and its source, KVM or
    emulation, machine types per arch, resources. Live by default, or from files.
    """
    extra = [
        DomainCapabilities.from_xml(_read(p, "domain capabilities", HostDataError), str(p))
        for p in domcaps_files
    ]
    if caps_file is not None:
        caps = HostCapabilities.from_xml(
            _read(caps_file, "capabilities", HostDataError), str(caps_file)
        )
        # Offline: the cpuinfo must come from the same host as the file, so never ours.
        model = HostModel.build(caps, cpuinfo_path=cpuinfo_file, domain_capabilities=extra)
    else:
        from zcompute.driver import recorded_kvm_probe
        from zcompute.virt import Hypervisor  # only a live inspection needs libvirt

        hypervisor = Hypervisor(app.config.uri)
        model = read_host(hypervisor, cpuinfo_file or Path("/proc/cpuinfo"))
        probe = recorded_kvm_probe(app.config.data_dir, hypervisor.versions())
        if probe is not None:
            model = dataclasses.replace(model, kvm_probed=probe.usable)
        if extra:
            model = dataclasses.replace(
                model, domain_capabilities=model.domain_capabilities + tuple(extra)
            )
    conclusions = conclude(
        model, app.config.virt_type, app.config.machine_types, app.config.cpu_baseline_model
    )
    policy = VolumePolicy(parse_volume_dirs(app.config.volume_dirs), app.config.data_dir)
    if as_json:
        report = model.to_dict()
        report["conclusions"] = [c.to_dict() for c in conclusions]
        report["volume_policy"] = {
            "volume_dirs": [str(d) for d in policy.volume_dirs],
            "refused": [str(app.config.data_dir), *SYSTEM_DIRS],
            "summary": policy.describe(),
        }
        report["input"] = {
            "capabilities": str(caps_file) if caps_file else app.config.uri,
            "cpuinfo": str(cpuinfo_file) if cpuinfo_file else None,
            "virt_type": app.config.virt_type,
        }
        click.echo(json.dumps(report, indent=2))
        return
    _print_host(stdout_console(), model, conclusions)
    stdout_console().print(f"Local volumes (volume_dirs): {policy.describe()}")


def _cpu_line(model: HostModel) -> str:
    if model.cpu_model is None:
        return "unknown"
    line = f"{model.cpu_model} (from {model.cpu_model_source})"
    guess = model.cpuinfo_guess
    if guess is not None and model.cpu_model_source == "cpuinfo":
        line += f", machine type {guess.machine_type} = {guess.generation}"
    return line


def _summary_table(model: HostModel) -> Table:
    caps = model.capabilities
    table = Table(title=f"Host ({caps.source})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    topo = caps.cpu.topology
    kvm = "offered by libvirt" if model.kvm_offered else "not offered (emulation only)"
    if model.kvm_device is not None:
        kvm += f"; /dev/kvm {'present' if model.kvm_device else 'missing'}"
    if model.kvm_probed is None:
        kvm += " (not probed yet: zcompute boots a test guest with KVM on first use)"
    else:
        kvm += "; probed: " + ("KVM guests run" if model.kvm_probed else "KVM guests do NOT run")
    rows = [
        ("arch", model.arch),
        ("CPU model", _cpu_line(model)),
        ("CPU vendor", model.cpu_vendor or "unknown"),
        (
            "topology",
            ""
            if topo is None
            else f"{topo.sockets} sockets x {topo.cores} cores x {topo.threads} threads",
        ),
        ("CPUs", str(caps.cpu_count or "unknown")),
        ("memory", "unknown" if caps.memory_kib is None else f"{caps.memory_kib // 1024} MiB"),
        ("NUMA cells", str(len(caps.cells))),
        ("KVM", kvm),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def _machines_text(machines: list[tuple[str, str | None]]) -> str:
    aliases = [f"{name} -> {canonical}" for name, canonical in machines if canonical]
    plain = [name for name, canonical in machines if not canonical]
    shown = (aliases + plain)[:_MACHINES_SHOWN]
    more = len(machines) - len(shown)
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def _guests_table(model: HostModel) -> Table:
    table = Table(title="Guest architectures offered by libvirt")
    for column in ("arch", "domain types", "emulator", "machine types"):
        table.add_column(column, overflow="fold")
    for guest in model.capabilities.guests:
        if guest.name not in ARCHES:
            continue
        machines = [(m.name, m.canonical) for m in guest.machines]
        for dom in guest.domains:
            machines += [
                (m.name, m.canonical) for m in dom.machines if (m.name, m.canonical) not in machines
            ]
        table.add_row(
            guest.name,
            ", ".join(guest.domain_types),
            guest.emulator or "",
            _machines_text(machines) or "none listed",
        )
    return table


def _conclusions_table(conclusions: list[GuestConclusion]) -> Table:
    table = Table(title="zcompute would run")
    for column in ("arch", "domain type", "machine type", "CPU"):
        table.add_column(column, overflow="fold")
    for c in conclusions:
        if c.domain_type is None or c.machine is None:
            table.add_row(c.arch, c.domain_type or "-", f"[red]{c.problem}[/red]", "-")
            continue
        cpu = "QEMU default" if c.cpu_mode is None else f"{c.cpu_mode} {c.cpu_model or ''}".strip()
        table.add_row(
            c.arch,
            f"{c.domain_type} ({c.reason})",
            f"{c.machine} ({c.machine_source})",
            f"{cpu} ({c.cpu_reason})",
        )
    return table


def _print_host(console: Console, model: HostModel, conclusions: list[GuestConclusion]) -> None:
    console.print(_summary_table(model))
    console.print(_guests_table(model))
    console.print(_conclusions_table(conclusions))
    others = [a for a in model.capabilities.guest_arches if a not in ARCHES]
    if others:
        console.print(
            f"Other emulated arches (no zcompute profile): {', '.join(others)}", markup=False
        )
    for warning in model.warnings:  # unwrapped, so each warning stays one greppable line
        click.secho(f"warning: {warning}", fg="yellow")


# -- support-matrix ----------------------------------------------------------------------------


@cli.command("support-matrix")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(MATRIX_FORMATS),
    default="text",
    show_default=True,
    help="text table, Markdown (docs/support-matrix.md) or JSON.",
)
@click.option(
    "--nova",
    is_flag=True,
    help="Nova's support-matrix rows instead: Nova's libvirt columns next to zcompute's, "
    "computed from the profiles, the driver and the Nova adapter's methods.",
)
def support_matrix(fmt: str, nova: bool) -> None:
    """Print what each architecture supports and how far zcompute's driver is."""
    if nova:
        implemented, notice = _nova_adapter_methods()
        click.echo(render_nova(nova_matrix(implemented), fmt, notice), nl=False)
        return
    matrix = build_support_matrix()
    if fmt == "text":
        table, notes = rich_table(matrix)
        stdout_console().print(Group(table, *(Text(line) for line in notes)))
        return
    click.echo(render_matrix(matrix, fmt), nl=False)


NOVA_ADAPTER = "zcompute.nova"
_NO_ADAPTER = (
    "The Nova adapter ({module}) is not installed ({error}): no ComputeDriver method counts as "
    "implemented, so no row is complete."
)


def _nova_adapter_methods() -> tuple[Collection[str], str]:
    """The ComputeDriver methods the Nova adapter implements, and a notice when it is absent."""
    # Only a constant is read: keep Nova from monkey-patching this process with eventlet.
    os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")
    try:
        module = importlib.import_module(NOVA_ADAPTER)
    except ImportError as err:
        return frozenset(), _NO_ADAPTER.format(module=NOVA_ADAPTER, error=err)
    return frozenset(getattr(module, "IMPLEMENTED_NOVA_METHODS", frozenset())), ""


# -- xml lint ------------------------------------------------------------------------------------


def _xml_group() -> click.Group:
    existing = cli.commands.get("xml")
    if isinstance(existing, click.Group):
        return existing

    @cli.group("xml")
    def xml_group() -> None:
        """Work with libvirt domain XML."""

    return xml_group


xml_group = _xml_group()


@xml_group.command("lint")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--arch",
    metavar="ARCH",
    help=f"Check with this architecture's rules ({', '.join(ARCHES)}); "
    "default: the domain's os/type/@arch.",
)
def xml_lint(file: Path, arch: str | None) -> None:
    """Report what is wrong in a domain XML for its architecture; non-zero exit on findings."""
    root = parse_domain_xml(_read(file, "domain XML", XMLError), str(file))
    findings = lint(root, arch)
    for finding in findings:
        click.echo(str(finding))
    if findings:
        raise LintFailed(len(findings), str(file))
    click.echo(f"{file}: no findings")
