"""zcompute's cloud (cloud/zcloud, docs/cloud.md) without running it: the plan and the
generated configuration keep the promises docs/cloud.md makes.

Only the standard-library modules of cloud/zcloud are imported (layout, confs, services);
the parts that need the cloud's venv (openstacksdk) are exercised by tests/cloud.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CLOUD = Path(__file__).resolve().parents[2] / "cloud"


@pytest.fixture(scope="module")
def zcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    state = tmp_path_factory.mktemp("zcloud-state")
    mp = pytest.MonkeyPatch()
    mp.setenv("ZCLOUD_STATE", str(state))
    mp.syspath_prepend(str(CLOUD))
    for name in [m for m in sys.modules if m == "zcloud" or m.startswith("zcloud.")]:
        mp.delitem(sys.modules, name)
    import zcloud.confs
    import zcloud.layout
    import zcloud.services

    yield zcloud
    mp.undo()
    for name in [m for m in sys.modules if m == "zcloud" or m.startswith("zcloud.")]:
        del sys.modules[name]


@pytest.fixture
def secrets(zcloud: Any) -> Any:
    return zcloud.layout.Secrets(db="d", admin="a", demo="e", service="s")


def test_state_stays_where_the_environment_says(zcloud: Any) -> None:
    assert zcloud.layout.STATE.name.startswith("zcloud-state")
    assert zcloud.layout.LOG.parent == zcloud.layout.STATE


def test_every_step_has_a_unique_name_and_services_bind_loopback(zcloud: Any, secrets: Any) -> None:
    plan = zcloud.services.plan(secrets)
    names = [step.name for stage in plan for step in stage]
    assert len(names) == len(set(names))
    for stage in plan:
        for step in stage:
            argv = " ".join(step.argv)
            if "--http-socket" in step.argv:
                assert step.argv[step.argv.index("--http-socket") + 1].startswith("127.0.0.1:")
            if step.name == "mariadb":
                assert "--bind-address=127.0.0.1" in step.argv
            if step.name == "epmd":
                assert "-address 127.0.0.1" in argv
            if step.name == "rabbitmq":
                assert step.env["RABBITMQ_NODE_IP_ADDRESS"] == "127.0.0.1"
                assert step.env["ERL_EPMD_ADDRESS"] == "127.0.0.1"
                assert (
                    "inet_dist_use_interface {127,0,0,1}"
                    in (step.env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"])
                )


def test_the_databases_come_before_the_services_that_use_them(zcloud: Any, secrets: Any) -> None:
    order = {
        step.name: i for i, stage in enumerate(zcloud.services.plan(secrets)) for step in stage
    }
    assert order["mariadb"] < order["databases"] < order["nova-db"] < order["nova-api"]
    assert order["rabbitmq"] < order["nova-conductor"] < order["nova-compute-zc-host-a"]
    assert order["keystone"] < order["catalog"] < order["glance"]


def test_computes_have_no_database_and_a_state_of_their_own(zcloud: Any, secrets: Any) -> None:
    confs = zcloud.confs
    a = confs.nova_compute(secrets, "zc-host-a", "qemu:///system", "qemu:///system")
    b = confs.nova_compute(secrets, "zc-host-b", "qemu+unix:///system?socket=/b", None)
    for ini in (a, b):
        assert "database" not in ini
        assert "api_database" not in ini
        assert ini["DEFAULT"]["compute_driver"] == "zcompute.ZComputeDriver"
        assert ini["DEFAULT"]["instance_name_template"] == "zccloud-%08x"
        assert ini["libvirt"]["virt_type"] == "qemu"
        assert ini["libvirt"]["live_migration_inbound_addr"] == "127.0.0.1"
    assert a["DEFAULT"]["state_path"] != b["DEFAULT"]["state_path"]
    assert a["zcompute"]["migration_inbound_uri"] == "qemu:///system"
    assert "migration_inbound_uri" not in b["zcompute"]
    control = confs.nova_control(secrets)
    assert control["database"]["connection"].startswith("mysql+pymysql://zcloud:d@127.0.0.1:")


def test_rendering_keeps_percent_signs_and_lists(zcloud: Any) -> None:
    text = zcloud.confs.render({"DEFAULT": {"t": "zccloud-%08x", "l": ["a", "b"], "f": False}})
    assert "t = zccloud-%08x\n" in text
    assert "l = a,b\n" in text
    assert "f = false\n" in text
