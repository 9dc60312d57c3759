"""Live migration through Nova's API between two compute services, each on its own libvirtd:
this machine's, and the second host's (scripts/second-host: its own namespaces, libvirtd and
virtlogd).

The guest is a real s390x (and x86_64) test guest: a value held in its RAM, a counter that
keeps counting, data on its own disk (copied while it runs) and its console log with the
earliest boot messages all survive the move there and back; Nova records it on the other host
and the source keeps nothing of it.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from tests.e2e.conftest import second_host_command
from tests.e2e.lifecycle_support import open_shell, run
from tests.e2e.nova.harness import NovaHarnessTest, remove_guests
from tests.e2e.nova.test_nova_volumes import MIB, VolumeHarness

BOOTED = "ZCOMPUTE-DEVICES-END"
HOST_A, HOST_B = "zc-a", "zc-b"


class TwoHosts(NovaHarnessTest):
    """Two compute services: zc-a on this machine's libvirtd, zc-b on the second host's."""

    def setUp(self) -> None:
        second_host_command("start")
        self.b_uri = second_host_command("uri")
        super().setUp()
        # after Nova's services stopped (cleanups run in reverse): what a failure left on B
        self.addCleanup(remove_guests, self.prefix, self.data_root, self.b_uri)

    def _setup_compute_service(self) -> object:
        # both hosts take the migration stream on loopback; this process reaches host A's
        # libvirtd as qemu:///system (a deployment gives qemu+tcp://... or qemu+tls://...)
        self.flags(live_migration_inbound_addr="127.0.0.1", group="libvirt")
        self.flags(migration_inbound_uri="qemu:///system", group="zcompute")
        self._start_compute(HOST_A)
        self.flags(connection_uri=self.b_uri, group="libvirt")
        self.flags(migration_inbound_uri=None, group="zcompute")  # B's own URI reaches it
        self._start_compute(HOST_B)
        self.flags(connection_uri="qemu:///system", group="libvirt")
        return self.computes[HOST_A]

    def boot_on(self, host: str, arch: str) -> dict[str, Any]:
        image = self.upload_test_image(arch)
        body = self._build_server(image_uuid=image, flavor_id=self.flavor(), networks="none")
        body["availability_zone"] = f"nova:{host}"
        server = self.wait_status(self.admin_api.post_server({"server": body}), "ACTIVE")
        self.wait_console(server, BOOTED)
        return dict(server)

    def _zc(self, host: str) -> Any:
        return self.computes[host].driver.zc


class TestNovaLiveMigration(TwoHosts):
    def test_s390x_there_and_back(self) -> None:
        self._there_and_back("s390x")

    def test_x86_64_there_and_back(self) -> None:
        self._there_and_back("x86_64")

    def _there_and_back(self, arch: str) -> None:
        server = self.boot_on(HOST_A, arch)
        self._prepare(HOST_A, server)
        for source, dest in ((HOST_A, HOST_B), (HOST_B, HOST_A)):
            started = time.monotonic()
            server = self._live_migrate(server, host=dest, api=self.admin_api)
            print(f"\n{arch}: Nova live migration {source} -> {dest} "
                  f"{time.monotonic() - started:.1f} s")  # fmt: skip
            assert server["OS-EXT-SRV-ATTR:host"] == dest
            self._check(dest, server)
            gone = self.computes[source].driver.zc
            # the destination fetched the image from Glance itself and runs the guest from
            # its own files: no path of the source's data directory (its image store) is used
            assert str(gone.config.data_dir) not in self._zc(dest).domains.xml(server["id"])
            assert not gone.instance_exists(server["id"])
            assert not (gone.instances_dir / server["id"]).exists()
        self.admin_api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []
        for host in (HOST_A, HOST_B):
            assert not self.computes[host].driver.zc.instance_exists(server["id"])

    def test_s390x_with_a_port_there_and_back(self) -> None:
        """A tap VIF: the guest keeps its NIC (its MAC, at the link level) on both hosts. The
        two hosts share this machine's network namespace, so on B the tap device has the
        other name (a trailing ``_``) while A's goes with the guest."""
        image = self.upload_test_image("s390x")
        net = self.neutron.network_1["id"]
        body = self._build_server(
            image_uuid=image, flavor_id=self.flavor(), networks=[{"uuid": net}]
        )
        body["availability_zone"] = f"nova:{HOST_A}"
        server = self.wait_status(self.admin_api.post_server({"server": body}), "ACTIVE")
        self.wait_console(server, BOOTED)
        (nic,) = self._zc(HOST_A).get_instance(server["id"]).nics
        assert nic.tap is not None
        for dest, tap in ((HOST_B, f"{nic.tap}_"), (HOST_A, nic.tap)):
            server = self._live_migrate(server, host=dest, api=self.admin_api)
            assert server["OS-EXT-SRV-ATTR:host"] == dest
            zc = self._zc(dest)
            assert [n.tap for n in zc.get_instance(server["id"]).nics] == [tap]
            with open_shell(zc, server["id"]) as shell:
                assert nic.mac in run(shell, "cat /sys/class/net/*/address")
            gone = nic.tap if dest == HOST_B else f"{nic.tap}_"  # the source's device
            shown = subprocess.run(["ip", "link", "show", gone], capture_output=True, check=False)
            assert shown.returncode != 0, f"tap {gone} stayed"
        self.admin_api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server, [nic.tap, f"{nic.tap}_"]) == []

    def _prepare(self, host: str, server: dict[str, Any]) -> None:
        with open_shell(self._zc(host), server["id"]) as shell:
            run(shell, "echo zc-ram-4711 > /tmp/value")
            run(shell, "(i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; "
                       "done) & true")  # fmt: skip
            run(shell, "printf ZCDISK01 | dd of=/dev/vda conv=fsync 2>/dev/null")

    def _check(self, host: str, server: dict[str, Any]) -> None:
        zc = self._zc(host)
        with open_shell(zc, server["id"]) as shell:
            assert run(shell, "cat /tmp/value") == "zc-ram-4711"
            first = int(run(shell, "cat /tmp/count"))
            time.sleep(1)
            assert int(run(shell, "cat /tmp/count")) > first
            assert run(shell, "head -c 8 /dev/vda; echo") == "ZCDISK01"
        log = zc.console_log_path(server["id"]).read_text(errors="replace")
        assert "Linux version" in log, log[:500]
        assert BOOTED in log


