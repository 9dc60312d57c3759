""" "Tested on" comes from the end-to-end tests' ``feature`` markers, never from a hand-typed list.

The markers are read from the e2e test files' syntax (``tests/e2e/feature_markers.py``); the
committed table ``src/zcompute/arch/_tested.py`` must be what they say, and the matrix says
"tested" exactly there. An architecture whose guests no test boots is marked untested.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests.e2e.feature_markers import (
    GENERATED,
    MarkerError,
    arches_by_feature,
    item_claims,
    render_module,
    scan,
    verify_exercised,
)

from zcompute.arch import (
    ARCHES,
    FEATURES,
    IMPLEMENTATION,
    ArchProfile,
    ImplState,
    Status,
    get_profile,
    render_json,
    render_markdown,
    support_matrix,
)
from zcompute.arch._support import DECLARED
from zcompute.arch._tested import TESTED_ON

REGENERATE = "regenerate it: .venv/bin/python -m tests.e2e.feature_markers"


def test_the_arches_by_feature_is_what_the_e2e_markers_claim() -> None:
    claims = scan()
    assert dict(TESTED_ON) == arches_by_feature(claims), (
        f"src/zcompute/arch/_tested.py is stale; {REGENERATE}"
    )
    assert GENERATED.read_text() == render_module(claims), f"_tested.py was edited; {REGENERATE}"


def test_every_tested_claim_of_the_matrix_has_a_test_that_boots_that_arch() -> None:
    claims = scan()
    for row in support_matrix().rows:
        for arch in row.implementation.tested_on:
            tests = claims.get((row.feature.key, arch))
            assert tests, f"the matrix says {row.feature.key} is tested on {arch}: no test does"
        assert (row.implementation.state is ImplState.TESTED) == bool(row.implementation.tested_on)


def test_tested_features_are_implemented_and_not_missing_on_that_arch() -> None:
    matrix = support_matrix()
    for row in matrix.rows:
        for arch in row.implementation.tested_on:
            assert row.claims[arch].status is not Status.MISSING, (row.feature.key, arch)
            assert DECLARED[row.feature.key].state is ImplState.IMPLEMENTED, row.feature.key


def test_nobody_declares_tested() -> None:
    assert {d.state for d in DECLARED.values()} <= {
        ImplState.IMPLEMENTED,
        ImplState.NOT_IMPLEMENTED,
    }
    assert all(not d.tested_on for d in DECLARED.values())
    assert set(DECLARED) == set(IMPLEMENTATION) == {f.key for f in FEATURES}


def test_an_arch_whose_guests_are_never_booted_is_untested_in_every_claimed_cell() -> None:
    matrix = support_matrix()
    booted = {arch for arches in TESTED_ON.values() for arch in arches}
    assert matrix.untested_arches == tuple(a for a in ARCHES if a not in booted)
    assert "ppc64le" in matrix.untested_arches  # no qemu-system-ppc64 on the test hosts
    markdown = render_markdown(matrix)
    column = matrix.arches.index("ppc64le") + 1
    table = [line.split(" | ") for line in markdown.splitlines() if line.startswith("| ")]
    for cells in table[2:]:  # below the header and its rule
        cell = cells[column]
        assert cell.startswith("missing") or ", untested" in cell, cells
    assert "Untested: ppc64le." in markdown
    data = json.loads(render_json(matrix))
    assert data["untested_arches"] == list(matrix.untested_arches)
    launch = next(f for f in data["features"] if f["key"] == "launch")
    assert launch["support"]["s390x"]["tested"] is True
    assert launch["support"]["ppc64le"]["tested"] is False


def test_booted_arches_keep_their_cells() -> None:
    markdown = render_markdown(support_matrix())
    assert "| Launch | complete | complete | complete | complete, untested |" in markdown
    assert "| Trigger crash dump | complete [48] | complete [49] | missing [50] |" in markdown


# -- the scan ---------------------------------------------------------------------------------


def _scan_source(tmp_path: Path, source: str) -> dict[tuple[str, str], list[str]]:
    (tmp_path / "test_sample.py").write_text("import pytest\n\n" + textwrap.dedent(source))
    return scan(tmp_path)


def test_the_scan_reads_arch_parameters_and_arch_keywords(tmp_path: Path) -> None:
    claims = _scan_source(
        tmp_path,
        """
        @pytest.mark.feature("reboot", "pause")
        @pytest.mark.parametrize("arch", ["s390x", "x86_64"])
        def test_power(arch): ...

        @pytest.mark.feature("watchdog", arch="s390x")
        def test_watchdog(): ...

        @pytest.mark.parametrize("arch", ["aarch64"])
        def test_unmarked(arch): ...
        """,
    )
    assert claims == {
        ("pause", "s390x"): ["test_sample.py::test_power"],
        ("pause", "x86_64"): ["test_sample.py::test_power"],
        ("reboot", "s390x"): ["test_sample.py::test_power"],
        ("reboot", "x86_64"): ["test_sample.py::test_power"],
        ("watchdog", "s390x"): ["test_sample.py::test_watchdog"],
    }


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ('@pytest.mark.feature("reboot")\ndef test_a(): ...\n', "either as arch="),
        (
            '@pytest.mark.feature("reboot", arch="s390x")\n'
            '@pytest.mark.parametrize("arch", ["x86_64"])\ndef test_a(arch): ...\n',
            "either as arch=",
        ),
        ('@pytest.mark.feature("rebooot", arch="s390x")\ndef test_a(): ...\n', "unknown feature"),
        ('@pytest.mark.feature("reboot", arch="armv7l")\ndef test_a(): ...\n', "unknown arch"),
        (
            '@pytest.mark.feature("reboot")\n@pytest.mark.parametrize("arch", ARCHES)\n'
            "def test_a(arch): ...\n",
            "literal list",
        ),
        (
            '@pytest.mark.feature("reboot", arch="s390x")\n@pytest.mark.skip\ndef test_a(): ...\n',
            "marked skip",
        ),
        ('pytestmark = [pytest.mark.feature("reboot", arch="s390x")]\n', "mark each test"),
        ("@pytest.mark.feature\ndef test_a(): ...\n", "name the features"),
    ],
)
def test_the_scan_refuses_what_it_cannot_read_for_certain(
    tmp_path: Path, source: str, error: str
) -> None:
    with pytest.raises(MarkerError, match=error):
        _scan_source(tmp_path, source)


# -- while an e2e test runs -------------------------------------------------------------------


class _Item:
    """What :func:`item_claims` reads of a collected test."""

    nodeid = "tests/e2e/test_fake.py::test_fake"

    def __init__(self, *marks: pytest.MarkDecorator, **params: str) -> None:
        self.marks = [m.mark for m in marks]
        self.callspec = SimpleNamespace(params=params)

    def iter_markers(self, name: str) -> Any:
        return (m for m in self.marks if m.name == name)


def test_a_collected_test_claims_its_arch_parameter_or_its_arch_keyword() -> None:
    item: Any = _Item(pytest.mark.feature("reboot", "pause"), arch="x86_64")
    assert item_claims(item) == {("reboot", "x86_64"), ("pause", "x86_64")}
    item = _Item(pytest.mark.feature("watchdog", arch="s390x"))
    assert item_claims(item) == {("watchdog", "s390x")}
    with pytest.raises(pytest.UsageError, match="needs an arch"):
        item_claims(_Item(pytest.mark.feature("reboot")))  # type: ignore[arg-type]


def test_a_test_that_never_asked_for_a_feature_it_claims_fails() -> None:
    item: Any = _Item(pytest.mark.feature("reboot", "pause"), arch="s390x")
    require = ArchProfile.require

    def run(*asked: tuple[str, str]) -> None:
        with verify_exercised(item):
            for key, arch in asked:
                get_profile(arch).require(key)

    # another arch's guest does not count
    with pytest.raises(AssertionError, match=r"never exercised.*\('pause', 's390x'\)"):
        run(("reboot", "s390x"), ("pause", "x86_64"))
    assert ArchProfile.require is require
    run(("reboot", "s390x"), ("pause", "s390x"))
    assert ArchProfile.require is require
