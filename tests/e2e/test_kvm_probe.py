"""virt_type=auto: zcompute probes whether a KVM guest really runs instead of trusting /dev/kvm."""

from __future__ import annotations

import json
import os
import shutil
import uuid

from tests.e2e.conftest import DATA_DIR, RUN_ID, TINY, imported_test_image
from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.testimage import BANNER
from zcompute.virt import Hypervisor


def test_auto_probes_kvm_once_and_spawns_with_the_answer(
    hypervisor: Hypervisor, guest_name: str
) -> None:
    data = DATA_DIR / "tests" / f"kvm-probe-{RUN_ID}-{uuid.uuid4().hex[:6]}"
    data.mkdir(parents=True)
    (data / "testimages").symlink_to(DATA_DIR / "testimages")  # reuse the built test images
    driver = ComputeDriver(Config(virt_type="auto", data_dir=data))
    try:
        driver.host  # noqa: B018  reading the host never boots the probe guest
        assert not (data / "kvm-probe.json").exists()
        usable = driver.probe_kvm()  # the explicit step
        assert driver.host.kvm_usable is usable
        if not os.path.exists("/dev/kvm"):
            assert usable is False
        else:
            record = json.loads((data / "kvm-probe.json").read_text())
            assert record["usable"] is usable
            assert record["detail"]  # says why: the guest reached its init, or how it failed
        driver.db.add_flavor(TINY)
        native = driver.hv.node_info()[0]
        inst = driver.spawn(
            guest_name, imported_test_image(driver, native), TINY.name, wait_for=BANNER, timeout=90
        )
        assert inst.domain_type == ("kvm" if usable else "qemu")
        driver.destroy(inst.uuid)
        # The answer is remembered: a second driver does not probe again.
        again = ComputeDriver(Config(virt_type="auto", data_dir=data))
        record_file = data / "kvm-probe.json"
        stamp = record_file.stat().st_mtime_ns if record_file.exists() else 0
        assert again.probe_kvm() is usable
        assert again.host.kvm_usable is usable
        assert (record_file.stat().st_mtime_ns if record_file.exists() else 0) == stamp
        again.close()
    finally:
        driver.close()
        shutil.rmtree(data, ignore_errors=True)
