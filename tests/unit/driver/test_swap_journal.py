"""A swap onto a volume zcompute connects: whatever interrupts it, no connection is stranded.

The FC LUNs live on an emulated host (tests/unit/volumes/fc_host_tree.py: an IBM Z LPAR's
zfcp sysfs, or a PCI host's SCSI hosts, with a thread playing kernel and udev); the guests on
libvirt's test driver, which cannot copy disks: the copy and pivot run on real guests in
tests/e2e/test_fc_volume.py and test_volume_swap_connected.py. Here the swap's journal is
settled from each state an interruption can leave (the record names the old volume or the new
one, the connection settled or not, the old LUN disconnected or not), and a swap that fails
after connecting the new LUN disconnects it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.volumes.fc_host_tree import HostTree, KernelSim, s390x_lpar, x86_host

from zcompute._faults import InjectedFault
from zcompute.driver import ComputeDriver
from zcompute.driver._fc import release_volume_connections
from zcompute.driver._undo import UndoStack
from zcompute.driver._volumeconnect import (
    PreparedVolume,
    connect_fc,
    disconnect_fc,
    journal_swap,
    settle_swap_connections,
)
from zcompute.errors import Conflict, InvalidInput, InvalidState, NotFound, ZcomputeError
from zcompute.model import BlockDeviceSpec, Instance, InstanceState
from zcompute.volumes import HostFs, VolumeEncryption
from zcompute.xml import Disk, Domain

from .driver_support import Recorder

WWPN = "500507680b2155f8"
LUNS = {2: "0x0002000000000000", 3: "0x0003000000000000"}
ZFCP = "/sys/bus/ccw/drivers/zfcp"
FAST = {"timeout": 5.0, "poll_interval": 0.01, "rescan_interval": 0.2}


@dataclasses.dataclass
class San:
    arch: str
    host: HostTree
    sim: KernelSim

    def info(self, lun: int) -> dict[str, Any]:
        return {
            "driver_volume_type": "fibre_channel",
            "serial": f"vol-{lun}",
            "data": {"target_wwn": WWPN, "target_lun": lun},
        }

    def options(self) -> dict[str, Any]:
        return {"root": self.host.root, "host_arch": self.arch, "connector_options": FAST}

    def connect(self, drv: ComputeDriver, lun: int) -> PreparedVolume:
        return connect_fc(drv._ctx, self.info(lun), UndoStack(), **self.options())

    def luns_on_host(self) -> list[int]:
        self.sim.step()
        return sorted({d.scsi_lun for d in self.host.disks.values()})

    def removed(self, lun: int) -> int:
        """How often the LUN was removed from the host: its zfcp unit on the first FCP device
        (s390x), its SCSI disks (x86_64: ``.../H:C:T:L/delete``)."""
        if self.arch == "s390x":
            written = self.sim.values_written(f"{ZFCP}/0.0.8000/0x{WWPN}/unit_remove")
            return written.count(LUNS[lun])
        deletes = self.sim.writes_to("/delete")
        return sum(1 for path, _ in deletes if path.rsplit("/", 2)[-2].endswith(f":{lun}"))


@pytest.fixture(params=["s390x", "x86_64"])
def san(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[San]:
    arch = request.param
    if arch == "s390x":
        host = s390x_lpar(tmp_path / "san", targets={WWPN: set(LUNS.values())})
    else:
        host = x86_host(tmp_path / "san", targets={WWPN: {"2", "3"}})
    with KernelSim(host) as sim:
        write = HostFs.write

        def synchronous(fs: HostFs, host_path: str, value: str) -> None:
            write(fs, host_path, value)
            sim.step()  # the kernel acts on a sysfs write before it returns

        monkeypatch.setattr(HostFs, "write", synchronous)
        yield San(arch, host, sim)


def _with_fc_volume(drv: ComputeDriver, inst: Instance, san: San, lun: int) -> BlockDeviceSpec:
    """``inst`` with LUN ``lun`` recorded as vdb, its connection too (as an attach leaves it)."""
    prepared = san.connect(drv, lun)
    spec = drv.checked_volume(
        BlockDeviceSpec(source=Path(prepared.source.path), target="vdb", serial=f"vol-{lun}")
    )
    drv.db.add_attachment(inst.uuid, spec)
    assert prepared.connection is not None
    drv.db.set_volume_connection(inst.uuid, "vdb", prepared.connection)
    return spec


def _journaled(drv: ComputeDriver, inst: Instance, san: San) -> tuple[BlockDeviceSpec, Path]:
    """The state a swap of vdb (LUN 2) onto LUN 3 leaves once it journaled the new LUN."""
    old = _with_fc_volume(drv, inst, san, 2)
    new = san.connect(drv, 3)
    journal_swap(drv._ctx, inst.uuid, old, new.source.path, new.connection)
    return old, Path(new.source.path)


def _serial_of(record: dict[str, Any]) -> str:
    return str(record["connection_info"]["serial"])


def test_before_the_switch_over_the_new_lun_is_disconnected(
    test_driver: ComputeDriver, recorded: Recorder, san: San
) -> None:
    inst = recorded()
    old, _new = _journaled(test_driver, inst, san)
    assert san.luns_on_host() == [2, 3]
    done = settle_swap_connections(test_driver._ctx, inst.uuid, "vdb")
    assert done == [f"FC volume {_new}, which vdb no longer uses, disconnected"]
    assert san.removed(3) >= 1
    assert san.removed(2) == 0
    (record,) = test_driver.db.volume_connections(inst.uuid).values()
    assert _serial_of(record) == "vol-2"
    assert test_driver.db.swap_journals(inst.uuid) == {}
    assert test_driver.get_instance(inst.uuid).block_devices == (old,)


@pytest.mark.parametrize("cut", ["recorded", "settled", "disconnected"])
def test_after_the_switch_over_the_old_lun_is_disconnected_once_whatever_ran_before(
    test_driver: ComputeDriver, recorded: Recorder, san: San, cut: str
) -> None:
    """The record names the new volume (a pivot's settle recorded it); the settle itself was
    cut short after making the new connection the volume's, or after disconnecting the old
    LUN: settling again finishes it, and the old LUN's units are removed only once."""
    inst = recorded()
    old, new = _journaled(test_driver, inst, san)
    test_driver.db.replace_volume(inst.uuid, dataclasses.replace(old, source=new))
    journal = test_driver.db.swap_journals(inst.uuid)["vdb"]
    if cut in ("settled", "disconnected"):
        test_driver.db.settle_volume_connection(inst.uuid, "vdb", journal["new"]["connection"])
    if cut == "disconnected":
        disconnect_fc(journal["old"]["connection"])
    settle_swap_connections(test_driver._ctx, inst.uuid, "vdb")
    settle_swap_connections(test_driver._ctx, inst.uuid, "vdb")  # nothing left: a no-op
    (record,) = test_driver.db.volume_connections(inst.uuid).values()
    assert _serial_of(record) == "vol-3"
    assert test_driver.db.swap_journals(inst.uuid) == {}
    if san.arch == "s390x":
        assert san.luns_on_host() == [3]
        assert san.removed(2) == 1  # a repeated disconnect finds the unit gone
    assert san.removed(3) == 0


def test_destroy_and_detach_release_both_connections_of_an_unsettled_journal(
    test_driver: ComputeDriver, recorded: Recorder, san: San
) -> None:
    inst = recorded()
    _journaled(test_driver, inst, san)
    assert release_volume_connections(test_driver.db, inst.uuid) == []
    assert san.removed(2) >= 1
    assert san.removed(3) >= 1

    stopped = recorded(InstanceState.SHUTOFF, start=False)
    _journaled(test_driver, stopped, san)
    test_driver.detach_volume(stopped.name, "vdb")
    assert test_driver.db.volume_connections(stopped.uuid) == {}
    if san.arch == "s390x":
        assert san.luns_on_host() == []


def test_a_swap_that_fails_after_connecting_the_new_lun_disconnects_it(
    test_driver: ComputeDriver, recorded: Recorder, san: San, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = recorded()
    old = _with_fc_volume(test_driver, inst, san, 2)
    # the test driver has no disk to measure: the size check passes, the fault comes after
    # the journal (as an error, SIGTERM or a libvirt failure of the copy would)
    changes = test_driver._volume_changes
    monkeypatch.setattr(changes, "check_new", lambda op, old, new: new)
    monkeypatch.setattr(test_driver._ctx.domains, "block_job_progress", lambda uuid, disk: None)
    monkeypatch.setenv("ZCOMPUTE_FAULT", "volume_swap.connected:raise")
    with pytest.raises(InjectedFault):
        test_driver.swap_volume_connection(inst.name, "vdb", san.info(3), **san.options())
    assert san.removed(3) >= 1
    assert san.removed(2) == 0
    after = test_driver.get_instance(inst.name)
    assert (after.block_devices, after.task) == ((old,), None)
    (record,) = test_driver.db.volume_connections(inst.uuid).values()
    assert _serial_of(record) == "vol-2"
    assert test_driver.db.swap_journals(inst.uuid) == {}

    # the volume the guest has already: refused before anything is connected
    with pytest.raises(Conflict, match=r"volume vol-2 is attached to .* as vdb"):
        test_driver.swap_volume_connection(inst.name, "vdb", san.info(2), **san.options())
    assert san.removed(2) == 0


def test_a_journal_left_behind_is_settled_before_the_next_swap(
    test_driver: ComputeDriver,
    recorded: Recorder,
    san: San,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An earlier swap's journal that did not settle (the swap reported its disconnect error)
    is settled first: the next swap journals afresh, and its own undo keeps the old LUN."""
    inst = recorded()
    old, _new = _journaled(test_driver, inst, san)
    monkeypatch.setattr(test_driver._volume_changes, "check_new", lambda op, old, new: new)
    monkeypatch.setattr(test_driver._ctx.domains, "block_job_progress", lambda uuid, disk: None)
    target = tmp_path / "target.img"
    target.write_bytes(b"\0" * 4096)
    with pytest.raises(ZcomputeError):  # the test driver cannot copy a disk
        test_driver.swap_volume(inst.name, "vdb", target)
    assert san.removed(3) >= 1  # the LUN of the earlier swap
    assert san.removed(2) == 0  # the guest's, kept through this swap's undo
    assert test_driver.db.swap_journals(inst.uuid) == {}
    assert test_driver.get_instance(inst.uuid).block_devices == (old,)
    (record,) = test_driver.db.volume_connections(inst.uuid).values()
    assert _serial_of(record) == "vol-2"


@pytest.mark.parametrize(
    ("info", "encryption", "error", "message"),
    [
        ({"driver_volume_type": "rbd", "data": {}}, None, InvalidInput,
         r"connection_info\.driver_volume_type: 'rbd' is not a volume type"),
        ({"driver_volume_type": "fibre_channel", "data": {"target_wwn": WWPN,
          "target_lun": 3, "volume_id": "v"}}, VolumeEncryption(b"k"), InvalidInput,
         "an FC volume takes no bus, shareable or encryption"),
        ({"driver_volume_type": "iscsi", "data": {"target_portal": "192.0.2.1:3260",
          "target_iqn": "iqn.2010-10.org.x:v", "target_lun": 1, "volume_id": "v",
          "encrypted": True}}, None, InvalidInput, "encryption: volume v is encrypted"),
        ({"driver_volume_type": "iscsi", "data": {"target_portal": "192.0.2.1:3260",
          "target_iqn": "iqn.2010-10.org.x:v", "target_lun": 1, "volume_id": "v",
          "access_mode": "ro"}}, None, InvalidInput,
         r"access_mode: the new volume is read-only"),
    ],
)  # fmt: skip
def test_bad_requests_change_nothing(
    test_driver: ComputeDriver,
    recorded: Recorder,
    tmp_path: Path,
    info: dict[str, Any],
    encryption: VolumeEncryption | None,
    error: type[Exception],
    message: str,
) -> None:
    inst = recorded()
    volume = tmp_path / "old.img"
    volume.write_bytes(b"\0" * 4096)
    inst = test_driver.db.add_attachment(inst.uuid, BlockDeviceSpec(source=volume, target="vdb"))
    with pytest.raises(error, match=message):
        test_driver.swap_volume_connection(inst.name, "vdb", info, encryption=encryption)
    after = test_driver.get_instance(inst.name)
    assert (after.block_devices, after.task) == (inst.block_devices, None)
    assert test_driver.db.swap_journals(inst.uuid) == {}
    assert [s for s in test_driver._ctx.secrets.list() if inst.uuid in s.usage_id] == []


def test_a_stopped_guest_or_a_missing_volume_is_refused(
    test_driver: ComputeDriver, recorded: Recorder
) -> None:
    info = {"driver_volume_type": "iscsi", "data": {"target_portal": "192.0.2.1:3260",
            "target_iqn": "iqn.2010-10.org.x:v", "target_lun": 1, "volume_id": "v"}}  # fmt: skip
    stopped = recorded(InstanceState.SHUTOFF, start=False)
    with pytest.raises(InvalidState, match="cannot swap a volume of"):
        test_driver.swap_volume_connection(stopped.name, "vdb", info)
    with pytest.raises(NotFound, match="no volume 'vdb' is attached"):
        test_driver.swap_volume_connection(recorded().name, "vdb", info)


def test_repair_settles_a_journal_that_a_failed_settle_left(
    test_driver: ComputeDriver, recorded: Recorder, san: San
) -> None:
    """The swap's task ended, its settle did not (libvirt away, a disconnect refused): repair
    settles it as recovery does, the record following the guest's disk first (here a stopped
    guest's definition, which names the old LUN)."""
    inst = recorded(InstanceState.SHUTOFF, start=False)
    old, new = _journaled(test_driver, inst, san)
    dom = Domain.from_xml(test_driver.domains.xml(inst.uuid, inactive=True))
    dom.devices.add(Disk(type="block", device="disk", source_dev=str(old.source),
                         target_dev="vdb", target_bus="virtio"))  # fmt: skip
    test_driver.domains.define(dom.to_xml())
    actions = test_driver.repair().actions
    assert f"{inst.name}: FC volume {new}, which vdb no longer uses, disconnected" in actions
    assert test_driver.db.swap_journals(inst.uuid) == {}
    assert test_driver.get_instance(inst.uuid).block_devices == (old,)
    assert san.removed(3) >= 1
    assert san.removed(2) == 0


def test_recovery_finishing_a_detach_disconnects_the_volume(
    test_driver: ComputeDriver, recorded: Recorder, san: San
) -> None:
    """A recorded FC volume the guest no longer has (a detach cut short after the unplug):
    recovery finishes the detach, its LUN (and a journal's) disconnected with it."""
    inst = recorded(InstanceState.SHUTOFF, start=False)
    _journaled(test_driver, inst, san)
    (action,) = test_driver.repair().actions
    assert "half-detached disk vdb detached, its record dropped" in action
    assert test_driver.get_instance(inst.uuid).block_devices == ()
    assert san.removed(2) >= 1
    assert san.removed(3) >= 1