class TestNovaEvacuate(TwoHosts):
    def test_s390x_guest_is_rebuilt_on_b_and_a_removes_its_leftover_when_back(self) -> None:
        server = self.boot_on(HOST_A, "s390x")
        self.computes[HOST_A].stop()  # the host failed: its guest goes on running there
        service = self.admin_api.get_services(binary="nova-compute", host=HOST_A)[0]
        self.admin_api.put_service(service["id"], {"forced_down": True})
        started = time.monotonic()
        # since API 2.95 an evacuated server waits stopped on its new host
        server = self._evacuate_server(
            server, {"host": HOST_B}, expected_host=HOST_B, expected_state="SHUTOFF"
        )
        server = self._start_server(server)
        self.wait_console(server, BOOTED)
        print(f"\ns390x: evacuated to {HOST_B}, booted {time.monotonic() - started:.1f} s later")
        assert self._zc(HOST_B).get_instance(server["id"]).state.value == "running"
        # host A comes back: its compute service removes the guest Nova moved away
        assert "domain" in self.host_leftovers(server)  # A's guest runs on, unknown to Nova
        self.computes[HOST_A] = self.restart_compute_service(
            self.computes[HOST_A], keep_hypervisor_state=False
        )
        self.admin_api.put_service(service["id"], {"forced_down": False})
        assert not self._zc(HOST_A).instance_exists(server["id"])
        assert not (self._zc(HOST_A).instances_dir / server["id"]).exists()
        self.admin_api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []


class TestNovaResizeAcrossHosts(TwoHosts):
    def test_s390x_resize_to_the_other_host_revert_then_confirm(self) -> None:
        server = self.boot_on(HOST_A, "s390x")
        with open_shell(self._zc(HOST_A), server["id"]) as shell:
            run(shell, "printf ZCDISK01 | dd of=/dev/vda conv=fsync 2>/dev/null")
        bigger = self.flavor(memory_mb=768, disk_gb=2)
        for ending in ("revertResize", "confirmResize"):
            started = time.monotonic()
            self.admin_api.post_server_action(server["id"], {"resize": {"flavorRef": bigger}})
            server = self.wait_status(server, "VERIFY_RESIZE", timeout=180)
            print(f"\ns390x: resized onto {server['OS-EXT-SRV-ATTR:host']} "
                  f"{time.monotonic() - started:.1f} s")  # fmt: skip
            assert server["OS-EXT-SRV-ATTR:host"] == HOST_B
            self.wait_console(server, BOOTED)
            with open_shell(self._zc(HOST_B), server["id"]) as shell:
                assert run(shell, "head -c 8 /dev/vda; echo") == "ZCDISK01"  # its disk came
                assert run(shell, "cat /sys/block/vda/size") == str(2 << 21)  # 2 GiB now
                total = int(run(shell, "awk '/MemTotal/ {print $2}' /proc/meminfo"))
            assert total > 600 * 1024, total  # the new flavor's memory
            self.admin_api.post_server_action(server["id"], {ending: None})
            server = self.wait_status(server, "ACTIVE", timeout=180)
            self._wait_task_done(server)
            here, gone = (HOST_A, HOST_B) if ending == "revertResize" else (HOST_B, HOST_A)
            server = self.admin_api.get_server(server["id"])
            assert server["OS-EXT-SRV-ATTR:host"] == here, (ending, server)
            assert self._zc(here).get_instance(server["id"]).state.value == "running"
            assert not self._zc(gone).instance_exists(server["id"]), (ending, gone)
            assert not (self._zc(gone).instances_dir / server["id"]).exists()
            with open_shell(self._zc(here), server["id"]) as shell:
                assert run(shell, "head -c 8 /dev/vda; echo") == "ZCDISK01"
        self.admin_api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []

    def _wait_task_done(self, server: dict[str, Any], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.admin_api.get_server(server["id"])["OS-EXT-STS:task_state"] is not None:
            assert time.monotonic() < deadline, "the task never ended"
            time.sleep(0.3)


class TestNovaForceCompleteAndAbort(TwoHosts):
    """A migration slower than the guest dirties its memory (the stream limited to 4 MiB/s):
    Nova's abort leaves the guest on A; Nova's force-complete finishes it (the guest paused
    until it completed, then running on B)."""

    def test_s390x_abort_then_force_complete(self) -> None:
        self.flags(live_migration_bandwidth=4, group="libvirt")
        server = self.boot_on(HOST_A, "s390x")
        with open_shell(self._zc(HOST_A), server["id"]) as shell:
            run(shell, "(while true; do dd if=/dev/urandom of=/tmp/dirt bs=1M count=48 "
                       "2>/dev/null; done) >/dev/null 2>&1 & true")  # fmt: skip
        for action in ("abort", "force_complete"):
            self.admin_api.post_server_action(
                server["id"], {"os-migrateLive": {"host": HOST_B, "block_migration": "auto"}}
            )
            migration = self._wait_for_migration_status(server, ["running"])
            time.sleep(2)
            path = f"/servers/{server['id']}/migrations/{migration['id']}"
            if action == "abort":
                self.admin_api.api_delete(path)
                self._wait_for_migration_status(server, ["cancelled"])
                server = self.wait_status(server, "ACTIVE")
                assert server["OS-EXT-SRV-ATTR:host"] == HOST_A
                assert not self._zc(HOST_B).instance_exists(server["id"])
            else:
                started = time.monotonic()
                self.admin_api.api_post(f"{path}/action", {"force_complete": None})
                self._wait_for_migration_status(server, ["completed"])
                server = self.wait_status(server, "ACTIVE")
                print(f"\ns390x: forced to complete {time.monotonic() - started:.1f} s after "
                      "Nova's force_complete")  # fmt: skip
                assert server["OS-EXT-SRV-ATTR:host"] == HOST_B
                assert self._zc(HOST_B).get_info(server["id"]).state.value == "running"
                assert not self._zc(HOST_A).instance_exists(server["id"])
        self.admin_api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []


class TestNovaLiveMigrationWithChapVolume(TwoHosts, VolumeHarness):
    def test_s390x_guest_moves_with_its_chap_volume(self) -> None:
        """The volume's CHAP secret is private to host A's libvirt: host B defines it again
        from the connection_info Nova gives pre_live_migration, and logs in with B's own
        initiator name (the target admits both hosts, as a SAN's host group would)."""
        hosts = (self._zc(HOST_A).iscsi_initiator_name(), self._zc(HOST_B).iscsi_initiator_name())
        password = "zc-nova-move-chap-1"
        volume = self.volume("lm-chap", 16 * MIB, chap=("zclm", password), initiator=hosts)
        server = self.boot_on(HOST_A, "s390x")
        self.attach(server, volume)
        target = self.wait_attached(server, volume, 16 * MIB)
        with open_shell(self._zc(HOST_A), server["id"]) as shell:
            run(shell, f"printf ZCNOVA01 | dd of=/dev/{target} conv=fsync 2>/dev/null")
        assert len(self.zcompute_secrets(server)) == 1
        started = time.monotonic()
        server = self._live_migrate(server, host=HOST_B, api=self.admin_api)
        print(f"\ns390x with a CHAP volume: Nova live migration {time.monotonic() - started:.1f} s")
        assert server["OS-EXT-SRV-ATTR:host"] == HOST_B
        zc_b = self._zc(HOST_B)
        with open_shell(zc_b, server["id"]) as shell:
            assert run(shell, f"head -c 8 /dev/{target}; echo") == "ZCNOVA01"
        assert self.zcompute_secrets(server) == []  # host A's went with the guest
        xml = zc_b.domains.xml(server["id"])
        assert password not in xml
        assert f"<iqn name='{hosts[1]}'/>" in xml
        self.admin_api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []
