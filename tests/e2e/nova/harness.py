"""Nova's own functional harness around zcompute's real driver and this machine's libvirtd.

:class:`NovaHarnessTest` is Nova's ``_IntegratedTestBase``: in-process nova-api, conductor,
scheduler and compute services, the real Placement service, Nova's Glance, Neutron and Cinder
fixtures. What it changes, and why:

- Nova's unit-test poisons (no ``libvirt`` import, no ``/sys`` or ``os.uname``) are meant for
  tests of a mocked hypervisor; these tests drive a real one, so the poisons are neutralised.
- Compute services load ``compute_driver = zcompute.ZComputeDriver`` through the installed
  shim, with ``virt_type = qemu`` (TCG) and a data directory of their own per test.
- Instance names carry the test prefix and a random part (``zctest-<run>-n<rand>-%08x``), so
  parallel tests on one libvirtd never collide and the e2e sweep knows them.
- Glance keeps uploaded snapshot data (Nova's fixture discards it); Neutron binds ports as
  ``tap`` VIFs (os-vif has no Linux bridge plug and there is no Open vSwitch here), each with a
  random port id, so tap device names never collide across parallel tests.

:class:`PeerHarnessTest` is the same harness with Nova's own ``libvirt.LibvirtDriver`` (the
reference peer of the benchmarks) driving the same libvirtd; its docstring says what the peer
needs here. :class:`SideBySideHarnessTest` runs both drivers at once, one compute host each.
"""

from __future__ import annotations

import os

os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")  # before Nova is imported
from nova import monkey_patch

monkey_patch.patch()  # native threads; Nova's test packages import oslo.messaging first

import contextlib  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from unittest import mock  # noqa: E402

import fixtures  # noqa: E402
import libvirt  # noqa: E402  # imported before Nova's import poison could see it
from nova.tests import fixtures as nova_fixtures  # noqa: E402
from nova.tests.functional import integrated_helpers  # noqa: E402
from nova.tests.functional.api.client import OpenStackApiException  # noqa: E402

import zcompute.nova  # noqa: E402, F401  # registers the [zcompute] options the tests set
from tests.e2e.conftest import (  # noqa: E402
    DATA_DIR,
    RUN_ID,
    TEST_PREFIX,
    get_test_image,
    hold_run_lock,
)

__all__ = [
    "NovaHarnessTest",
    "OpenStackApiException",
    "PeerHarnessTest",
    "SideBySideHarnessTest",
    "TapNeutronFixture",
    "remove_guests",
]

# Nova's libvirt driver always asks for ACPI with virt_type qemu/kvm (see PeerHarnessTest)
_NO_ACPI = re.compile(r"\s*<acpi\s*/>")
_POISONS = ("GenericPoisonFixture", "SysFsPoisonFixture", "ImportModulePoisonFixture")


class _Inert(fixtures.Fixture):  # type: ignore[misc]
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__()


class KeepingGlanceFixture(nova_fixtures.GlanceFixture):  # type: ignore[misc]
    """Nova's Glance fixture, except that an image's uploaded data is kept (snapshots)."""

    def update(self, context: Any, image_id: str, metadata: Any, data: Any = None, **kw: Any):
        image = super().update(context, image_id, metadata, None, **kw)
        if data is not None:
            self._imagedata[image_id] = data.read()
            self.images[image_id]["size"] = len(self._imagedata[image_id])
        return image


class TapNeutronFixture(nova_fixtures.NeutronFixture):  # type: ignore[misc]
    """Nova's Neutron fixture with ports bound as ``tap`` VIFs, each with a fresh id."""

    def __init__(self, test: Any) -> None:
        super().__init__(test)
        port = copy.deepcopy(self.port_2)
        port.update({"id": str(uuid.uuid4()), "binding:vif_type": "tap"})
        port["mac_address"] = "fa:16:3e:" + ":".join(f"{b:02x}" for b in os.urandom(3))
        self.default_port = port

    def create_port(self, body: Any = None) -> Any:
        self.default_port = dict(
            self.default_port,
            id=str(uuid.uuid4()),
            mac_address="fa:16:3e:" + ":".join(f"{b:02x}" for b in os.urandom(3)),
        )
        return super().create_port(body)


