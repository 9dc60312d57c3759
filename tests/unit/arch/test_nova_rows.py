"""Nova's support-matrix rows: the declarations, zcompute's computed column and the renderers."""

from __future__ import annotations

import json
import os

import pytest

from zcompute.arch import (
    FEATURES,
    IMPLEMENTATION,
    NOVA_ROWS,
    PROFILES,
    ImplState,
    NovaRow,
    NovaStatusKind,
    NovaSupport,
    Status,
    nova_cell,
    nova_matrix,
    render_nova,
    render_nova_json,
    render_nova_markdown,
    render_nova_text,
)
from zcompute.errors import InvalidInput

# every method and capability flag any row asks of the adapter
EVERY_METHOD = frozenset(name for row in NOVA_ROWS for name in (*row.methods, *row.capabilities))
# The columns of Nova's ini this matrix reads, and the arches whose profiles name them.
NOVA_COLUMNS = {"libvirt-kvm-x86", "libvirt-kvm-s390x", "libvirt-kvm-aarch64", "libvirt-kvm-ppc64"}


def _row(key: str) -> NovaRow:
    return next(row for row in NOVA_ROWS if row.key == key)


def _compute_driver() -> type:
    os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")
    from nova.virt.driver import ComputeDriver

    return ComputeDriver


def test_every_row_key_is_unique_and_every_section_of_nova_is_covered() -> None:
    keys = [row.key for row in NOVA_ROWS]
    assert len(keys) == len(set(keys)) == 59
    assert all(key.split(".")[0] in {"operation", "guest", "console", "storage"} for key in keys)


def test_every_mapped_feature_exists() -> None:
    known = {item.key for item in FEATURES}
    for row in NOVA_ROWS:
        assert set(row.features) <= known, row.key


def test_an_unknown_feature_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown zcompute features"):
        NovaRow("operation.x", "X", _row("operation.launch").status, {}, features=("nope",))


@pytest.mark.filterwarnings("ignore::Warning")  # importing Nova: eventlet's, oslo.policy's
def test_every_adapter_method_and_capability_is_novas() -> None:
    driver = _compute_driver()
    for row in NOVA_ROWS:
        for name in row.methods:
            assert callable(getattr(driver, name, None)), (row.key, name)
        for flag in row.capabilities:
            assert flag in driver.capabilities, (row.key, flag)


def test_every_row_records_novas_libvirt_kvm_columns() -> None:
    for row in NOVA_ROWS:
        assert set(row.nova) == NOVA_COLUMNS, row.key
    assert {p.nova_driver for p in PROFILES.values()} == NOVA_COLUMNS


def test_the_mandatory_rows_are_novas_four() -> None:
    mandatory = {row.key for row in NOVA_ROWS if row.status.kind is NovaStatusKind.MANDATORY}
    assert mandatory == {
        "operation.get-guest-info",
        "operation.launch",
        "operation.terminate",
        "storage.image",
    }


def test_statuses_read_as_nova_writes_them() -> None:
    assert str(_row("console.vnc").status) == "choice(console)"
    assert str(_row("guest.setup.configdrive").status) == "choice(guest.setup)"
    assert str(_row("storage.block.backend.iscsi").status) == "condition(storage.block==complete)"
    assert str(_row("operation.pause").status) == "optional"


def test_novas_own_columns_are_recorded_as_facts() -> None:
    vnc = _row("console.vnc")
    assert vnc.nova_value("libvirt-kvm-s390x") is NovaSupport.MISSING
    assert vnc.nova_value("libvirt-kvm-x86") is NovaSupport.COMPLETE
    assert _row("operation.extend-volume").nova_value("libvirt-kvm-s390x") is NovaSupport.UNKNOWN
    assert _row("operation.boot-encrypted-vm").nova_value("libvirt-kvm-x86") is NovaSupport.PARTIAL
    assert vnc.nova_value(None) is NovaSupport.UNKNOWN


@pytest.mark.parametrize("key", ["console.vnc", "console.spice"])
def test_graphics_rows_are_missing_on_s390x_with_the_profiles_reason(key: str) -> None:
    s390x = PROFILES["s390x"]
    cell = nova_cell(_row(key), s390x, EVERY_METHOD)
    assert cell.support is NovaSupport.MISSING
    feature_key = _row(key).features[0]
    assert s390x.claim(feature_key).status is Status.MISSING
    assert cell.reason == s390x.claim(feature_key).note
    assert "graphics adapter" in cell.reason


def test_a_row_on_supported_features_is_complete_with_every_method() -> None:
    for arch in ("s390x", "x86_64"):
        profile = PROFILES[arch]
        for key in ("operation.launch", "operation.attach-volume", "console.serial.log"):
            row = _row(key)
            assert all(profile.available(k) for k in row.features)
            assert nova_cell(row, profile, EVERY_METHOD).support is NovaSupport.COMPLETE


def test_a_row_is_complete_exactly_when_its_features_are_available_everywhere() -> None:
    for profile in PROFILES.values():
        for row in NOVA_ROWS:
            cell = nova_cell(row, profile, EVERY_METHOD)
            available = row.adapter_only or (
                bool(row.features) and all(profile.available(k) for k in row.features)
            )
            assert (cell.support is not NovaSupport.MISSING) == available, (profile.arch, row.key)
            assert cell.support is NovaSupport.COMPLETE or cell.reason


