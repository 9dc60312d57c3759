"""list_instances + get_info for 500 guests: zcompute against libvirt bulk and per-domain calls.

Run twice: on libvirt's in-process ``test:///default`` driver (the issue's setting), and on the
real ``qemu:///system`` daemon with 500 defined (inactive) guests, where every per-domain call
is a round trip to libvirtd. Goals: zcompute within 1.5x of one raw ``getAllDomainStats`` call,
and at least 10x faster than one call per domain (only measurable where calls cost a round trip).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid as uuidlib
from pathlib import Path

import libvirt
from lxml import etree

from _common import best_of, report
from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.model import Flavor, Instance, InstanceState, Task

COUNT = 500
STATS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_BALLOON
)


def _domain_xml(domain_type: str, name: str, uuid: str) -> str:
    dom = etree.Element("domain", type=domain_type)
    etree.SubElement(dom, "name").text = name
    etree.SubElement(dom, "uuid").text = uuid
    etree.SubElement(dom, "memory", unit="MiB").text = "256"
    os_ = etree.SubElement(dom, "os")
    kind = etree.SubElement(os_, "type")
    kind.text = "hvm"
    if domain_type == "qemu":
        kind.set("arch", "s390x")
        kind.set("machine", "s390-ccw-virtio")
    return etree.tostring(dom, encoding="unicode")


def _populate(driver: ComputeDriver, domain_type: str, start: bool) -> list[str]:
    work = Path(tempfile.mkdtemp())
    (work / "k").write_bytes(b"kernel")
    image = driver.images.import_kernel("bench-kernel", work / "k", None, None, "s390x")
    flavor = driver.db.add_flavor(Flavor("bench", 1, 256, 0))
    uuids = []
    conn = driver.hv.conn
    for i in range(COUNT):
        uuid = str(uuidlib.uuid4())
        name = f"zctest-bench-{i:04d}-{uuid[:6]}"
        dom = conn.defineXML(_domain_xml(domain_type, name, uuid))
        if start:
            dom.create()
        inst = Instance(uuid=uuid, name=name, flavor=flavor, image=image, arch="s390x")
        driver.db.add_instance(inst.replace(state=InstanceState.RUNNING, task=None))
        uuids.append(uuid)
    shutil.rmtree(work)
    return uuids


def _per_domain(conn: libvirt.virConnect, uuids: list[str]) -> None:
    for uuid in uuids:
        dom = conn.lookupByUUIDString(uuid)
        dom.info()


def run(uri: str, domain_type: str, start: bool) -> dict[str, float]:
    data = Path(tempfile.mkdtemp(prefix="zcompute-bench-"))
    driver = ComputeDriver(Config(uri=uri, virt_type="qemu", data_dir=data))
    uuids = _populate(driver, domain_type, start)
    conn = driver.hv.conn
    try:
        assert len(driver.list_instances()) == COUNT
        rows = [
            ("raw getAllDomainStats (one call)", best_of(lambda: conn.getAllDomainStats(STATS, 0))),
            ("zcompute list_instances (names+info)", best_of(driver.list_instances)),
            ("per domain: lookupByUUID + info()", best_of(lambda: _per_domain(conn, uuids), 3)),
        ]
        return report(f"{COUNT} guests on {uri}", rows, "raw getAllDomainStats (one call)")
    finally:
        if uri != "test:///default":
            for uuid in uuids:
                conn.lookupByUUIDString(uuid).undefine()
        driver.close()
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    _ = Task  # the records are written as finished (no task running)
    test = run("test:///default", "test", start=True)
    real = run("qemu:///system", "qemu", start=False)
    for label, ratios in (("test:///default", test), ("qemu:///system", real)):
        z = ratios["zcompute list_instances (names+info)"]
        per = ratios["per domain: lookupByUUID + info()"]
        print(
            f"{label}: zcompute/raw = {z:.2f} (goal <= 1.5); per-domain/zcompute = {per / z:.1f}x"
        )


if __name__ == "__main__":
    main()
