"""Nova's serial console with zcompute's real driver: ``[serial_console] enabled``.

The compute service starts with the serial console enabled, so zcompute makes each guest's
interactive console a raw TCP endpoint on ``proxyclient_address`` with a port of
``port_range``. Nova's API hands out a console URL for it (``remote-consoles``, protocol
``serial``), and the endpoint the driver names answers the test image's shell through a plain
socket, as Nova's serial proxy would reach it (the proxy itself, a websocket server, is not
started here).
"""

from __future__ import annotations

import pytest

from tests.e2e.nova.harness import NovaHarnessTest  # first: it prepares Nova's import
from tests.e2e.tcp_console_support import shell_answers

BOOTED = "ZCOMPUTE-DEVICES-END"


class TestNovaSerialConsole(NovaHarnessTest):
    def _setup_services(self) -> None:
        # before the compute service starts: zcompute's configuration is made from these
        self.flags(enabled=True, port_range="42000:42999", group="serial_console")
        super()._setup_services()

    def test_s390x_serial_console_through_the_api_and_its_tcp_endpoint(self) -> None:
        from nova import context as nova_context
        from nova import exception, objects
        from nova.console import type as console_type

        image = self.upload_test_image("s390x")
        body = self._build_server(image_uuid=image, flavor_id=self.flavor(), networks="none")
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        self.wait_console(server, BOOTED)

        reply = self.api.api_post(
            f"/servers/{server['id']}/remote-consoles",
            {"remote_console": {"protocol": "serial", "type": "serial"}},
        ).body["remote_console"]
        assert (reply["protocol"], reply["type"]) == ("serial", "serial")
        assert reply["url"].startswith("ws://127.0.0.1:6083/?token=")

        driver = self.computes["compute"].driver
        ctx = nova_context.get_admin_context()
        instance = objects.Instance.get_by_uuid(ctx, server["id"])
        endpoint = driver.get_serial_console(ctx, instance)
        assert isinstance(endpoint, console_type.ConsoleSerial)
        assert endpoint.host == "127.0.0.1"
        assert 42000 <= endpoint.port <= 42999
        assert b"zc-42" in shell_answers(endpoint.host, endpoint.port)

        self.flags(enabled=False, group="serial_console")  # what Nova's manager refuses too
        with pytest.raises(exception.ConsoleTypeUnavailable):
            driver.get_serial_console(ctx, instance)
        self.flags(enabled=True, group="serial_console")

        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        assert self.host_leftovers(server) == []
