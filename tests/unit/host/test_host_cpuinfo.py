"""The IBM Z /proc/cpuinfo reader: every real dump, bad input, and generated documents."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zcompute.host import (
    IBM_Z_MACHINES,
    cpu_model_from_cpuinfo,
    guess_from_cpuinfo_text,
    inspect_cpuinfo,
    machine_types_in_cpuinfo,
)

REAL_DUMPS = {
    "cpuinfo-ghw-comment-z17-9175-EXCERPT.txt": ("9175", "z17", "gen17a"),
    "cpuinfo-ghw-snapshot-z16-3931.txt": ("3931", "z16", "gen16a"),
    "cpuinfo-insights-core-z14-3906.txt": ("3906", "z14", "z14"),
    "cpuinfo-insights-core-z15-8561.txt": ("8561", "z15", "gen15a"),
    "cpuinfo-prometheus-procfs-z13-2964.txt": ("2964", "z13", "z13"),
    "cpuinfo-py-cpuinfo-zEC12-2827.txt": ("2827", "zEC12", "zEC12"),
    "cpuinfo-vdsm-z14-3906.txt": ("3906", "z14", "z14"),
    "cpuinfo-vdsm-z196-2817.txt": ("2817", "z196", "z196"),
}


def test_every_cpuinfo_dump_is_covered(shared_testdata: Path) -> None:
    dumps = {p.name for p in (shared_testdata / "cpuinfo").glob("cpuinfo-*")}
    assert dumps == set(REAL_DUMPS)


@pytest.mark.parametrize(("name", "expected"), sorted(REAL_DUMPS.items()))
def test_real_dump_resolves_to_its_model(
    shared_testdata: Path, name: str, expected: tuple[str, str, str]
) -> None:
    path = shared_testdata / "cpuinfo" / name
    guess = cpu_model_from_cpuinfo(path)
    assert guess is not None
    assert (guess.machine_type, guess.generation, guess.model) == expected
    assert guess.vendor == "IBM"
    assert guess.source == str(path)


def test_lscpu_output_is_not_a_cpuinfo(
    shared_testdata: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = shared_testdata / "cpuinfo" / "lscpu-py-cpuinfo-zEC12-2827.txt"
    with caplog.at_level(logging.WARNING, "zcompute.host"):
        assert cpu_model_from_cpuinfo(path) is None
    assert "no IBM Z machine type line" in caplog.text
    assert str(path) in caplog.text


def test_unreadable_file_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "nope"
    with caplog.at_level(logging.WARNING, "zcompute.host"):
        assert cpu_model_from_cpuinfo(missing) is None
    assert "cannot read cpuinfo" in caplog.text
    assert inspect_cpuinfo(tmp_path).problem  # a directory is unreadable as a file too


def test_x86_cpuinfo_has_no_machine_type(tmp_path: Path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\n\n")
    reading = inspect_cpuinfo(path)
    assert reading.guess is None
    assert "no IBM Z machine type" in (reading.problem or "")


def test_unknown_machine_type_warns_listing_known() -> None:
    reading = guess_from_cpuinfo_text("machine         : 1234\n", "x")
    assert reading.guess is None
    assert "unknown IBM Z machine type 1234" in (reading.problem or "")
    assert "8561" in (reading.problem or "")


def test_conflicting_machine_types_give_no_model() -> None:
    text = "processor 0: version = FF,  identification = 01,  machine = 8561\nmachine : 3931\n"
    reading = guess_from_cpuinfo_text(text)
    assert reading.guess is None
    assert "conflicting" in (reading.problem or "")


def test_binary_garbage_never_crashes(tmp_path: Path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_bytes(bytes(range(256)) * 4)
    assert cpu_model_from_cpuinfo(path) is None


def test_lookalike_lines_are_not_machine_types() -> None:
    text = (
        "Machine type:          2827\n"  # lscpu style
        "machine = 8561\n"  # not on a processor line
        "processor 0: version = FF, machine = 85612\n"  # five digits
        "machines        : 8561\n"
    )
    assert machine_types_in_cpuinfo(text) == ()


# -- generated documents -------------------------------------------------------------------------

_KNOWN = sorted(IBM_Z_MACHINES)
_spaces = st.text(alphabet=" \t", min_size=0, max_size=4)
_filler_line = st.from_regex(
    r"[a-z#][a-z0-9 _#]{0,20}[ \t]*:[ \t]*[A-Za-z0-9 =.,]{0,30}", fullmatch=True
)


@st.composite
def _cpuinfo(draw: st.DrawFn) -> tuple[str, str]:
    """A cpuinfo in either layout (or both), with filler lines, for a known machine type."""
    machine = draw(st.sampled_from(_KNOWN))
    cpus = draw(st.integers(min_value=1, max_value=6))
    legacy = draw(st.booleans())
    per_cpu = draw(st.booleans()) or not legacy
    lines = ["vendor_id       : IBM/S390", f"# processors    : {cpus}"]
    lines += [line for line in draw(st.lists(_filler_line, max_size=5)) if "machine" not in line]
    if legacy:
        for n in range(cpus):
            ident = draw(st.from_regex(r"[0-9A-F]{6}", fullmatch=True))
            sep = draw(_spaces)
            lines.append(
                f"processor {n}:{sep}version = FF,  identification = {ident},  machine = {machine}"
            )
    if per_cpu:
        for n in range(cpus):
            case = draw(st.sampled_from([machine, machine.lower()]))
            lines += [
                "",
                f"cpu number      : {n}",
                f"machine{draw(_spaces)}:{draw(_spaces)}{case}{draw(_spaces)}",
            ]
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"])), machine


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(_cpuinfo())
def test_generated_cpuinfo_resolves(doc: tuple[str, str]) -> None:
    text, machine = doc
    reading = guess_from_cpuinfo_text(text)
    assert reading.problem is None
    assert reading.guess is not None
    assert reading.guess.machine_type == machine
    assert reading.guess.model == IBM_Z_MACHINES[machine].qemu_model


@settings(max_examples=200)
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(text: str) -> None:
    reading = guess_from_cpuinfo_text(text)
    assert (reading.guess is None) != (reading.problem is None)


@settings(max_examples=100)
@given(st.lists(_filler_line, max_size=10))
def test_no_machine_line_means_no_model(lines: list[str]) -> None:
    text = "\n".join(line for line in lines if "machine" not in line)
    reading = guess_from_cpuinfo_text(text)
    assert reading.guess is None
    assert "no IBM Z machine type line" in (reading.problem or "")


@settings(max_examples=100)
@given(st.from_regex(r"[0-9A-F]{4}", fullmatch=True).filter(lambda m: m not in IBM_Z_MACHINES))
def test_unknown_types_are_warnings(machine: str) -> None:
    reading = guess_from_cpuinfo_text(f"machine : {machine}\n")
    assert reading.guess is None
    assert machine in (reading.problem or "")
