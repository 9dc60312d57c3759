"""zcompute's spawn of an s390x guest against the raw libvirt work it wraps, side by side.

Both sides start the same guest from a warm image store: zcompute's ``spawn`` (plan, record,
disk, XML, define, start, wait until running) against the bare minimum done by hand: a
``qemu-img create`` for the disk plus one ``createXML`` of the identical domain XML.
Goal: ratio <= 1.15. Guests are destroyed between runs (not timed).
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

from zcompute.builder import build_domain_xml
from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.model import Flavor
from zcompute.testimage import build_test_image, import_test_image

ROUNDS = 7
FLAVOR = Flavor("bench-spawn", 1, 256, 1)


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="zcompute-bench-", dir="/var/lib/zcompute"))
    data.chmod(0o755)
    driver = ComputeDriver(Config(virt_type="qemu", data_dir=data))
    driver.db.add_flavor(FLAVOR)
    image = import_test_image(driver.images, build_test_image("s390x", Path("/var/lib/zcompute")))
    raw_dir = data / "raw"
    raw_dir.mkdir(mode=0o755)
    spawn_times, raw_times = [], []
    try:
        for i in range(ROUNDS + 1):  # the first round of each side warms up
            name = f"zctest-bench-spawn-{i}"
            start = time.perf_counter()
            inst = driver.spawn(name, image, FLAVOR.name)
            spawn_times.append(time.perf_counter() - start)
            plan = driver.plan(f"zctest-bench-raw-{i}", image, FLAVOR.name)
            driver.destroy(inst.uuid)
            raw_times.append(_raw(driver, plan, raw_dir))
    finally:
        driver.close()
        shutil.rmtree(data, ignore_errors=True)
    zc, raw = statistics.median(spawn_times[1:]), statistics.median(raw_times[1:])
    print(f"\ns390x spawn, median of {ROUNDS} (after one warm-up each)")
    print(f"  raw: qemu-img create + createXML       {raw * 1e3:8.1f} ms   1.00x")
    print(f"  zcompute spawn                          {zc * 1e3:8.1f} ms   {zc / raw:.2f}x")
    print(f"zcompute/raw = {zc / raw:.2f} (goal <= 1.15)")


def _raw(driver: ComputeDriver, plan: object, raw_dir: Path) -> float:
    from zcompute.driver import GuestPlan

    assert isinstance(plan, GuestPlan)
    instance_dir = Path(plan.console_log).parent
    disk = plan.disks[0].source
    # raw libvirt boots the store's kernel and initrd in place; zcompute gives each guest its
    # own copy (a QEMU must never own a shared kernel): that copy is part of what is measured
    store = {copy: source for source, copy in plan.boot_files}
    plan = dataclasses.replace(
        plan,
        kernel=store.get(plan.kernel or "", plan.kernel),
        initrd=store.get(plan.initrd or "", plan.initrd),
    )
    xml = build_domain_xml(plan)  # built before the clock starts: the raw side only does I/O
    start = time.perf_counter()
    instance_dir.mkdir(mode=0o755)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", disk, f"{FLAVOR.root_gib}G"], check=True
    )
    uuid = driver.domains.create_transient(xml)
    elapsed = time.perf_counter() - start
    driver.domains.destroy_if_exists(uuid)
    shutil.rmtree(instance_dir)
    _ = uuidlib, raw_dir
    return elapsed


if __name__ == "__main__":
    main()
