"""The path builder reproduces the real zFCP naming examples in shared/testdata/zfcp."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.unit.volumes.fc_host_tree import KernelSim, s390x_lpar

from zcompute.errors import InvalidInput
from zcompute.volumes import (
    FibreChannelConnector,
    fcp_lun,
    lun_from_fcp_lun,
    zfcp_by_path_names,
)
from zcompute.volumes._fc_arch import ZfcpStrategy
from zcompute.volumes._sysfs import FcHba

EXAMPLES = "zfcp/zfcp-by-path-examples.txt"
_ZFCP_FORM = re.compile(r"/dev/disk/by-path/ccw-([^-]+)-zfcp-(0x[0-9a-f]{16}):(0x[0-9a-f]{16})")
_FC_FORM = re.compile(r"/dev/disk/by-path/ccw-([^-]+)-fc-(0x[0-9a-f]{16})-lun-(\d+|0x[0-9a-f]{16})")


def _examples(testdata: Path, kind: str) -> list[tuple[str, str]]:
    """(example, source) of every line of ``kind``, skipping templates with <placeholders>."""
    rows = []
    for line in (testdata / EXAMPLES).read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        example, line_kind, source = line.split("\t")
        if line_kind == kind and "<" not in example:
            rows.append((example, source))
    return rows


def _real(rows: list[tuple[str, str]]) -> list[str]:
    return [example for example, source in rows if not source.startswith("synthetic")]


def test_every_real_zfcp_form_example_is_built(shared_testdata: Path) -> None:
    examples = _real(_examples(shared_testdata, "by-path-zfcp"))
    assert len(examples) >= 3
    for example in examples:
        match = _ZFCP_FORM.fullmatch(example)
        assert match, example
        bus_id, wwpn, fcp = match.groups()
        names = zfcp_by_path_names(bus_id, wwpn, lun_from_fcp_lun(fcp))
        assert names[0] == example


def test_every_real_fc_form_example_is_built(shared_testdata: Path) -> None:
    examples = _real(_examples(shared_testdata, "by-path-fc"))
    assert examples
    for example in examples:
        match = _FC_FORM.fullmatch(example)
        assert match, example
        bus_id, wwpn, lun_text = match.groups()
        lun = lun_from_fcp_lun(lun_text) if lun_text.startswith("0x") else int(lun_text)
        assert example in zfcp_by_path_names(bus_id, wwpn, lun)


def test_same_lun_in_both_forms_from_one_source(shared_testdata: Path) -> None:
    # python-zvm-sdk shows LUN 33 on 0.0.1fb3 in both spellings: one call yields both.
    zfcp = _real(_examples(shared_testdata, "by-path-zfcp"))
    fc = _real(_examples(shared_testdata, "by-path-fc"))
    names = zfcp_by_path_names("0.0.1fb3", "5005076801102991", 33)
    assert names[0] in zfcp
    assert names[1] in fc


def test_os_brick_synthetic_names_are_rejected_deliberately(shared_testdata: Path) -> None:
    # os-brick's unit test feeds bus-ID "3" and WWPN "5"; real udev never makes such
    # names and zcompute validates both, so these patterns must not be reproducible.
    synthetic = [
        example
        for kind in ("by-path-zfcp", "by-path-fc")
        for example, source in _examples(shared_testdata, kind)
        if source.startswith("synthetic")
    ]
    assert synthetic
    with pytest.raises(InvalidInput, match="CCW bus-ID"):
        zfcp_by_path_names("3", "5", 2)


def test_fcp_lun_string_examples(shared_testdata: Path) -> None:
    rows = _examples(shared_testdata, "fcp-lun-string")
    assert rows == [("0x4020400a00000000", rows[0][1])]
    assert fcp_lun(0x4020400A) == "0x4020400a00000000"


def test_zfcp_conf_lines_round_trip(shared_testdata: Path) -> None:
    lines = [example for example, _ in _examples(shared_testdata, "zfcp.conf")]
    assert len(lines) >= 8
    for line in lines:
        bus_id, wwpn, fcp = line.split()
        lun = lun_from_fcp_lun(fcp)
        assert fcp_lun(lun) == fcp
        zfcp_name = zfcp_by_path_names(bus_id, wwpn, lun)[0]
        assert zfcp_name == f"/dev/disk/by-path/ccw-{bus_id}-zfcp-{wwpn.lower()}:{fcp}"


def _hba(device_path: str) -> FcHba:
    return FcHba("host0", "c05076ffe680a960", "c05076ffe6800000", "Online", device_path)


def test_fcp_device_bus_id_from_real_sysfs_paths(shared_testdata: Path) -> None:
    strategy = ZfcpStrategy()
    fc_host = "/sys/devices/css0/0.0.02ea/0.0.3080/host0/fc_host/host0"
    assert fc_host in (shared_testdata / EXAMPLES).read_text()
    address = strategy.address(_hba(fc_host))
    assert not isinstance(address, str)
    assert address.bus_address == "0.0.3080"
    # The z16 snapshot's block-device links run through the same FCP device directories.
    seen = set()
    for example, _ in _examples(shared_testdata, "sysfs"):
        if " -> ../devices/css0/" in example:
            device_path = "/sys" + example.split(" -> ..", 1)[1]
            address = strategy.address(_hba(device_path))
            assert not isinstance(address, str), device_path
            seen.add(address.bus_address)
    assert seen == {"0.0.8000", "0.0.8100"}


def test_dracut_unit_add_example_is_what_connect_writes(
    shared_testdata: Path, tmp_path: Path
) -> None:
    line = next(e for e, _ in _examples(shared_testdata, "sysfs") if e.startswith("echo "))
    match = re.fullmatch(
        r"echo (0x[0-9a-f]{16}) > (/sys/bus/ccw/drivers/zfcp/(\S+)/0x(\w+)/unit_add)", line
    )
    assert match, line
    fcp, attribute, bus_id, wwpn = match.groups()
    tree = s390x_lpar(tmp_path, targets={wwpn: {fcp}}, fcp_devices=[("0.0.0010", bus_id)])
    connector = FibreChannelConnector(arch="s390x", root=tmp_path, timeout=2, poll_interval=0.01)
    info = {"data": {"target_wwn": wwpn, "target_lun": lun_from_fcp_lun(fcp), "volume_id": "v1"}}
    with KernelSim(tree) as sim:
        connected = connector.connect(info)
    assert sim.values_written(attribute) == [fcp]
    assert connected.configured_units[0].fcp_lun == fcp
