"""zcompute's Nova driver against Nova's own libvirt driver (the peer), side by side.

Both drivers run in one Nova functional harness (tests/e2e/nova/harness.py,
SideBySideHarnessTest: in-process API, conductor, scheduler, Placement, Glance and Neutron
fixtures; zcompute's driver on compute host ``compute``, Nova's ``libvirt.LibvirtDriver`` on host
``peer``) on this machine's libvirtd (qemu:///system, TCG), their boots interleaved (each driver
first every other round) so both see the same load on the host. Each boots the same s390x
test image (an ``ami`` with ``kernel_id``/``ramdisk_id``, ``hw_emulation_architecture=s390x``,
``hw_machine_type=s390-ccw-virtio``) with the same flavor and no network, and measures per boot:

- POST /servers -> status ACTIVE (GET /servers/<id> polled every 0.1 s);
- POST /servers -> the guest's banner ``ZCOMPUTE-GUEST-READY`` in os-getConsoleOutput (0.1 s);
- DELETE /servers/<id> -> 404.

    .venv/bin/python benchmarks/bench_nova.py [--boots N] [--warmup W] [--xml-dir DIR]

The first W boots of each driver (default 1) fetch the image from Glance into the driver's
image cache; they are shown but not in the medians. Goal (issue): zcompute/Nova <= 1.0.
Afterwards the domain XMLs of one booted guest each are compared on what matters on s390x.
Exits non-zero when a boot fails. Every guest is named ``zctest-...`` and removed, also on
failure (the harness's cleanup).
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import sys
import time
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "src", ROOT):  # this checkout's zcompute and its tests' Nova harness
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tests.e2e.conftest import _hold_run_lock  # noqa: E402
from tests.e2e.nova.harness import SideBySideHarnessTest, remove_guests  # noqa: E402

BANNER = "ZCOMPUTE-GUEST-READY"
POLL = 0.1
DRIVERS = ("zcompute", "nova-libvirt")


class Boot:
    """One boot's figures (seconds from the request) and what the console showed."""

    def __init__(self, active: float, banner: float, delete: float, console: str) -> None:
        self.active, self.banner, self.delete = active, banner, delete
        self.console = console


class Bench(SideBySideHarnessTest):
    """The benchmark as a test of the side-by-side harness (its fixtures start and stop Nova's
    services and remove every guest and file, also on failure)."""

    boots = 3
    warmup = 1
    results: dict[str, dict[str, Any]] = {}

    def test_boots(self) -> None:
        image = self.upload_test_image("s390x")  # with hw_machine_type, for both drivers
        flavor = self.flavor()
        for driver in DRIVERS:
            self.results[driver] = {"boots": [], "xml": ""}
        for round_ in range(self.warmup + self.boots):
            # interleaved, each driver first every other round: both see the same host load
            for driver in DRIVERS if round_ % 2 == 0 else DRIVERS[::-1]:
                boot, xml = self._boot_and_delete(driver, image, flavor)
                self.results[driver]["boots"].append(boot)
                self.results[driver]["xml"] = self.results[driver]["xml"] or xml
        self.results["nova-libvirt"]["acpi_dropped"] = self.acpi_dropped

    def _boot_and_delete(self, driver: str, image: str, flavor: str) -> tuple[Boot, str]:
        body = self.server_body(driver, image, flavor)
        start = time.perf_counter()
        server = self.api.post_server({"server": body})
        deadline = start + 300
        while (server := self.api.get_server(server["id"]))["status"] != "ACTIVE":
            if server["status"] == "ERROR" or time.perf_counter() > deadline:
                raise AssertionError(f"{driver}: server {server['id']}: {server['status']}")
            time.sleep(POLL)
        active = time.perf_counter() - start
        console = ""
        while BANNER not in console:
            if time.perf_counter() > deadline:
                raise AssertionError(f"{driver}: no banner; console:\n{console[-3000:]}")
            time.sleep(POLL)
            reply = self.api.post_server_action(server["id"], {"os-getConsoleOutput": {}})
            console = reply["output"]
        banner = time.perf_counter() - start
        xml = self.domain_xml(server)
        start = time.perf_counter()
        self.api.delete_server(server["id"])
        url = f"/servers/{server['id']}"
        while self.api.api_get(url, check_response_status=False).status != 404:
            if time.perf_counter() > start + 120:
                raise AssertionError(f"{driver}: server {server['id']} not deleted")
            time.sleep(POLL)
        delete = time.perf_counter() - start
        leftovers = self.host_leftovers(server)
        assert leftovers == [], f"{driver}: left on the host after delete: {leftovers}"
        return Boot(active, banner, delete, console), xml