def test_nothing_is_complete_without_an_adapter() -> None:
    matrix = nova_matrix(frozenset())
    for row in matrix.rows:
        for arch, cell in row.cells.items():
            assert cell.support is NovaSupport.MISSING, (row.row.key, arch)
    assert all(matrix.complete(arch) == 0 for arch in matrix.arches)


def test_a_capability_the_adapter_does_not_set_leaves_the_row_missing() -> None:
    row = _row("operation.evacuate")
    cell = nova_cell(row, PROFILES["s390x"], EVERY_METHOD - {"supports_evacuate"})
    assert cell.support is NovaSupport.MISSING
    assert cell.reason == "the Nova adapter does not set supports_evacuate"


def test_host_facts_the_adapter_answers_need_no_zcompute_feature() -> None:
    for key in ("operation.get-host-uptime", "operation.get-host-ip"):
        row = _row(key)
        assert row.adapter_only
        assert not row.features
        assert nova_cell(row, PROFILES["s390x"], EVERY_METHOD).support is NovaSupport.COMPLETE
        assert nova_cell(row, PROFILES["s390x"], frozenset()).support is NovaSupport.MISSING


def test_a_lacking_adapter_method_is_named() -> None:
    row = _row("operation.attach-volume")
    cell = nova_cell(row, PROFILES["s390x"], EVERY_METHOD - {"detach_volume"})
    assert cell.support is NovaSupport.MISSING
    assert cell.reason == "the Nova adapter lacks detach_volume"


def test_a_row_without_features_is_not_implemented_by_zcompute() -> None:
    row = _row("operation.maintenance-mode")
    assert row.features == ()
    cell = nova_cell(row, PROFILES["x86_64"], EVERY_METHOD)
    assert (cell.support, cell.reason) == (NovaSupport.MISSING, "not implemented by zcompute")


def test_a_feature_the_driver_lacks_says_so() -> None:
    row = _row("console.vnc")
    assert IMPLEMENTATION["vnc"].state is ImplState.NOT_IMPLEMENTED
    assert PROFILES["x86_64"].supports("vnc")
    cell = nova_cell(row, PROFILES["x86_64"], EVERY_METHOD)
    assert cell.support is NovaSupport.MISSING
    assert cell.reason.startswith("not implemented by zcompute (VNC")


def test_a_partial_claim_makes_a_partial_row() -> None:
    ppc = PROFILES["ppc64le"]
    assert ppc.claim("attach-volume-fc").status is Status.PARTIAL
    cell = nova_cell(_row("storage.block.backend.fibrechannel"), ppc, EVERY_METHOD)
    assert cell.support is NovaSupport.PARTIAL
    assert cell.reason == ppc.claim("attach-volume-fc").note


def test_the_matrix_counts_and_defaults() -> None:
    matrix = nova_matrix(EVERY_METHOD)
    assert matrix.arches == tuple(PROFILES)
    assert matrix.nova_drivers["s390x"] == "libvirt-kvm-s390x"
    assert matrix.nova_complete("s390x") == sum(
        row.nova_value("libvirt-kvm-s390x") is NovaSupport.COMPLETE for row in NOVA_ROWS
    )
    assert 0 < matrix.complete("s390x") <= len(NOVA_ROWS)
    assert nova_matrix(EVERY_METHOD, [PROFILES["x86_64"]]).arches == ("x86_64",)


def test_markdown_rendering() -> None:
    matrix = nova_matrix(EVERY_METHOD, [PROFILES["s390x"], PROFILES["x86_64"]])
    markdown = render_nova_markdown(matrix, notice="a notice")
    assert (
        "| Nova row | Status | Nova libvirt-kvm-s390x | zcompute s390x | "
        "Nova libvirt-kvm-x86 | zcompute x86_64 | Notes |"
    ) in markdown
    complete = matrix.complete("s390x")
    nova = matrix.nova_complete("s390x")
    assert f"zcompute complete on s390x: {complete} of 59 rows; Nova's own " in markdown
    assert f"libvirt-kvm-s390x: {nova}" in markdown
    assert "- a notice" in markdown
    vnc = next(line for line in markdown.splitlines() if "(`console.vnc`)" in line)
    assert vnc.startswith("| Remote desktop over VNC (`console.vnc`) | choice(console) | missing |")
    assert "IBM Z guests have no graphics adapter" in markdown
    assert markdown.count("\n| ") == 1 + 1 + len(NOVA_ROWS)


def test_text_and_json_rendering() -> None:
    matrix = nova_matrix(EVERY_METHOD)
    text = render_nova_text(matrix, width=300)
    assert "zcompute complete on s390x" in text
    data = json.loads(render_nova_json(matrix, "note"))
    assert data["notice"] == "note"
    assert len(data["rows"]) == len(NOVA_ROWS)
    vnc = next(row for row in data["rows"] if row["key"] == "console.vnc")
    assert vnc["columns"]["s390x"] == {
        "nova": "missing",
        "zcompute": "missing",
        "reason": PROFILES["s390x"].claim("vnc").note,
    }
    assert data["summary"]["s390x"]["zcompute_complete"] == matrix.complete("s390x")
    assert render_nova(matrix, "json") == render_nova_json(matrix)


def test_unknown_format() -> None:
    with pytest.raises(InvalidInput) as err:
        render_nova(nova_matrix(()), "yaml")
    assert err.value.allowed == "text, markdown, json"
