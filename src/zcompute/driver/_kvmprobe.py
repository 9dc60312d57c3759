"""Does a KVM guest really run here? Boot the native test image with KVM and see.

On nested, paravirtualised hosts ``/dev/kvm`` exists and libvirt offers ``kvm``, yet a standard
guest kernel stops with "emulation failure" (QEMU pauses the guest) before its init runs. The
probe boots zcompute's own test image with domain type ``kvm`` and calls KVM usable only when
the guest's banner appears on its console.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

from zcompute.builder import build_domain_xml
from zcompute.driver._context import DriverContext
from zcompute.driver._guests import Guests
from zcompute.driver._host import KvmProbe
from zcompute.errors import ZcomputeError
from zcompute.images import remove_tree
from zcompute.model import Flavor, Image, new_uuid, utcnow
from zcompute.plan import PlanRequest, make_plan
from zcompute.testimage import BANNER, build_test_image
from zcompute.virt import PowerState

# Under working KVM the test guest reaches its init in about a second (TCG: 2-3 s). On the
# nested hosts this guards against, the guest crawls for ~20 s before QEMU pauses it with an
# emulation failure; a guest that has not reached its init by now is no usable KVM.
PROBE_SECONDS = 10.0


def probe_kvm(ctx: DriverContext, guests: Guests) -> KvmProbe:
    """Boot the host arch's test image under KVM; usable only if it reaches its init."""
    caps_arch = ctx.hv.node_info()[0]
    try:
        test = build_test_image(caps_arch, ctx.config.data_dir)
    except ZcomputeError as err:
        return KvmProbe(False, f"no test image to probe KVM with ({err}); using TCG")
    image = Image(
        id=new_uuid(),
        name="zcompute-kvm-probe",
        arch=caps_arch,
        disk_format=None,
        path=None,
        kernel_path=test.kernel,
        initrd_path=test.initrd,
        cmdline="zcompute.mode=poweroff",
        properties={},
        size=0,
        sha256="0" * 64,
        created_at=utcnow(),
    )
    uuid = new_uuid()
    workdir = ctx.config.data_dir / "kvm-probe"
    with contextlib.suppress(OSError):
        remove_tree(workdir)  # what an earlier probe left (a link there is removed, not followed)
    request = PlanRequest(
        uuid=uuid,
        name=f"zcompute-kvm-probe-{uuid[:8]}",
        flavor=Flavor("probe", 1, 256, 0),
        image=image,
        instance_dir=workdir,
        root_disk=None,
        virt_type="kvm",
    )
    host = dataclasses.replace(ctx.host, kvm_usable=True)
    # KVM itself is the question, with the host's own CPU: a baseline the operator pinned (and
    # may have got wrong) must not make the recorded answer "no KVM".
    config = dataclasses.replace(ctx.config, cpu_baseline_model="")
    try:
        plan = make_plan(request, config, host)
        guests.prepare_guest_files(workdir, plan)  # the folder, kernel and initrd copies
        ctx.domains.create_transient(build_domain_xml(plan))
        return _watch(ctx, uuid, Path(plan.console_log))
    except ZcomputeError as err:
        return KvmProbe(False, f"KVM guest could not start: {err}")
    finally:
        ctx.domains.destroy_if_exists(uuid)
        with contextlib.suppress(OSError):
            remove_tree(workdir)


def _watch(ctx: DriverContext, uuid: str, log: Path) -> KvmProbe:
    deadline = time.monotonic() + PROBE_SECONDS
    while time.monotonic() < deadline:
        if log.exists() and BANNER in log.read_text(errors="replace"):
            return KvmProbe(True, "a KVM guest reached its init")
        state = ctx.domains.state(uuid) if ctx.domains.exists(uuid) else PowerState.SHUTOFF
        if state not in (PowerState.RUNNING, PowerState.BLOCKED):
            return KvmProbe(
                False, f"the KVM test guest stopped ({state}) before its init: using TCG"
            )
        time.sleep(0.2)
    return KvmProbe(False, f"the KVM test guest did not reach its init in {PROBE_SECONDS:.0f} s")
