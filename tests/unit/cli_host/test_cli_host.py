"""The host, support-matrix and xml lint commands, through zcompute's real ``main``.

``main`` maps zcompute's errors to exit codes; the harness runs it under click's CliRunner
(so output is captured) and loads only this command family, so a sibling module that is
still being written cannot break these tests.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from lxml import etree
from tests.unit.arch.domain_support import build_domain

import zcompute.cli._app as app
import zcompute.cli._host as host_cli
from zcompute.arch import (
    NOVA_ROWS,
    PROFILES,
    nova_matrix,
    render_markdown,
    render_nova_markdown,
    support_matrix,
)

NOVA_S390X = (
    "<domain type='kvm'><name>n</name><memory>1</memory>"
    "<os><type arch='s390x' machine='s390-ccw-virtio'>hvm</type></os>"
    "<features><acpi/></features><devices><watchdog model='i6300esb' action='reset'/>"
    "</devices></domain>"
)


@click.command(context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def _main(argv: tuple[str, ...]) -> None:
    raise SystemExit(app.main(list(argv)))


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(app, "_COMMAND_MODULES", ("_host",))
    for name in list(os.environ):
        if name.startswith("ZCOMPUTE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ZCOMPUTE_CONFIG", str(tmp_path / "absent.toml"))

    def invoke(*argv: str) -> Result:
        return CliRunner().invoke(_main, list(argv), catch_exceptions=False)

    return invoke


def test_acceptance_z15_from_cpuinfo(run, shared_testdata: Path) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "host", "show",
        "--capabilities", str(shared_testdata / "hostcaps" / "vdsm-caps_libvirt_s390x.xml"),
        "--cpuinfo", str(shared_testdata / "cpuinfo" / "cpuinfo-insights-core-z15-8561.txt"),
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["arch"] == "s390x"
    assert data["cpu"]["model"] == "gen15a"
    assert data["cpu"]["source"] == "cpuinfo"
    assert data["cpu"]["generation"] == "z15"
    assert data["cpu"]["vendor"] == "IBM"
    (s390x,) = data["conclusions"]
    assert s390x["machine"] == "s390-ccw-virtio-2.11"
    assert data["warnings"] == []


def test_host_show_text_with_domcaps_and_bad_cpuinfo(run, shared_testdata: Path) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "host", "show",
        "--capabilities", str(shared_testdata / "hostcaps" / "virt-manager-kvm-s390x-KVMIBM.xml"),
        "--domcapabilities", str(shared_testdata / "domaincaps" / "qemu_9.1.0.s390x.xml"),
        "--cpuinfo", str(shared_testdata / "cpuinfo" / "lscpu-py-cpuinfo-zEC12-2827.txt"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "s390-ccw-kvmibm-1.1.1" in result.output
    assert "host-model" in result.output
    assert "warning:" in result.output
    assert "no IBM Z machine type line" in result.output


def test_host_show_without_cpuinfo_for_a_file(run, shared_testdata: Path) -> None:  # type: ignore[no-untyped-def]
    caps = shared_testdata / "hostcaps" / "vdsm-caps_libvirt_s390x.xml"
    data = json.loads(run("host", "show", "--capabilities", str(caps), "--json").output)
    assert data["cpu"]["model"] is None
    assert "no cpuinfo was given" in data["warnings"][0]


def test_host_show_bad_files(run, shared_testdata: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frag = shared_testdata / "hostcaps" / "nova-CAPABILITIES_HOST_S390X_TEMPLATE.xmlfrag"
    result = run("host", "show", "--capabilities", str(frag))
    assert result.exit_code == 1
    assert "zcompute: error:" in result.output
    assert str(frag) in result.output
    assert "Traceback" not in result.output
    missing = run("host", "show", "--capabilities", str(tmp_path / "nope.xml"))
    assert missing.exit_code == 1
    assert "cannot read capabilities" in missing.output
    bad_dc = tmp_path / "dc.xml"
    bad_dc.write_text("<domainCapabilities><arch>s390x</arch>")
    result = run("host", "show", "--capabilities", str(frag), "--domcapabilities", str(bad_dc))
    assert result.exit_code == 1
    assert str(bad_dc) in result.output


def test_host_show_bad_machine_types_setting(run, shared_testdata: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZCOMPUTE_MACHINE_TYPES", "s390x")
    caps = shared_testdata / "hostcaps" / "vdsm-caps_libvirt_s390x.xml"
    result = run("host", "show", "--capabilities", str(caps))
    assert result.exit_code == 1
    assert "machine_types" in result.output


def test_host_show_live_on_the_test_driver(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--connect", "test:///default", "host", "show", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["arch"] == "i686"
    assert data["input"]["capabilities"] == "test:///default"
    assert any("i686" in w for w in data["warnings"])


def test_host_show_unreachable_libvirt_exits_4(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--connect", "qemu+unix:///system?socket=/nonexistent/sock", "host", "show")
    assert result.exit_code == 4, result.output


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_support_matrix_formats(run, fmt: str) -> None:  # type: ignore[no-untyped-def]
    result = run("support-matrix", "--format", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "markdown":
        assert result.output == render_markdown(support_matrix())
    elif fmt == "json":
        assert json.loads(result.output)["arches"][0] == "s390x"
    else:
        assert "Secure Execution (IBM Z)" in result.output
        assert "[1]" in result.output


def test_support_matrix_nova_without_the_adapter(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(host_cli, "NOVA_ADAPTER", "zcompute_absent_nova_adapter")
    result = run("support-matrix", "--nova", "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert "The Nova adapter (zcompute_absent_nova_adapter) is not installed" in result.output
    assert "zcompute complete on s390x: 0 of 59 rows; Nova's own libvirt-kvm-s390x: " in (
        result.output
    )
    assert "| zcompute s390x |" in result.output


def test_support_matrix_nova_with_the_adapters_methods(
    run, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    methods = frozenset({"spawn", "destroy", "get_info"})
    adapter = types.ModuleType("zcompute_fake_nova_adapter")
    adapter.IMPLEMENTED_NOVA_METHODS = methods  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, adapter.__name__, adapter)
    monkeypatch.setattr(host_cli, "NOVA_ADAPTER", adapter.__name__)
    result = run("support-matrix", "--nova", "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert result.output == render_nova_markdown(nova_matrix(methods))
    assert "not installed" not in result.output
    for fmt in ("text", "json"):
        shown = run("support-matrix", "--nova", "--format", fmt)
        assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert len(data["rows"]) == len(NOVA_ROWS)
    complete = {
        row["key"] for row in data["rows"] if row["columns"]["s390x"]["zcompute"] == "complete"
    }
    mandatory = {"operation.get-guest-info", "operation.launch", "operation.terminate"}
    assert mandatory | {"storage.image", "operation.rebuild"} <= complete
    assert "operation.pause" not in complete  # the adapter lacks pause
    assert data["summary"]["s390x"]["zcompute_complete"] == len(complete)


def test_support_matrix_unknown_format_is_a_usage_error(run) -> None:  # type: ignore[no-untyped-def]
    assert run("support-matrix", "--format", "yaml").exit_code == 2


def test_xml_lint_flags_nova_style_s390x(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "nova.xml"
    path.write_text(NOVA_S390X)
    result = run("xml", "lint", str(path))
    assert result.exit_code == 1
    assert "[feature] <acpi/>" in result.output
    assert "[watchdog]" in result.output
    assert "2 findings" in result.output


def test_xml_lint_passes_zcomputes_own_s390x(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "own.xml"
    path.write_bytes(etree.tostring(build_domain(PROFILES["s390x"], form="serial")))
    result = run("xml", "lint", str(path), "--arch", "s390x")
    assert result.exit_code == 0, result.output
    assert "no findings" in result.output


def test_xml_lint_arch_option_and_errors(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "own.xml"
    path.write_bytes(etree.tostring(build_domain(PROFILES["s390x"])))
    mismatch = run("xml", "lint", str(path), "--arch", "amd64")
    assert mismatch.exit_code == 1
    assert "checked as x86_64" in mismatch.output
    unknown = run("xml", "lint", str(path), "--arch", "sparc")
    assert unknown.exit_code == 1
    assert "s390x, x86_64, aarch64, ppc64le" in unknown.output
    broken = tmp_path / "broken.xml"
    broken.write_text("<domain><os>")
    result = run("xml", "lint", str(broken))
    assert result.exit_code == 1
    assert "not well-formed" in result.output
    gone = run("xml", "lint", str(tmp_path / "gone.xml"))
    assert gone.exit_code == 1
    assert "cannot read domain XML" in gone.output


def test_host_show_with_a_cpu_baseline(
    run, shared_testdata: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A z15 of a fleet whose baseline is z14: its KVM guests get the z14 model."""
    argv = (
        "host", "show",
        "--capabilities", str(shared_testdata / "hostcaps" / "vdsm-caps_libvirt_s390x.xml"),
        "--cpuinfo", str(shared_testdata / "cpuinfo" / "cpuinfo-insights-core-z15-8561.txt"),
        "--json",
    )  # fmt: skip
    monkeypatch.setenv("ZCOMPUTE_CPU_BASELINE_MODEL", "z14")
    result = run(*argv)
    assert result.exit_code == 0, result.output
    (s390x,) = json.loads(result.output)["conclusions"]
    assert (s390x["domain_type"], s390x["cpu_mode"], s390x["cpu_model"]) == ("kvm", "custom", "z14")
    assert "cpu_baseline_model" in s390x["cpu_reason"]
    monkeypatch.setenv("ZCOMPUTE_CPU_BASELINE_MODEL", "z16")  # newer than this z15
    refused = run(*argv)
    assert refused.exit_code != 0
    assert "cpu_baseline_model: gen16a (z16) is newer than this host's CPU gen15a" in refused.output
