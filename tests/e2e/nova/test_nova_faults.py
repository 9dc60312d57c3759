"""A spawn that fails at any step ends in Nova's ERROR state with nothing left on the host.

The steps are the ones zcompute's spawn really went through for a server with a tap VIF and a
config drive (read from zcompute's fault trace of a good boot), so a new step is covered
without a change here; a failure is injected at each in turn (``ZCOMPUTE_FAULT``). Failures
before zcompute's spawn starts (a Glance image whose bytes are not what Glance declares, a
download that breaks off, a VIF of a type zcompute cannot plug, a tap device name that is
taken) end the same way.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import fixtures

from tests.e2e.nova.harness import NovaHarnessTest
from zcompute._faults import FAULT_VARIABLE, TRACE_VARIABLE


class TestSpawnFaults(NovaHarnessTest):
    def setUp(self) -> None:
        super().setUp()
        self.image = self.upload_test_image("s390x")
        self.flavor_id = self.flavor()
        self.network = {"uuid": self.neutron.network_1["id"]}

    def boot(self, expect: str, **extra: Any) -> dict[str, Any]:
        body = self._build_server(
            image_uuid=extra.pop("image", self.image),
            flavor_id=self.flavor_id,
            networks=extra.pop("networks", [self.network]),
        )
        body.update(config_drive=True, **extra)
        return dict(self.wait_status(self.api.post_server({"server": body}), expect))

    def assert_clean(self, server: dict[str, Any], taps: list[str] = ()) -> None:
        zc = self.computes["compute"].driver.zc
        assert zc.instances_managed_by("nova:compute") == []
        assert self.host_leftovers(server, taps) == []
        data_dir = zc.config.data_dir
        assert list(data_dir.glob(".glance-*")) == []  # no staging folder of a download
        self.api.delete_server(server["id"])
        self.wait_deleted(server)

    def steps(self) -> list[str]:
        trace = Path(tempfile.mkdtemp(dir=self.data_root.parent)) / "trace"
        self.addCleanup(lambda: trace.unlink(missing_ok=True) or trace.parent.rmdir())
        with fixtures.EnvironmentVariable(TRACE_VARIABLE, str(trace)):
            server = self.boot("ACTIVE")
        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        return [
            s for s in dict.fromkeys(trace.read_text().split()) if "spawn" in s or "config" in s
        ]

    def test_a_failure_at_each_spawn_step_leaves_nothing(self) -> None:
        steps = self.steps()
        assert {"spawn.recorded", "spawn.taps", "spawn.defined", "spawn.started"} <= set(steps)
        assert "spawn.config_drive" in steps
        for step in steps:
            with fixtures.EnvironmentVariable(FAULT_VARIABLE, f"{step}:raise"):
                server = self.boot("ERROR")
            port = self.port_of(server) if self._ports_of(server) else None
            taps = [f"tap{port['id'][:11]}"] if port else []
            assert "fault" in server, step
            self.assert_clean(server, taps)

    def _ports_of(self, server: dict[str, Any]) -> list[Any]:
        return [p for p in self.neutron._ports.values() if p["device_id"] == server["id"]]

    def test_an_image_whose_bytes_are_not_its_declared_format(self) -> None:
        fake = self._upload("liar", "qcow2", b"\0" * (1 << 20), {"hw_architecture": "x86_64"})
        server = self.boot("ERROR", image=fake, networks="none")
        assert "declared qcow2 but its bytes are raw" in server["fault"]["message"]
        zc = self.computes["compute"].driver.zc
        assert [
            i.name for i in zc.images.list() if getattr(i, "name", "") == f"glance-{fake}"
        ] == []
        self.assert_clean(server)

    def test_a_download_that_breaks_off(self) -> None:
        def broken(context: Any, image_id: str, data: Any = None, dst_path: Any = None, **kw: Any):
            with open(dst_path, "wb") as out:
                out.write(b"QFI\xfb" + b"\0" * 4096)
            raise OSError("connection reset by Glance")

        self.useFixture(fixtures.MonkeyPatch("nova.image.glance.API.download", broken))
        server = self.boot("ERROR", networks="none")
        self.assert_clean(server)

    def test_a_vif_zcompute_cannot_plug(self) -> None:
        self.neutron.default_port = dict(self.neutron.default_port, **{"binding:vif_type": "ovs"})
        server = self.boot("ERROR")
        assert self.computes["compute"].driver.zc.instances_managed_by("nova:compute") == []
        self.assert_clean(server)

    def test_a_tap_name_that_is_taken(self) -> None:
        port = self.neutron.create_port({"port": {"network_id": self.network["uuid"]}})["port"]
        taken = "tap" + port["id"][:11]
        subprocess.run(["ip", "tuntap", "add", "dev", taken, "mode", "tap"], check=True)
        self.addCleanup(subprocess.run, ["ip", "link", "delete", taken], capture_output=True)
        server = self.boot("ERROR", networks=[{"port": port["id"]}])
        assert os.path.exists(f"/sys/class/net/{taken}")  # someone else's device: untouched
        self.assert_clean(server)
