"""Live migration of s390x guests (TCG) to a second host: zcompute against raw libvirt.

``ComputeDriver.migrate`` against the ``migrate3`` it wraps, side by side, from this host to
the second host on this machine (scripts/second-host, started if it is not running).

    .venv/bin/python benchmarks/bench_migrate.py [--rounds 5] [--disk-mib 32] [--settle 2]

Two cases, each with two guests zcompute spawns alike on host A (the test kernel and initramfs,
1 vCPU, 256 MiB): one moves with ``ComputeDriver.migrate``, the other with raw libvirt calls.

* disk: the guest has its own root disk, a 1 GiB qcow2 overlay over a small qcow2 disk image
  (``kernel_id``: the test kernel) to which it writes ``--disk-mib`` MiB once. zcompute prepares
  host B (record, images adopted, disk, files) and libvirt copies the disk over NBD. The raw side
  makes a folder, ``qemu-img create``s the disk over the same base (host B's copy) and calls
  ``migrate3`` with NON_SHARED_INC, MIGRATE_DISKS [vda], host B's paths in DEST_XML and
  PERSIST_XML, as zcompute's virt layer does; its measured span includes all of that.
* memory: a kernel-boot guest without disks (root_gib 0): only memory and device state move.

The raw side boots host B's store copy of the kernel and initramfs in place (zcompute copies
them into the guest's folder: part of what is measured, as in bench_spawn). Times are wall
times around the call; "own" is what remains without libvirt's migrate3 call. Downtime is
libvirt's (completed job stats on host B). Each round moves the zcompute guest A -> B (timed)
and back, then the raw one, each after ``--settle`` s; the first round warms up (zcompute's
pays adopting the images into host B's store). Goal: zcompute/raw <= 1.1.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import libvirt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' helpers

from tests.e2e.conftest import DATA_DIR, RUN_ID, TEST_PREFIX, get_test_image, hold_run_lock
from tests.e2e.lifecycle_support import BOOTED, open_shell, run

from zcompute.config import Config
from zcompute.driver import KERNEL_ID_PROPERTY, ComputeDriver
from zcompute.errors import ZcomputeError
from zcompute.model import Flavor, Image
from zcompute.testimage import import_test_image

SECOND_HOST = str(Path(__file__).resolve().parents[1] / "scripts" / "second-host")
PREFIX = f"{TEST_PREFIX}{RUN_ID}-bench-migrate-"
CASES = {
    "disk": Flavor(f"{TEST_PREFIX}bench-migrate-disk", 1, 256, 1),
    "memory": Flavor(f"{TEST_PREFIX}bench-migrate-memory", 1, 256, 0),
}
FLAGS = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PERSIST_DEST
FLAGS |= libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
DISK = "disk.qcow2"
_MIGRATE3: list[float] = []  # seconds of each of libvirt's migrate3 calls, zcompute's and raw


class Round(NamedTuple):
    """One timed migration: its wall time and libvirt's migrate3 call in it (s), downtime."""

    total: float
    libvirt: float
    downtime_ms: int

    def __str__(self) -> str:
        return (f"{self.total * 1e3:.0f} ms (migrate3 {self.libvirt * 1e3:.0f} ms, "
                f"downtime {self.downtime_ms} ms)")  # fmt: skip


Figures = dict[str, list[Round]]  # "zcompute"/"raw": the rounds, the warm-up first


@dataclasses.dataclass(frozen=True)
class Place:
    """Where the raw guest's files are on one host: its folder, kernel, initrd, disk base."""

    folder: Path
    kernel: str
    initrd: str
    base: str | None

    def moves_to(self, other: Place) -> list[tuple[str, str]]:
        pairs = [(self.kernel, other.kernel), (self.initrd, other.initrd)]
        if self.base is not None and other.base is not None:
            pairs.append((self.base, other.base))
        return [*pairs, (f"{self.folder}/", f"{other.folder}/")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after a warm-up")
    parser.add_argument("--disk-mib", type=int, default=32, help="data the disk guest writes")
    parser.add_argument("--settle", type=float, default=2.0, help="rest (s) before each timed move")
    args = parser.parse_args()
    if args.rounds < 1 or args.disk_mib < 0:
        parser.error("--rounds must be at least 1, --disk-mib at least 0")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # cleans up as after Ctrl-C
    _time_migrate3()
    hold_run_lock()  # a test session's sweep leaves our zctest-<run>- guests alone while we run
    subprocess.run([SECOND_HOST, "start"], check=True)
    uri_b = subprocess.check_output([SECOND_HOST, "uri"], text=True).strip()
    data = Path(tempfile.mkdtemp(prefix="zcompute-bench-migrate-", dir=DATA_DIR))
    data.chmod(0o755)
    a = ComputeDriver(Config(virt_type="qemu", data_dir=data / "a"))
    b = ComputeDriver(Config(virt_type="qemu", uri=uri_b, data_dir=data / "b"))
    results: dict[str, Figures] = {}
    try:
        for drv in (a, b):
            drv.init_host()
            for flavor in CASES.values():
                drv.db.add_flavor(flavor)
        kernel = import_test_image(a.images, get_test_image("s390x"))
        disk_image = _disk_image(a, kernel, data)
        for case, image in (("disk", disk_image), ("memory", kernel)):
            results[case] = _case(case, a, b, image, kernel, data, args)
    finally:
        _clean_up(a, b)
        shutil.rmtree(data, ignore_errors=True)
    _report(results, args.rounds, args.disk_mib)


def _time_migrate3() -> None:
    """Time libvirt's own migrate3 calls (zcompute's, in its worker thread, and raw's): what
    remains of a round is the side's own work before and after libvirt's migration."""
    call = libvirt.virDomain.migrate3

    def timed(dom: libvirt.virDomain, *args: object) -> object:
        start = time.perf_counter()
        try:
            return call(dom, *args)
        finally:
            _MIGRATE3.append(time.perf_counter() - start)

    libvirt.virDomain.migrate3 = timed


def _disk_image(a: ComputeDriver, kernel: Image, data: Path) -> Image:
    """A 64 MiB qcow2 disk image (8 MiB of it data) that boots with the test kernel."""
    raw = data / "base.raw"
    with raw.open("wb") as out:
        out.write(bytes(range(256)) * (8 << 12))
        out.truncate(64 << 20)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, data / "base.qcow2"],
                   check=True)  # fmt: skip
    props = {KERNEL_ID_PROPERTY: kernel.id}
    return a.images.import_file(
        "bench-migrate-disk", data / "base.qcow2", arch="s390x", properties=props
    )


def _case(
    case: str,
    a: ComputeDriver,
    b: ComputeDriver,
    image: Image,
    kernel: Image,
    data: Path,
    args: argparse.Namespace,
) -> Figures:
    flavor, size = CASES[case].name, CASES[case].root_gib
    zc = a.spawn(f"{PREFIX}{case}-zc", image, flavor, wait_for=BOOTED)
    raw = a.spawn(f"{PREFIX}{case}-raw", image, flavor, wait_for=BOOTED)
    if case == "disk":  # data of its own on its disk, that each migration copies
        for name in (zc.name, raw.name):
            with open_shell(a, name) as shell:
                run(shell, f"dd if=/dev/urandom of=/dev/vda bs=1M count={args.disk_mib} conv=fsync "
                           "2>/dev/null", timeout=300)  # fmt: skip
    at_a = Place(
        a.instances_dir / raw.uuid,
        str(a.instances_dir / raw.uuid / "kernel"),
        str(a.instances_dir / raw.uuid / "initrd"),
        None if image.path is None else str(image.path),
    )
    figures: Figures = {"zcompute": [], "raw": []}
    rounds, settle = args.rounds, args.settle
    for i in range(rounds + 1):  # each guest goes there (timed) and back, in turn
        print(f"{case} round {i}{' (warm-up)' if i == 0 else ''}: ", end="", flush=True)
        time.sleep(settle)
        start = time.perf_counter()
        moved = a.migrate(zc.name, b)
        figures["zcompute"].append(
            Round(time.perf_counter() - start, _MIGRATE3[-1], moved.downtime_ms)
        )
        b.migrate(zc.name, a)
        b_kernel = b.images.get(kernel.id)  # host B's copies (adopted by zcompute's first move)
        at_b = Place(
            data / "b-raw" / raw.uuid,
            str(b_kernel.kernel_path),
            str(b_kernel.initrd_path),
            None if image.path is None else str(b.images.get(image.id).path),
        )
        time.sleep(settle)
        figures["raw"].append(_raw_move(a.hv.conn, b.hv.conn, raw.uuid, at_a, at_b, size))
        (at_a.folder / DISK).unlink(missing_ok=True)  # the raw side's disk there is stale
        _raw_move(b.hv.conn, a.hv.conn, raw.uuid, at_b, at_a, size)
        shutil.rmtree(at_b.folder)
        print(", ".join(f"{side} {rows[-1]}" for side, rows in figures.items()))
    for uuid in (zc.uuid, raw.uuid):
        a.destroy(uuid)
    return figures


