"""An iSCSI volume with CHAP hot-plugged into a running s390x guest and out again: zcompute's
``attach_volume_connection``/``detach_volume`` against the raw libvirt calls they wrap, side by
side, each timed until the guest itself reports the disk added (or removed).

The volume is a LUN of a tgtd this benchmark starts on 127.0.0.1 (tests/e2e/iscsi_target.py).
zcompute's side parses Cinder's ``connection_info``, defines the CHAP secret, attaches, records
and (on detach) removes the secret again; the raw side defines a secret and attaches the very
disk XML zcompute produced, then detaches it and undefines the secret. The guest's init reports
block devices every 0.2 s, which both sides pay alike. Goal: ratio <= 1.15.
"""

from __future__ import annotations

import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

import libvirt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' iSCSI target

from tests.e2e.iscsi_target import running_target
from tests.e2e.lifecycle_support import BOOTED, LogWatch

from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.model import Flavor
from zcompute.testimage import build_test_image, import_test_image

ROUNDS = 5
FLAVOR = Flavor("bench-volumes", 1, 256, 1)
MIB = 1 << 20
_SECRET = """<secret ephemeral='no' private='yes'><uuid>{uuid}</uuid>
<usage type='iscsi'><target>zcompute-bench:{uuid}</target></usage></secret>"""


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="zcompute-bench-", dir="/var/lib/zcompute"))
    data.chmod(0o755)
    driver = ComputeDriver(Config(virt_type="qemu", data_dir=data))
    driver.db.add_flavor(FLAVOR)
    image = import_test_image(driver.images, build_test_image("s390x", Path("/var/lib/zcompute")))
    conn = libvirt.open("qemu:///system")
    target_dir = data / "iscsi"
    target_dir.mkdir()
    times: dict[str, list[float]] = {"zc-attach": [], "zc-detach": [], "raw-attach": [],
                                     "raw-detach": []}  # fmt: skip
    inst = None
    try:
        with running_target(target_dir) as target:
            lun = target.export("bench", 32 * MIB, chap=("benchuser", "bench-secret-123"))
            inst = driver.spawn("zctest-bench-volumes", image, FLAVOR.name, wait_for=BOOTED)
            dom = conn.lookupByUUIDString(inst.uuid)
            with LogWatch(driver.console_log_path(inst.uuid)) as log:
                for _ in range(ROUNDS + 1):  # the first round of each side warms up
                    disk_xml = _zcompute_round(driver, inst.uuid, lun, log, times)
                    _raw_round(conn, dom, disk_xml, log, times)
    finally:
        if inst is not None:
            driver.destroy(inst.uuid)
        driver.close()
        conn.close()
        shutil.rmtree(data, ignore_errors=True)
    _report(times)


def _zcompute_round(
    driver: ComputeDriver, uuid: str, lun: object, log: LogWatch, times: dict[str, list[float]]
) -> str:
    volume_id = str(uuidlib.uuid4())
    info = lun.connection_info(volume_id)  # type: ignore[attr-defined]
    log.mark()
    start = time.perf_counter()
    spec = driver.attach_volume_connection(uuid, info, target="vdb")
    log.wait(rf"ZCOMPUTE-BLOCK added name=\S+ sectors=\d+ serial={volume_id[:20]}")
    times["zc-attach"].append(time.perf_counter() - start)
    live = driver.domain_xml(uuid)
    disk_xml = re.search(r"<disk type='network'.*?</disk>", live, re.S)
    assert disk_xml is not None
    start = time.perf_counter()
    driver.detach_volume(uuid, spec.target)
    log.wait(r"ZCOMPUTE-BLOCK removed")
    times["zc-detach"].append(time.perf_counter() - start)
    return disk_xml.group(0)


def _raw_round(
    conn: libvirt.virConnect,
    dom: libvirt.virDomain,
    disk_xml: str,
    log: LogWatch,
    times: dict[str, list[float]],
) -> None:
    volume_id = str(uuidlib.uuid4())
    secret_uuid = str(uuidlib.uuid4())
    xml = re.sub(r"uuid='[^']+'", f"uuid='{secret_uuid}'", disk_xml)
    xml = re.sub(r"<serial>[^<]*</serial>", f"<serial>{volume_id[:20]}</serial>", xml)
    xml = re.sub(r"<alias name='[^']*'/>", "", xml)
    xml = re.sub(r"<address type='ccw'[^>]*/>", "", xml)
    log.mark()
    flags = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
    start = time.perf_counter()
    secret = conn.secretDefineXML(_SECRET.format(uuid=secret_uuid))
    secret.setValue(b"bench-secret-123")
    dom.attachDeviceFlags(xml, flags)
    log.wait(rf"ZCOMPUTE-BLOCK added name=\S+ sectors=\d+ serial={volume_id[:20]}")
    times["raw-attach"].append(time.perf_counter() - start)
    start = time.perf_counter()
    dom.detachDeviceFlags(xml, flags)
    log.wait(r"ZCOMPUTE-BLOCK removed")
    secret.undefine()
    times["raw-detach"].append(time.perf_counter() - start)


def _report(times: dict[str, list[float]]) -> None:
    median = {key: statistics.median(values[1:]) for key, values in times.items()}
    print(f"\ns390x iSCSI volume with CHAP, seen by the guest; median of {ROUNDS} after a warm-up")
    for step in ("attach", "detach"):
        raw, zc = median[f"raw-{step}"], median[f"zc-{step}"]
        print(f"  {step}: raw libvirt {raw * 1e3:8.1f} ms   zcompute {zc * 1e3:8.1f} ms   "
              f"zcompute/raw = {zc / raw:.2f}")  # fmt: skip
    print("goal: zcompute/raw <= 1.15 for each")


if __name__ == "__main__":
    main()