def run(boots: int, warmup: int) -> None:
    Bench.boots, Bench.warmup = boots, warmup
    case = Bench("test_boots")
    result = unittest.TestResult()
    try:
        case.run(result)
    finally:  # the harness cleans up itself; this is for an interrupted run
        if hasattr(case, "prefix"):
            remove_guests(case.prefix, case.data_root)
    problems = result.errors + result.failures
    if problems or "acpi_dropped" not in Bench.results.get("nova-libvirt", {}):
        for _, text in problems:
            print(_tail(text), file=sys.stderr)
        raise SystemExit("bench_nova: the boots failed")


def _tail(text: str, lines: int = 40) -> str:
    """The traceback at the end of a testtools error (the Nova log before it is long)."""
    return "\n".join(text.splitlines()[-lines:])


# -- the report ---------------------------------------------------------------------------------


def report(boots: int, warmup: int) -> None:
    zc, nova = Bench.results["zcompute"], Bench.results["nova-libvirt"]
    print(
        f"\ns390x guest through Nova's API (TCG), median of {boots} boots after {warmup} "
        "warm-up, the two drivers' boots interleaved"
    )
    print(f"  {'':26} {'zcompute':>10} {'nova-libvirt':>13} {'zcompute/nova':>14}")
    ratios = {}
    for key, title in (("active", "POST -> ACTIVE"), ("banner", "POST -> guest banner"),
                       ("delete", "DELETE -> gone")):  # fmt: skip
        a, b = _median(zc, key, warmup), _median(nova, key, warmup)
        ratios[key] = a / b
        print(f"  {title:26} {a:9.2f}s {b:12.2f}s {ratios[key]:13.2f}x")
    for label, res in (("zcompute", zc), ("nova-libvirt", nova)):
        runs = res["boots"]
        each = ", ".join(f"{b.active:.2f}/{b.banner:.2f}/{b.delete:.2f}" for b in runs)
        print(f"  {label} each boot (ACTIVE/banner/delete s, warm-up first): {each}")
    print(f"  (polled every {POLL} s: differences below that are within the resolution)")
    goal = all(r <= 1.0 for r in ratios.values())
    print(
        "zcompute/nova: "
        + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
        + f" (goal <= 1.0: {'met' if goal else 'NOT met'})"
    )
    print("\nEarly boot output in os-getConsoleOutput when the banner showed (last boot)")
    for label, res in (("zcompute", zc), ("nova-libvirt", nova)):
        print(f"  {label:13} {_console_summary(res['boots'][-1].console)}")
    if nova["acpi_dropped"]:
        print(
            "  note: libvirt refused Nova's <acpi/> on s390-ccw-virtio; the peer's domains were "
            "defined again without it (tests/e2e/nova/harness.py, PeerHarnessTest)"
        )
    print("\nDomain XML of one booted guest each: what matters on s390x")
    zrows, nrows = _xml_facts(zc["xml"]), _xml_facts(nova["xml"])
    if nova["acpi_dropped"]:
        nrows["features"] += " (asked for acpi: refused)"
    width = max(len(v) for v in zrows.values()) + 2
    print(f"  {'':16} {'zcompute':<{width}} nova-libvirt")
    for key in zrows:
        mark = " " if zrows[key] == nrows[key] else "*"
        print(f"{mark} {key:16} {zrows[key]:<{width}} {nrows[key]}")
    print("  (* differs)")
    for label, res in (("zcompute", zc), ("nova-libvirt", nova)):
        print(f"  kernel command line, {label}: {ET.fromstring(res['xml']).findtext('os/cmdline')}")
    for key, why in _WHY.items():
        if zrows.get(key) != nrows.get(key):
            print(f"  {key}: {why}")


def _median(res: dict[str, Any], key: str, warmup: int) -> float:
    return statistics.median(getattr(b, key) for b in res["boots"][warmup:])