def _raw_move(
    src: libvirt.virConnect,
    dst: libvirt.virConnect,
    uuid: str,
    here: Place,
    there: Place,
    size_gib: int,
) -> Round:
    """Raw libvirt's live migration of domain ``uuid`` with its files from ``here`` to
    ``there``: the destination's folder and disk made, then ``migrate3``."""
    start = time.perf_counter()
    there.folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    dom = src.lookupByUUIDString(uuid)
    flags = FLAGS
    params: dict[str, object] = {
        libvirt.VIR_MIGRATE_PARAM_URI: "tcp://127.0.0.1",
        libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS: "127.0.0.1",
    }
    if there.base is not None:
        disk = str(there.folder / DISK)
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-b", there.base, "-F", "qcow2", disk,
             f"{size_gib}G"],
            check=True,
        )  # fmt: skip
        flags |= libvirt.VIR_MIGRATE_NON_SHARED_INC
        params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = ["vda"]
        params[libvirt.VIR_MIGRATE_PARAM_DISKS_URI] = "tcp://127.0.0.1"
    inactive = libvirt.VIR_DOMAIN_XML_INACTIVE
    for key, xml_flags in ((libvirt.VIR_MIGRATE_PARAM_DEST_XML, 0),
                           (libvirt.VIR_MIGRATE_PARAM_PERSIST_XML, inactive)):  # fmt: skip
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE | xml_flags)
        for old, new in here.moves_to(there):
            xml = xml.replace(old, new)
        params[key] = xml
    dom.migrate3(dst, params, flags)
    seconds = time.perf_counter() - start
    stats = dst.lookupByUUIDString(uuid).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    return Round(seconds, _MIGRATE3[-1], int(stats.get("downtime", 0)))


def _clean_up(a: ComputeDriver, b: ComputeDriver) -> None:
    """Every guest of this run, on both hosts: raw ones on B by name, the rest by record."""
    for dom in b.hv.conn.listAllDomains():
        if dom.name().startswith(PREFIX) and dom.name().endswith("-raw"):
            with contextlib.suppress(libvirt.libvirtError):
                dom.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefine()
    for drv in (b, a):
        for inst in drv.db.list_instances():
            try:
                drv.destroy(inst.uuid)
            except ZcomputeError as err:
                print(f"cleaning up {inst.name}: {err}", file=sys.stderr)
        drv.close()


def _report(results: dict[str, Figures], rounds: int, disk_mib: int) -> None:
    print(
        f"\ns390x live migration host A -> host B (TCG, 1 vCPU, 256 MiB), ms, "
        f"median of {rounds} after a warm-up; own: the side's work besides libvirt's migrate3"
    )
    print(f"  {'':<27}{'raw libvirt':^20}{'zcompute':^20}   zcompute/raw")
    print(f"  {'case':<27}{' total downtime  own' * 2}   total downtime")
    labels = {"disk": f"with storage copy ({disk_mib} MiB)", "memory": "memory only"}
    notes: list[str] = []
    for case, figures in results.items():
        raw, zc = (_medians(figures[side][1:]) for side in ("raw", "zcompute"))
        down = f"{zc[1] / raw[1]:8.2f}" if raw[1] else "     n/a"
        cells = "".join(f" {t:5.0f} {d:8.0f} {o:4.0f}" for t, d, o in (raw, zc))
        print(f"  {labels[case]:<27}{cells}   {zc[0] / raw[0]:5.2f} {down}")
        extra = zc[2] - raw[2]  # what zcompute adds, without the noise of libvirt's migration
        notes.append(f"  {labels[case]}: zcompute's own work adds {extra:.0f} ms, "
                     f"{(raw[0] + extra) / raw[0]:.3f}x raw's median total")  # fmt: skip
    print("\n".join(notes))
    print("goal: zcompute/raw <= 1.1 (total time)")


def _medians(rows: list[Round]) -> tuple[float, float, float]:
    """Medians of the rounds (ms): total time, downtime, own work (total - migrate3)."""
    return (
        statistics.median(r.total for r in rows) * 1e3,
        statistics.median(r.downtime_ms for r in rows),
        statistics.median(r.total - r.libvirt for r in rows) * 1e3,
    )


if __name__ == "__main__":
    main()
