"""Every multi-step operation, interrupted after each of its steps, converges on the next command.

Each case runs the real ``zcompute`` command with a fault injected after one step
(:mod:`zcompute._faults`): an error (``raise``), SIGTERM (``term``) or SIGKILL (``kill``: no
cleanup runs at all). Then the next command (``zcompute list``) runs, and the host must be in a
state it converged to: no stale task, no domain without a record (or record without domain), no
instance folder without a record, no image-store leftovers, no block job, devices that match
their records, and every guest that is left manageable. The steps of each operation are
declared below and checked against the steps the code really reports (a trace run), so a step
added to an operation without a case here fails the suite.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.driver._devices import disk_source_text
from zcompute.driver._secrets import owned_secrets, secrets_of_volume
from zcompute.driver._taps import SYSFS_NET, HostTaps
from zcompute.errors import NotFound
from zcompute.model import Flavor
from zcompute.plan import CONFIG_DRIVE, RESCUE_DISK
from zcompute.virt import Hypervisor, PowerState
from zcompute.xml import Domain

from .conftest import DATA_DIR, RUN_ID, TEST_PREFIX, TINY, imported_test_image
from .iscsi_target import IscsiTarget, Lun, running_target
from .lifecycle_support import BOOTED, qemu_pid

ZCOMPUTE = str(Path(sys.executable).with_name("zcompute"))
ACTIONS = ("raise", "term", "kill")
# spawns under a fault make ephemeral and swap disks too (the step spawn.ephemeral)
SCRATCH = Flavor(f"{TINY.name}-scratch", 1, 256, 1, ephemeral_gib=1, swap_mib=16)

STEPS = {
    "spawn": [
        "spawn.recorded", "spawn.folder", "spawn.disk", "spawn.ephemeral", "spawn.defined",
        "configdrive.staged", "spawn.config_drive", "spawn.taps", "spawn.started", "spawn.booted",
    ],
    # boot from an iSCSI volume (CHAP): its secret defined once the record names it
    "spawn_root_volume": [
        "spawn.recorded", "spawn.root_volume", "spawn.folder", "spawn.defined", "spawn.started",
        "spawn.booted",
    ],
    "destroy": [
        "destroy.begun", "destroy.stopped", "destroy.undefined", "destroy.secrets_removed",
        "destroy.files_removed",
    ],
    "snapshot": [
        "snapshot.copying", "snapshot.in_sync", "snapshot.copied", "image.converted",
        "image.recorded", "image.renamed",
    ],
    "volume_attach": ["volume_attach.attached", "volume_attach.recorded"],
    "volume_detach": ["detach.unplugged", "volume_detach.detached", "volume_detach.forgotten"],
    "volume_extend": ["volume_extend.resized", "volume_extend.recorded"],
    "volume_swap": [
        "volume_swap.copying", "volume_swap.in_sync", "volume_swap.pivoted",
        "volume_swap.defined", "volume_swap.recorded",
    ],
    # CHAP: a libvirt secret defined first, removed after the record (no fault point of its own:
    # an interruption after "forgotten" leaves the secret to recovery)
    "iscsi_attach": [
        "iscsi_attach.secrets_defined", "volume_attach.attached", "volume_attach.recorded",
    ],
    # onto another CHAP LUN: its secret defined first; the old one's removed after the record
    # (no fault point of its own: an interruption after "recorded" leaves it to recovery)
    "iscsi_swap": [
        "volume_swap.secrets_defined", "volume_swap.copying", "volume_swap.in_sync",
        "volume_swap.pivoted", "volume_swap.defined", "volume_swap.recorded",
    ],
    "iscsi_detach": ["detach.unplugged", "volume_detach.detached", "volume_detach.forgotten"],
    "nic_attach": ["nic_attach.attached", "nic_attach.recorded"],
    "nic_detach": ["detach.unplugged", "nic_detach.detached", "nic_detach.forgotten"],
    "rescue": [
        "rescue.disk", "rescue.recorded", "rescue.stopped", "rescue.defined", "rescue.started",
    ],
    "unrescue": [
        "unrescue.stopped", "unrescue.defined", "unrescue.recorded", "unrescue.files_removed",
        "unrescue.started",
    ],
    "image_import": ["image.copied", "image.recorded", "image.renamed"],
    "image_delete": ["image_delete.trashed", "image_delete.forgotten"],
}  # fmt: skip


def cases(operation: str) -> list[tuple[str, str]]:
    return [(step, action) for step in STEPS[operation] for action in ACTIONS]


class Host:
    """One data directory, driven by ``zcompute`` commands and inspected through a driver."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.volumes = data.with_name(f"{data.name}-volumes")
        self.volumes.mkdir(parents=True)
        config = Config(virt_type="qemu", data_dir=data, volume_dirs=str(self.volumes))
        self.driver = ComputeDriver(config)
        self.driver.init_host()
        self.driver.db.add_flavor(TINY)
        self.driver.db.add_flavor(SCRATCH)
        self.image = imported_test_image(self.driver, "s390x")

    def run(
        self, *args: str, fault: str | None = None, trace: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZCOMPUTE_")}
        env["ZCOMPUTE_VOLUME_DIRS"] = str(self.volumes)
        if fault is not None:
            env["ZCOMPUTE_FAULT"] = fault
        if trace is not None:
            env["ZCOMPUTE_FAULT_TRACE"] = str(trace)
        command = [ZCOMPUTE, "--data-dir", str(self.data), "--virt-type", "qemu", *args]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
        if check and fault is None:
            assert done.returncode == 0, f"{args}: {done.stderr}"
        return done

    def boot(self, name: str, *extra: str) -> None:
        self.run("boot", name, "--image", self.image, "--flavor", TINY.name,
                 "--wait-console", BOOTED, *extra)  # fmt: skip

    def interrupted(self, fault: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a command with a fault; it must end as the fault says, never in a traceback."""
        done = self.run(*args, fault=fault)
        action = fault.rpartition(":")[2]
        expected = {"raise": 1, "term": 143, "kill": -9}[action]
        assert done.returncode == expected, (fault, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def close(self) -> None:
        for inst in self.driver.db.list_instances():
            self.driver.destroy(inst.uuid)
        self.driver.close()
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.rmtree(self.volumes, ignore_errors=True)

    # -- what "converged" means ----------------------------------------------------------

    def converge(self) -> None:
        """The next command runs, and afterwards nothing is stranded."""
        listed = self.run("list", "--json")
        assert "Traceback" not in listed.stderr
        drv = self.driver
        records = {i.uuid: i for i in drv.db.list_instances()}
        assert [(i.name, i.task) for i in records.values() if i.task is not None] == []
        ours = {s.uuid for s in drv.domains.all_stats() if self._mine(s.uuid)}
        assert ours == set(records), "domains and records disagree"
        folders = {p.name for p in drv.instances_dir.iterdir()}
        assert folders <= set(records), f"folders without a record: {folders - set(records)}"
        leftovers = [p.name for p in drv.images.images_dir.iterdir() if p.name.startswith(".")]
        assert leftovers == [], leftovers
        assert [i.name for i in drv.images.recover().missing] == []
        # a tap device exists while a record names it, and only then
        taps = {n.tap for i in records.values() for n in i.nics if n.tap is not None}
        assert set(HostTaps(self.data).marked()) == taps
        assert {t for t in taps if (SYSFS_NET / t).exists()} == taps
        # a libvirt secret exists while a recorded volume names it, and only then
        named = {u for i in records.values() for b in i.block_devices for u in secrets_of_volume(b)}
        owned = {s.uuid for found in owned_secrets(drv._ctx).values() for s in found}
        assert owned == named, "libvirt secrets and records disagree"
        for inst in records.values():
            self._devices_match(inst.uuid)
            assert list((drv.instances_dir / inst.uuid).glob(".snapshot-*")) == []

    def _mine(self, uuid: str) -> bool:
        try:
            return str(self.driver.instances_dir / uuid) + "/" in self.driver.domains.xml(uuid)
        except NotFound:
            return False

    def _devices_match(self, uuid: str) -> None:
        drv = self.driver
        inst = drv.db.get_instance(uuid)
        docs = [Domain.from_xml(drv.domains.xml(uuid, inactive=True))]
        running = drv.domains.state(uuid) is PowerState.RUNNING
        if running:
            docs.append(Domain.from_xml(drv.domains.xml(uuid)))
        wanted = {str(b.source) for b in inst.block_devices}
        if not any(b.boot for b in inst.block_devices):  # else the root volume is its root
            wanted.add(str(drv.root_disk_path(uuid)))
        if inst.rescue is not None:  # the rescue disk first, the root disk; no volumes
            wanted = {str(drv.instances_dir / uuid / RESCUE_DISK), str(drv.root_disk_path(uuid))}
        if inst.config_drive is not None:
            wanted.add(str(drv.instances_dir / uuid / CONFIG_DRIVE))
        macs = {n.mac for n in inst.nics}
        for doc in docs:
            assert {disk_source_text(d) for d in doc.devices.disks} == wanted
            assert {(i.mac or "").lower() for i in doc.devices.interfaces} == macs
            if running and doc is docs[-1]:
                for disk in doc.devices.disks:
                    assert drv.domains.block_job_progress(uuid, disk.target_dev or "") is None

    def manageable(self, name: str) -> None:
        """The guest still answers zcompute's operations."""
        self.run("pause", name)
        self.run("unpause", name)


@pytest.fixture(scope="module")
def host(hypervisor: Hypervisor) -> Iterator[Host]:
    """(``hypervisor`` holds this run's lock: other runs' sweeps leave our guests alone.)"""
    data = DATA_DIR / "tests" / f"interrupt-{RUN_ID}-{uuidlib.uuid4().hex[:6]}"
    made = Host(data)
    yield made
    made.close()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    return f"{TEST_PREFIX}{RUN_ID}-int-{uuidlib.uuid4().hex[:8]}"


@pytest.fixture
def tap() -> Iterator[str]:
    """A tap device name for a boot; deleted afterwards if it is still there."""
    name = f"zct{secrets.token_hex(4)}"
    yield name
    if (SYSFS_NET / name).exists():
        subprocess.run(["ip", "link", "delete", "dev", name], check=False)


@pytest.fixture(scope="module")
def running(host: Host) -> Iterator[str]:
    """One running guest for the device and snapshot cases of this module's worker."""
    guest = f"{TEST_PREFIX}{RUN_ID}-int-dev-{uuidlib.uuid4().hex[:6]}"
    host.boot(guest)
    yield guest
    host.run("delete", guest, check=False)


@pytest.fixture(scope="module")
def target(host: Host) -> Iterator[IscsiTarget]:
    """A tgtd of this module's."""
    with running_target(host.volumes) as started:
        yield started


def _chap_export(host: Host, target: IscsiTarget, label: str, user: str) -> tuple[Lun, Path]:
    lun = target.export(label, 1 << 20, chap=(user, "zc-int-chap-secret"))
    password = host.volumes / "chap-password"
    password.write_text("zc-int-chap-secret\n")
    password.chmod(0o600)
    return lun, password


@pytest.fixture(scope="module")
def chap_lun(host: Host, target: IscsiTarget) -> tuple[Lun, Path]:
    """An iSCSI LUN behind CHAP, and a file with its password."""
    return _chap_export(host, target, "int", "zcint")


@pytest.fixture(scope="module")
def swap_lun(host: Host, target: IscsiTarget) -> tuple[Lun, Path]:
    """Another LUN behind CHAP, of chap_lun's size: what the swap cases move the disk onto."""
    return _chap_export(host, target, "swap", "zcswap")


@pytest.fixture(scope="module")
def root_lun(host: Host, target: IscsiTarget) -> tuple[Lun, Path]:
    """An iSCSI LUN behind CHAP that guests boot from (the test image's kernel boots)."""
    return _chap_export(host, target, "root", "zcroot")


def _root_args(root_lun: tuple[Lun, Path]) -> tuple[str, ...]:
    lun, password = root_lun
    return ("--root-volume", f"iscsi://{lun.portal}/{lun.iqn}/{lun.lun}",
            "--root-chap-user", "zcroot", "--root-chap-password-file", str(password))  # fmt: skip


def _iscsi_args(chap_lun: tuple[Lun, Path]) -> tuple[str, ...]:
    lun, password = chap_lun
    return ("--iscsi", lun.portal, "--iqn", lun.iqn, "--lun", str(lun.lun),
            "--chap-user", "zcint", "--chap-password-file", str(password))  # fmt: skip


def _swap_args(swap_lun: tuple[Lun, Path]) -> tuple[str, ...]:
    lun, password = swap_lun
    return ("--iscsi", lun.portal, "--iqn", lun.iqn, "--lun", str(lun.lun),
            "--chap-user", "zcswap", "--chap-password-file", str(password))  # fmt: skip


def _volume(host: Host, label: str) -> Path:
    path = host.volumes / f"{label}-{uuidlib.uuid4().hex[:6]}.img"
    path.write_bytes(b"\0" * (1 << 20))
    return path


# -- the cases ------------------------------------------------------------------------------

pytestmark = pytest.mark.xdist_group("interruptions")


@pytest.mark.parametrize(("step", "action"), cases("spawn"))
def test_spawn(host: Host, name: str, tap: str, step: str, action: str) -> None:
    host.interrupted(f"{step}:{action}", "boot", name, "--image", host.image, "--flavor",
                     SCRATCH.name, "--wait-console", BOOTED, "--hostname", "int",
                     "--tap", tap)  # fmt: skip
    host.converge()
    assert not (SYSFS_NET / tap).exists()
    with pytest.raises(NotFound):  # undone, whichever step it stopped after
        host.driver.get_instance(name)
    assert host.driver.domains.uuid_of(name) is None  # the name is free again


@pytest.mark.parametrize(("step", "action"), cases("spawn_root_volume"))
def test_spawn_root_volume(
    host: Host, name: str, root_lun: tuple[Lun, Path], step: str, action: str
) -> None:
    host.interrupted(f"{step}:{action}", "boot", name, "--image", host.image, "--flavor",
                     TINY.name, "--wait-console", BOOTED, *_root_args(root_lun))  # fmt: skip
    host.converge()  # no secret without a record naming it, no domain without a record
    with pytest.raises(NotFound):
        host.driver.get_instance(name)
    assert host.driver.domains.uuid_of(name) is None


@pytest.mark.parametrize(("step", "action"), cases("destroy"))
def test_destroy(host: Host, name: str, tap: str, step: str, action: str) -> None:
    host.boot(name, "--tap", tap)
    host.interrupted(f"{step}:{action}", "delete", name)
    host.converge()
    if host.driver.instance_exists(name):  # an error before the domain went: still whole
        host.manageable(name)
        host.run("delete", name)
    assert host.driver.domains.uuid_of(name) is None
    assert not (SYSFS_NET / tap).exists()


@pytest.mark.parametrize(("step", "action"), cases("snapshot"))
def test_snapshot(host: Host, running: str, step: str, action: str) -> None:
    image = f"snap-{uuidlib.uuid4().hex[:8]}"
    host.interrupted(f"{step}:{action}", "snapshot", running, image)
    host.converge()
    host.manageable(running)
    host.run("image", "delete", image, check=False)  # made or not: the store is consistent


@pytest.mark.parametrize(("step", "action"), cases("volume_attach"))
def test_volume_attach(host: Host, running: str, step: str, action: str) -> None:
    volume = _volume(host, "attach")
    host.interrupted(f"{step}:{action}", "volume", "attach", running, "--file", str(volume))
    host.converge()
    host.manageable(running)
    for spec in host.driver.get_instance(running).block_devices:
        host.run("volume", "detach", running, spec.target)


@pytest.mark.parametrize(("step", "action"), cases("volume_detach"))
def test_volume_detach(host: Host, running: str, step: str, action: str) -> None:
    volume = _volume(host, "detach")
    host.run("volume", "attach", running, "--file", str(volume), "--target", "vdb")
    host.interrupted(f"{step}:{action}", "volume", "detach", running, "vdb")
    host.converge()
    host.manageable(running)
    if host.driver.get_instance(running).block_devices:
        host.run("volume", "detach", running, "vdb")


@pytest.mark.parametrize(("step", "action"), cases("volume_extend"))
def test_volume_extend(host: Host, running: str, step: str, action: str) -> None:
    volume = _volume(host, "extend")
    host.run("volume", "attach", running, "--file", str(volume), "--target", "vdb")
    os.truncate(volume, 2 << 20)  # the operator grew it
    host.interrupted(f"{step}:{action}", "volume", "extend", running, "vdb")
    host.converge()
    host.manageable(running)
    host.run("volume", "extend", running, "vdb")  # a retry finishes it
    assert host.driver.get_instance(running).block_devices[0].size_bytes == 2 << 20
    host.run("volume", "detach", running, "vdb")


@pytest.mark.parametrize(("step", "action"), cases("volume_swap"))
def test_volume_swap(host: Host, running: str, step: str, action: str) -> None:
    old, new = _volume(host, "swap-old"), _volume(host, "swap-new")
    host.run("volume", "attach", running, "--file", str(old), "--target", "vdb")
    host.interrupted(f"{step}:{action}", "volume", "swap", running, "vdb", str(new))
    host.converge()  # no block job left, record and both definitions agree
    (spec,) = host.driver.get_instance(running).block_devices
    # undone before the switch-over, finished after it: QEMU holds the recorded volume only
    assert spec.source == (old if step in ("volume_swap.copying", "volume_swap.in_sync") else new)
    held = {os.path.realpath(fd) for fd in Path(f"/proc/{qemu_pid(running)}/fd").iterdir()}
    assert str(spec.source) in held
    assert str(new if spec.source == old else old) not in held
    host.manageable(running)
    host.run("volume", "detach", running, "vdb")


@pytest.mark.parametrize(("step", "action"), cases("iscsi_attach"))
def test_iscsi_attach(
    host: Host, running: str, chap_lun: tuple[Lun, Path], step: str, action: str
) -> None:
    host.interrupted(f"{step}:{action}", "volume", "attach", running, *_iscsi_args(chap_lun))
    host.converge()
    host.manageable(running)
    for spec in host.driver.get_instance(running).block_devices:
        host.run("volume", "detach", running, spec.target)


@pytest.mark.parametrize(("step", "action"), cases("iscsi_swap"))
def test_iscsi_swap(
    host: Host,
    running: str,
    chap_lun: tuple[Lun, Path],
    swap_lun: tuple[Lun, Path],
    step: str,
    action: str,
) -> None:
    host.run("volume", "attach", running, *_iscsi_args(chap_lun), "--target", "vdb")
    host.interrupted(f"{step}:{action}", "volume", "swap", running, "vdb", *_swap_args(swap_lun))
    host.converge()  # the CHAP secret of the recorded volume, and no other one
    (spec,) = host.driver.get_instance(running).block_devices
    # undone before the switch-over, finished after it
    before = step in ("volume_swap.secrets_defined", "volume_swap.copying", "volume_swap.in_sync")
    lun = (chap_lun if before else swap_lun)[0]
    assert str(spec.source).endswith(f"/{lun.iqn}/1")
    host.manageable(running)
    host.run("volume", "detach", running, "vdb")


@pytest.mark.parametrize(("step", "action"), cases("iscsi_detach"))
def test_iscsi_detach(
    host: Host, running: str, chap_lun: tuple[Lun, Path], step: str, action: str
) -> None:
    host.run("volume", "attach", running, *_iscsi_args(chap_lun), "--target", "vdb")
    host.interrupted(f"{step}:{action}", "volume", "detach", running, "vdb")
    host.converge()
    host.manageable(running)
    if host.driver.get_instance(running).block_devices:
        host.run("volume", "detach", running, "vdb")


@pytest.mark.parametrize(("step", "action"), cases("nic_attach"))
def test_nic_attach(host: Host, running: str, step: str, action: str) -> None:
    host.interrupted(f"{step}:{action}", "interface", "attach", running,
                     "--network", "zcompute-isolated")  # fmt: skip
    host.converge()
    host.manageable(running)
    for nic in host.driver.get_instance(running).nics:
        host.run("interface", "detach", running, nic.mac or "")


@pytest.mark.parametrize(("step", "action"), cases("nic_detach"))
def test_nic_detach(host: Host, running: str, step: str, action: str) -> None:
    mac = "52:54:00:7a:00:01"
    host.run("interface", "attach", running, "--network", "zcompute-isolated", "--mac", mac)
    host.interrupted(f"{step}:{action}", "interface", "detach", running, mac)
    host.converge()
    host.manageable(running)
    if host.driver.get_instance(running).nics:
        host.run("interface", "detach", running, mac)


@pytest.fixture(scope="module")
def rescuable(host: Host) -> Iterator[str]:
    """One guest for the rescue cases: each leaves it unrescued and running."""
    guest = f"{TEST_PREFIX}{RUN_ID}-int-rsc-{uuidlib.uuid4().hex[:6]}"
    host.boot(guest)
    yield guest
    host.run("delete", guest, check=False)


def _itself_again(host: Host, guest: str) -> None:
    """An interrupted rescue is undone, an unrescue finished: the guest boots as itself."""
    inst = host.driver.get_instance(guest)
    assert inst.rescue is None
    assert not (host.driver.instances_dir / inst.uuid / RESCUE_DISK).exists()
    if host.driver.domains.state(inst.uuid) is not PowerState.RUNNING:
        host.run("start", guest)  # recovery starts no guest
    host.manageable(guest)


@pytest.mark.parametrize(("step", "action"), cases("rescue"))
def test_rescue(host: Host, rescuable: str, step: str, action: str) -> None:
    host.interrupted(f"{step}:{action}", "rescue", rescuable)
    host.converge()
    _itself_again(host, rescuable)


@pytest.mark.parametrize(("step", "action"), cases("unrescue"))
def test_unrescue(host: Host, rescuable: str, step: str, action: str) -> None:
    host.run("rescue", rescuable)
    host.interrupted(f"{step}:{action}", "unrescue", rescuable)
    host.converge()
    _itself_again(host, rescuable)


@pytest.mark.parametrize(("step", "action"), cases("image_import"))
def test_image_import(host: Host, step: str, action: str) -> None:
    image = f"imp-{uuidlib.uuid4().hex[:8]}"
    disk = _volume(host, "import")
    host.interrupted(f"{step}:{action}", "image", "import", image, str(disk), "--arch", "s390x")
    host.converge()
    host.run("image", "delete", image, check=False)


@pytest.mark.parametrize(("step", "action"), cases("image_delete"))
def test_image_delete(host: Host, step: str, action: str) -> None:
    image = f"del-{uuidlib.uuid4().hex[:8]}"
    host.run("image", "import", image, str(_volume(host, "delete")), "--arch", "s390x")
    host.interrupted(f"{step}:{action}", "image", "delete", image)
    host.converge()
    host.run("image", "delete", image, check=False)


# -- the declared steps are the steps the code has ----------------------------------------------


def test_every_step_of_every_operation_has_its_cases(
    host: Host,
    running: str,
    name: str,
    tap: str,
    tmp_path: Path,
    chap_lun: tuple[Lun, Path],
    swap_lun: tuple[Lun, Path],
    root_lun: tuple[Lun, Path],
) -> None:
    def traced(*args: str) -> list[str]:
        trace = tmp_path / f"trace-{uuidlib.uuid4().hex[:6]}"
        host.run(*args, trace=trace)
        return trace.read_text().split() if trace.exists() else []

    volume, image = _volume(host, "trace"), f"trace-{uuidlib.uuid4().hex[:6]}"
    swapped = _volume(host, "trace-swap")
    mac = "52:54:00:7a:00:02"
    seen = {
        "spawn": traced("boot", name, "--image", host.image, "--flavor", SCRATCH.name,
                        "--wait-console", BOOTED, "--hostname", "int", "--tap", tap),
        "spawn_root_volume": traced("boot", f"{name}-r", "--image", host.image, "--flavor",
                                    TINY.name, "--wait-console", BOOTED, *_root_args(root_lun)),
        "snapshot": traced("snapshot", running, image),
        "volume_attach": traced("volume", "attach", running, "--file", str(volume),
                                "--target", "vdc"),
        "volume_extend": traced("volume", "extend", running, "vdc"),
        "volume_swap": traced("volume", "swap", running, "vdc", str(swapped)),
        "volume_detach": traced("volume", "detach", running, "vdc"),
        "iscsi_attach": traced("volume", "attach", running, *_iscsi_args(chap_lun),
                               "--target", "vdc"),
        "iscsi_swap": traced("volume", "swap", running, "vdc", *_swap_args(swap_lun)),
        "iscsi_detach": traced("volume", "detach", running, "vdc"),
        "nic_attach": traced("interface", "attach", running, "--network", "zcompute-isolated",
                             "--mac", mac),
        "nic_detach": traced("interface", "detach", running, mac),
        "rescue": traced("rescue", name),
        "unrescue": traced("unrescue", name),
        "destroy": traced("delete", name),
        "image_delete": traced("image", "delete", image),
        "image_import": traced("image", "import", image, str(volume), "--arch", "s390x"),
    }  # fmt: skip
    host.run("image", "delete", image)
    host.run("delete", f"{name}-r")
    assert seen == STEPS
