"""The support matrix: data from the profiles, renderers, and the generated document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zcompute.arch import (
    FEATURES,
    IMPLEMENTATION,
    PROFILES,
    ImplState,
    Status,
    render_json,
    render_markdown,
    render_matrix,
    render_text,
    support_matrix,
)
from zcompute.errors import InvalidInput

DOC = Path(__file__).resolve().parents[3] / "docs" / "support-matrix.md"


def test_committed_document_is_generated_from_the_profiles() -> None:
    expected = render_markdown(support_matrix())
    assert DOC.read_text() == expected, (
        "docs/support-matrix.md is stale: run "
        "`zcompute support-matrix --format markdown > docs/support-matrix.md`"
    )


def test_s390x_is_x86_minus_vnc_spice_inject_networking() -> None:
    """The blueprint: like x86 minus VNC, SPICE and inject networking (plus IBM Z's own SE)."""
    s390x, x86 = PROFILES["s390x"].support, PROFILES["x86_64"].support
    differ = {k for k in s390x if s390x[k].status is not x86[k].status}
    assert differ == {"vnc", "spice", "inject-networking", "secure-execution"}
    assert all(s390x[k].status is Status.MISSING for k in ("vnc", "spice", "inject-networking"))
    assert x86["secure-execution"].status is Status.MISSING
    assert s390x["secure-execution"].status is not Status.MISSING


def test_claims_and_implementation_are_separate_dimensions() -> None:
    matrix = support_matrix()
    assert matrix.arches == ("s390x", "x86_64", "aarch64", "ppc64le")
    assert [r.feature.key for r in matrix.rows] == [f.key for f in FEATURES]
    assert set(IMPLEMENTATION) == {f.key for f in FEATURES}
    # A platform claim never says "not implemented"; that is the implementation's word.
    for row in matrix.rows:
        for claim in row.claims.values():
            assert "implement" not in claim.note.lower()
        assert isinstance(row.implementation.state, ImplState)


def test_a_subset_of_profiles() -> None:
    matrix = support_matrix([PROFILES["x86_64"]])
    assert matrix.arches == ("x86_64",)


def test_json_rendering() -> None:
    data = json.loads(render_json(support_matrix()))
    vnc = next(f for f in data["features"] if f["key"] == "vnc")
    assert vnc["support"]["s390x"]["status"] == "missing"
    assert "SCLP" in vnc["support"]["s390x"]["note"]
    assert vnc["implementation"]["state"] == "not implemented"
    assert data["arches"] == ["s390x", "x86_64", "aarch64", "ppc64le"]


def test_markdown_and_text_rendering() -> None:
    markdown = render_markdown(support_matrix())
    assert "| Feature | s390x | x86_64 | aarch64 | ppc64le | zcompute |" in markdown
    assert "| VNC console | missing [" in markdown
    text = render_text(support_matrix(), width=200)
    for feature in FEATURES:
        assert feature.name in text
    assert "IBM Z guests have no graphics adapter" in text


def test_unknown_format() -> None:
    with pytest.raises(InvalidInput) as err:
        render_matrix(support_matrix(), "yaml")
    assert err.value.allowed == "text, markdown, json"
