"""Server diagnostics: libvirt's raw stats record read into zcompute's counters, then Nova's
object (API 2.48) and the older flat form, as Tempest's schema and tools expect them."""

from __future__ import annotations

from zcompute.driver import GuestDiagnostics, InstanceInfo
from zcompute.model import InstanceState
from zcompute.nova._diagnostics import diagnostics_object, legacy_diagnostics
from zcompute.virt._diagnostics import counters_of

#: what virConnectGetAllDomainStats gives for a guest with one vCPU, one tap NIC and a disk
RAW = {
    "vcpu.current": 1,
    "vcpu.0.time": 1_500_000_000,
    "balloon.maximum": 524288,
    "balloon.rss": 300000,
    "net.count": 1,
    "net.0.name": "tap1234abcd-ef",
    "net.0.rx.bytes": 1000,
    "net.0.rx.pkts": 10,
    "net.0.rx.errs": 0,
    "net.0.rx.drop": 1,
    "net.0.tx.bytes": 2000,
    "net.0.tx.pkts": 20,
    "net.0.tx.errs": 0,
    "net.0.tx.drop": 0,
    "block.count": 1,
    "block.0.name": "vda",
    "block.0.rd.bytes": 4096,
    "block.0.rd.reqs": 2,
    "block.0.wr.bytes": 512,
    "block.0.wr.reqs": 1,
}


def _found() -> GuestDiagnostics:
    info = InstanceInfo("u1", "web1", InstanceState.RUNNING, 524288, 524288, 1, 1_500_000_000)
    return GuestDiagnostics(
        info, counters_of(RAW), {"tap1234abcd-ef": "fa:16:3e:00:00:01"}, config_drive=True
    )


def test_the_raw_record_becomes_counters_with_none_for_what_is_not_kept() -> None:
    counters = counters_of(RAW)
    assert counters.vcpu_times_ns == (1_500_000_000,)
    assert (counters.memory_max_kib, counters.memory_used_kib) == (524288, 300000)
    (nic,) = counters.nics
    assert (nic.device, nic.rx_bytes, nic.rx_drop, nic.tx_packets) == (
        "tap1234abcd-ef",
        1000,
        1,
        20,
    )
    (disk,) = counters.disks
    assert (disk.target, disk.read_bytes, disk.write_requests, disk.errors) == (
        "vda",
        4096,
        1,
        None,
    )
    assert counters_of({}).nics == ()


def test_nova_s_object_carries_every_counter() -> None:
    diags = diagnostics_object(_found())
    shown = diags.obj_to_primitive()["nova_object.data"]
    assert (diags.state, diags.driver, diags.config_drive) == ("running", "libvirt", True)
    assert diags.num_cpus == 1
    assert diags.cpu_details[0].time == 1_500_000_000
    assert diags.nic_details[0].mac_address == "fa:16:3e:00:00:01"
    assert diags.nic_details[0].rx_octets == 1000
    assert diags.disk_details[0].read_bytes == 4096
    assert (diags.memory_details.maximum, diags.memory_details.used) == (512, 292)
    assert shown["hypervisor_os"] == "linux"


def test_the_older_form_is_flat_and_leaves_out_what_is_unknown() -> None:
    flat = legacy_diagnostics(_found())
    assert flat["cpu0_time"] == 1_500_000_000
    assert flat["vda_read"] == 4096
    assert flat["tap1234abcd-ef_tx_packets"] == 20
    assert flat["memory"] == 524288
    assert "vda_errors" not in flat