class NovaHarnessTest(integrated_helpers._IntegratedTestBase):  # type: ignore[misc]
    """Nova's integrated test base with zcompute's real driver on this machine's libvirtd."""

    ADMIN_API = True
    microversion = "latest"
    compute_driver = "zcompute.ZComputeDriver"
    #: Nova's test fixtures replaced by inert ones for this driver
    neutralised: tuple[str, ...] = _POISONS

    def setUp(self) -> None:
        for name in self.neutralised:
            patcher = mock.patch.object(nova_fixtures, name, _Inert)
            patcher.start()
            self.addCleanup(patcher.stop)
        for name, fixture in (("GlanceFixture", KeepingGlanceFixture),
                              ("NeutronFixture", TapNeutronFixture)):  # fmt: skip
            patcher = mock.patch.object(nova_fixtures, name, fixture)
            patcher.start()
            self.addCleanup(patcher.stop)
        hold_run_lock()  # a concurrent session's sweep must not take this run's guests
        self.token = uuid.uuid4().hex[:4]
        self.prefix = f"{TEST_PREFIX}{RUN_ID}-n{self.token}-"
        self.data_root = DATA_DIR / "tests" / f"nova-{RUN_ID}-{self.token}"
        # registered first, so it runs last (after Nova's services stopped), also on failure
        self.addCleanup(remove_guests, self.prefix, self.data_root)
        super().setUp()

    def _clear_attrs(self) -> None:
        """Nova deletes the test's attributes after a test; pytest still needs them."""

    def _setup_services(self) -> None:
        # Nova's ConfFixture has reset the options by now; the services read them next.
        self.flags(compute_driver=self.compute_driver)
        self.flags(
            api_paste_config=os.path.join(sys.prefix, "etc/nova/api-paste.ini"), group="wsgi"
        )
        self.flags(virt_type="qemu", group="libvirt")
        self.flags(instance_name_template=f"{self.prefix}%08x")
        self.flags(image_metadata_prefilter=True, group="scheduler")
        self.flags(shutdown_timeout=20)
        self._setup_driver()
        super()._setup_services()

    def _setup_driver(self) -> None:
        """The options and fixtures of this harness's compute driver."""
        self.flags(data_dir=str(self.data_root), group="zcompute")

    # -- images in Glance ----------------------------------------------------------------------

    def upload_test_image(self, arch: str, **properties: str) -> str:
        """The test image of ``arch`` in Glance: an ``ami`` with ``kernel_id`` and
        ``ramdisk_id`` (bytes from zcompute's cached test image build), with further image
        ``properties`` if given. Returns its id."""
        built = get_test_image(arch)
        kernel = self._upload(f"{arch}-kernel", "aki", built.kernel.read_bytes())
        ramdisk = self._upload(f"{arch}-ramdisk", "ari", built.initrd.read_bytes())
        props = {
            "kernel_id": kernel,
            "ramdisk_id": ramdisk,
            "os_command_line": "zcompute.mode=shell",
            "hw_emulation_architecture": arch,
            **properties,
        }
        return self._upload(f"{arch}-test", "ami", b"", props)

    def _upload(self, name: str, fmt: str, data: bytes, props: dict[str, str] | None = None) -> str:
        import io

        meta = {
            "name": name,
            "status": "active",
            "disk_format": fmt,
            "container_format": fmt if fmt in ("aki", "ari", "ami") else "bare",
            "visibility": "public",
            "properties": props or {},
            "size": len(data),
        }
        return str(self.glance.create(None, meta, data=io.BytesIO(data))["id"])

    def flavor(self, memory_mb: int = 512, disk_gb: int = 1) -> str:
        body = {"flavor": {"name": f"zct-{self.token}-{memory_mb}", "ram": memory_mb,
                           "vcpus": 1, "disk": disk_gb}}  # fmt: skip
        return str(self.admin_api.post_flavor(body)["id"])

    # -- waiting for real guests -----------------------------------------------------------

    def wait_status(self, server: dict[str, Any], status: str, timeout: float = 120) -> Any:
        return self._wait_for_server_parameter(
            server, {"status": status}, max_retries=int(timeout * 2)
        )

    def wait_console(self, server: dict[str, Any], needle: str, timeout: float = 120) -> str:
        """Poll ``os-getConsoleOutput`` (Nova's API) until ``needle`` shows."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.api.post_server_action(server["id"], {"os-getConsoleOutput": {}})["output"]
            if needle in text:
                return str(text)
            time.sleep(0.5)
        raise AssertionError(f"{needle!r} not in the console output after {timeout} s:\n{text}")

    def wait_deleted(self, server: dict[str, Any], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.api.api_get(f"/servers/{server['id']}", check_response_status=False)
            if found.status == 404:
                return
            time.sleep(0.3)
        raise AssertionError(f"server {server['id']} still exists after {timeout} s")

    def host_leftovers(self, server: dict[str, Any], taps: list[str] = ()) -> list[str]:
        """What the host still has of a deleted server: domain, files, tap devices."""
        found = []
        conn = libvirt.open("qemu:///system")
        try:
            if server["id"] in {d.UUIDString() for d in conn.listAllDomains()}:
                found.append("domain")
        finally:
            conn.close()
        if list(self.data_root.glob(f"**/{server['id']}*")):
            found.append("instance folder")
        for tap in taps:
            if subprocess.run(["ip", "link", "show", tap], capture_output=True).returncode == 0:
                found.append(f"tap {tap}")
        return found

    def port_of(self, server: dict[str, Any]) -> dict[str, Any]:
        """The one Neutron port bound to ``server``."""
        ports = [p for p in self.neutron._ports.values() if p["device_id"] == server["id"]]
        assert len(ports) == 1, ports
        return dict(ports[0])

    @staticmethod
    def link_mtu(device: str) -> int:
        out = subprocess.run(
            ["ip", "-j", "link", "show", "dev", device], capture_output=True, text=True, check=True
        )
        return int(json.loads(out.stdout)[0]["mtu"])

    def instance_name(self, server: dict[str, Any]) -> str:
        return str(server["OS-EXT-SRV-ATTR:instance_name"])

    def domain_xml(self, server: dict[str, Any]) -> str:
        """The live domain XML of a server's guest, as ``virsh dumpxml`` shows it."""
        conn = libvirt.open("qemu:///system")
        try:
            return str(conn.lookupByName(self.instance_name(server)).XMLDesc(0))
        finally:
            conn.close()


class PeerHarnessTest(NovaHarnessTest):
    """The same harness with Nova's own libvirt driver on this machine's libvirtd: the peer.

    Nova's ``libvirt.LibvirtDriver`` drives the real libvirtd (``qemu:///system``, TCG), never
    Nova's fake libvirt. What it needs here, and why:

    - ``PoisonFunctions`` is inert: it makes ``Host._init_events`` exit the process. The peer's
      ``_init_events`` drops libvirt events instead (no event thread, nothing queued): events
      only sync power states, boot and delete do not wait for them, and zcompute's own event
      loop may already run in the same process.
    - The peer sees only the test's domains that Nova's driver made (``Host.
      list_instance_domains`` filtered by the test's name prefix and Nova's domain metadata):
      Nova assumes it owns every domain of its libvirtd and refuses to start next to other
      guests (``_sanity_check_new_host``).
    - Privsep runs in-process (Nova's ``PrivsepFixture``; the tests run as root): the peer
      writes and reads console logs through ``nova.privsep``. No helper daemon is started.
    - ``instances_path`` (images cache ``_base`` included) is a folder under the test's data
      root, so the harness's cleanup removes the peer's files too.
    - An emulated s390x image needs ``hw_machine_type = s390-ccw-virtio`` (see
      :meth:`upload_test_image`).
    - ``<acpi/>``: Nova's driver adds it to every qemu/kvm guest. libvirt 9.0 with QEMU 7.2
      accepts it on s390x (and ignores it); libvirt 11.3 with QEMU 10.0 refuses the domain
      ("machine type 's390-ccw-virtio-10.0' does not support ACPI") and there is no option to
      leave it out. Only when libvirt refuses it, the peer defines the domain again without
      ``<acpi/>`` (:attr:`acpi_dropped` tells; later domains are defined without it at once).
    - The three s390x workarounds: ``pointer_model = ps2mouse`` (Nova's default USB tablet is
      rejected: s390-ccw-virtio has no USB), ``[vnc] enabled = False`` (no VNC graphics on
      s390x) and ``[workarounds] libvirt_disable_apic = True`` (no ``<apic/>``).
    """

    compute_driver = "libvirt.LibvirtDriver"
    neutralised = (*_POISONS, "PoisonFunctions")
    #: the image property an emulated guest needs with Nova's driver (see upload_test_image)
    MACHINE_TYPES = {"s390x": "s390-ccw-virtio", "aarch64": "virt", "ppc64le": "pseries"}

    def upload_test_image(self, arch: str, **properties: str) -> str:
        """As the base harness, plus ``hw_machine_type`` for an emulated architecture: Nova's
        driver takes the default machine type from ``hw_architecture`` or the host's arch, not
        from ``hw_emulation_architecture`` (on this x86 host: ``pc``, which libvirt refuses for
        qemu-system-s390x)."""
        if arch in self.MACHINE_TYPES and arch != os.uname().machine:
            properties.setdefault("hw_machine_type", self.MACHINE_TYPES[arch])
        return super().upload_test_image(arch, **properties)

    def _setup_driver(self) -> None:
        self.instances_path = self.data_root / "instances"
        self.instances_path.mkdir(mode=0o755, parents=True)  # a packaged nova-compute's folder
        self.data_root.chmod(0o755)
        self.flags(connection_uri="qemu:///system", images_type="qcow2", group="libvirt")
        self.flags(instances_path=str(self.instances_path), pointer_model="ps2mouse")
        self.flags(use_cow_images=True, force_raw_images=True)
        self.flags(enabled=False, group="vnc")
        self.flags(enabled=False, group="spice")
        self.flags(enabled=False, group="serial_console")
        self.flags(libvirt_disable_apic=True, group="workarounds")
        self.useFixture(nova_fixtures.PrivsepFixture())
        from nova.virt.libvirt import host

        listed = host.Host.list_instance_domains
        prefix = self.prefix

        def own_domains(self: Any, only_running: bool = True) -> list[Any]:
            return [
                d
                for d in listed(self, only_running)
                if d.name().startswith(prefix) and _made_by_nova(d)
            ]

        def events_dropped(self: Any) -> None:
            self._event_handler._queue_event = lambda event: None

        defined = host.Host.write_instance_config
        harness = self

        def define_refused_acpi_off(self: Any, xml: str) -> Any:
            if harness.acpi_dropped:
                xml = _NO_ACPI.sub("", xml)
            try:
                return defined(self, xml)
            except libvirt.libvirtError as err:
                if "does not support ACPI" not in str(err) or not _NO_ACPI.search(xml):
                    raise
                harness.acpi_dropped = True  # and from now on without trying it first
                return defined(self, _NO_ACPI.sub("", xml))

        self.acpi_dropped = False
        self.useFixture(
            fixtures.MonkeyPatch("nova.virt.libvirt.host.Host.list_instance_domains", own_domains)
        )
        self.useFixture(
            fixtures.MonkeyPatch("nova.virt.libvirt.host.Host._init_events", events_dropped)
        )
        self.useFixture(
            fixtures.MonkeyPatch(
                "nova.virt.libvirt.host.Host.write_instance_config", define_refused_acpi_off
            )
        )


class SideBySideHarnessTest(PeerHarnessTest):
    """zcompute's driver (host ``compute``) next to Nova's own (host ``peer``) in one harness.

    Both compute services share the API, scheduler and Placement; a server goes to the one
    named in its ``host`` (:meth:`server_body`). Each driver lists only its own guests
    (zcompute by its ``managed-by`` mark, the peer by Nova's metadata), so both start on one
    libvirtd with the same name prefix.
    """

    compute_driver = "zcompute.ZComputeDriver"
    HOSTS = {"zcompute": "compute", "nova-libvirt": "peer"}

    def _setup_driver(self) -> None:
        NovaHarnessTest._setup_driver(self)
        PeerHarnessTest._setup_driver(self)

    def _setup_services(self) -> None:
        super()._setup_services()  # the API, conductor, scheduler and zcompute's compute
        self.flags(compute_driver=PeerHarnessTest.compute_driver)
        self._start_compute(self.HOSTS["nova-libvirt"])
        self.flags(compute_driver=self.compute_driver)

    def server_body(self, driver: str, image: str, flavor: str) -> dict[str, Any]:
        """A server request for ``driver`` (``zcompute`` or ``nova-libvirt``), no network."""
        body = self._build_server(image_uuid=image, flavor_id=flavor, networks="none")
        body["host"] = self.HOSTS[driver]  # microversion 2.74, admin
        return dict(body)


_NOVA_METADATA = "http://openstack.org/xmlns/libvirt/nova/1.1"


def _made_by_nova(dom: Any) -> bool:
    try:
        dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, _NOVA_METADATA)
    except libvirt.libvirtError:
        return False
    return True


def remove_guests(prefix: str, data_root: Path, uri: str = "qemu:///system") -> None:
    """Remove what a test left on the host (``uri``: its libvirt): its domains (by name
    prefix), their tap devices, the libvirt secrets of its guests (their usage ids name the
    instance uuid) and its data directories. A passing test leaves nothing; this is for one
    that failed."""
    uuids = {p.name for p in data_root.glob("*/instances/*")}
    conn = libvirt.open(uri)
    try:
        for dom in conn.listAllDomains():
            if not dom.name().startswith(prefix):
                continue
            uuids.add(dom.UUIDString())
            taps = re.findall(r"<target dev='(tap[^']+)'", dom.XMLDesc(0))
            with contextlib.suppress(libvirt.libvirtError):
                dom.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
            for tap in taps:
                subprocess.run(["ip", "link", "delete", "dev", tap], capture_output=True)
        for secret in conn.listAllSecrets():
            if any(u in (secret.usageID() or "") for u in uuids):
                with contextlib.suppress(libvirt.libvirtError):
                    secret.undefine()
    finally:
        conn.close()
    shutil.rmtree(data_root, ignore_errors=True)