def _console_summary(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    first = lines[0].strip()[:60] if lines else ""
    has_version = "Linux version" in text and text.index("Linux version") < text.index(BANNER)
    init = re.search(r"\[\s*([0-9.]+)\] Run /init", text)
    return (
        f"{len(lines)} lines up to the banner; 'Linux version' line: "
        f"{'yes' if has_version else 'no (earliest kernel lines lost)'}; "
        f"guest clock at 'Run /init': {init.group(1) + ' s' if init else '-'}; first: {first!r}"
    )


_WHY = {
    "features": "s390-ccw-virtio has no ACPI and no APIC; newer libvirt refuses <acpi/> there",
    "cpu": "an s390x CPU model decides which facilities the guest may use and migrate with",
    "consoles": "zcompute's sclplm (line-mode) console logs to a file from the kernel's first "
    "line; Nova's sclp (VT220) pty registers later and replays the kernel's buffer then: the "
    "early lines show up late, and never if the boot stops before (zcompute's command line "
    "also sends the kernel's messages to both consoles)",
    "watchdog": "diag288 is the s390x watchdog; on request (hw:watchdog_action) zcompute adds "
    "it, Nova's driver always adds the PCI i6300esb, which s390-ccw-virtio has no bus for",
    "usb/input": "s390-ccw-virtio has no USB: a USB tablet or controller makes libvirt refuse "
    "the domain",
    "memballoon": "virtio-balloon-ccw reports guest memory statistics",
    "disks": "virtio-blk on the CCW bus; Nova's qcow2 overlays a raw _base copy with "
    "cache=none, zcompute's disk has no backing file and the default cache mode",
    "on_crash": "what a guest crash (a restart interrupt without kdump) does to the domain",
    "rng": "Nova adds a virtio-rng (ccw) by default; zcompute on request",
}


def _xml_facts(xml: str) -> dict[str, str]:
    """The parts of a domain XML that matter on s390x, each as one short text."""
    root = ET.fromstring(xml)
    dev = root.find("devices")
    assert dev is not None
    os_type = root.find("os/type")
    features = root.find("features")
    cpu = root.find("cpu")
    cpu_text = "none"
    if cpu is not None:
        model = cpu.find("model")
        cpu_text = f"mode={cpu.get('mode', '-')} model={model.text if model is not None else '-'}"

    def chardevs(tag: str) -> list[str]:
        out = []
        for c in dev.findall(tag):
            target = c.find("target")
            kind = target.get("type", "") if target is not None else ""
            log = " +log" if c.find("log") is not None else ""
            out.append(f"{tag}:{c.get('type')}/{kind}{log}")
        return out

    watchdog = dev.find("watchdog")
    balloon = dev.find("memballoon")
    usb = [f"usb:{c.get('model', '-')}" for c in dev.findall("controller[@type='usb']")]
    inputs = [f"{i.get('type')}:{i.get('bus')}" for i in dev.findall("input")]
    disks = []
    for d in dev.findall("disk"):
        drv, tgt = d.find("driver"), d.find("target")
        backing = d.find("backingStore/format")
        disks.append(
            f"{tgt.get('bus') if tgt is not None else '-'}"
            f" {drv.get('type') if drv is not None else '-'}"
            f"{' on ' + str(backing.get('type')) if backing is not None else ''}"
            f" cache={drv.get('cache', 'default') if drv is not None else '-'}"
        )
    return {
        "machine": os_type.get("machine", "-") if os_type is not None else "-",
        "features": " ".join(f.tag for f in features) if features is not None else "none",
        "cpu": cpu_text,
        "consoles": " ".join(chardevs("console") + chardevs("serial")) or "none",
        "watchdog": (
            f"{watchdog.get('model')} action={watchdog.get('action')}"
            if watchdog is not None
            else "none"
        ),
        "usb/input": " ".join(usb + inputs) or "none",
        "memballoon": (
            " ".join(
                [str(balloon.get("model"))]
                + [f"{k}={v}" for k, v in balloon.attrib.items() if k != "model"]
                + [f"stats={st.get('period')}s" for st in balloon.findall("stats")]
            )
            if balloon is not None
            else "none"
        ),
        "disks": "; ".join(disks) or "none",
        "graphics/video": " ".join(
            [f"graphics:{g.get('type')}" for g in dev.findall("graphics")]
            + [f"video:{m.get('type')}" for m in dev.findall("video/model")]
        )
        or "none",
        "rng": " ".join(r.get("model", "-") for r in dev.findall("rng")) or "none",
        "panic": " ".join(p.get("model", "-") for p in dev.findall("panic")) or "none",
        "on_crash": root.findtext("on_crash", "-"),
        "iothreads": root.findtext("iothreads", "none"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=3, help="timed boots per driver (3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first boots (1)")
    parser.add_argument(
        "--xml-dir", type=Path, help="write both domain XMLs and the last console outputs here"
    )
    args = parser.parse_args()
    if args.boots < 1 or args.warmup < 0:
        parser.error("--boots must be >= 1 and --warmup >= 0")
    logging.getLogger("nova.thread_pool_factory").setLevel(logging.WARNING)  # after each case
    _hold_run_lock()  # a parallel test run's sweep leaves this run's guests alone
    run(args.boots, args.warmup)
    report(args.boots, args.warmup)
    if args.xml_dir:
        args.xml_dir.mkdir(parents=True, exist_ok=True)
        for label, res in Bench.results.items():
            (args.xml_dir / f"{label}.xml").write_text(res["xml"])
            (args.xml_dir / f"{label}.console.txt").write_text(res["boots"][-1].console)
        print(f"\ndomain XMLs and console output written to {args.xml_dir}/")


if __name__ == "__main__":
    main()
