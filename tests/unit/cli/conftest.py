"""Fixtures of the CLI tests (see cli_support for the harness)."""

from __future__ import annotations

import os
import shutil
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.cli.cli_support import (
    GuestFactory,
    Zc,
    kernel_image,
    remove_test_domain,
    test_driver_domain_xml,
)

from zcompute.errors import NotFound
from zcompute.model import BlockDeviceSpec, Instance, InstanceState
from zcompute.virt import Domains


@pytest.fixture
def zc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Zc:
    for name in list(os.environ):
        if name.startswith("ZCOMPUTE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ZCOMPUTE_CONFIG", str(tmp_path / "absent.toml"))
    return Zc(tmp_path / "data")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A directory for the files tests import or attach (outside the data directory)."""
    path = tmp_path / "files"
    path.mkdir()
    return path


@pytest.fixture
def make_guest(zc: Zc, files: Path) -> Iterator[GuestFactory]:
    """Creates running guests (record + test-driver domain); removes whatever is left after."""
    driver = zc.driver()
    made: list[str] = []

    def make(
        label: str = "g",
        block_devices: tuple[BlockDeviceSpec, ...] = (),
        log: bytes = b"",
        persistent: bool = False,
    ) -> Instance:
        try:
            image = driver.images.get("kimg")
        except NotFound:
            image = kernel_image(driver, files)
        flavor = driver.db.get_flavor("tiny")
        uuid = str(uuidlib.uuid4())
        # test:///default is shared by the whole process: names must be unique.
        name = f"zctest-{label}-{uuid[:8]}"
        inst = Instance(
            uuid=uuid,
            name=name,
            flavor=flavor,
            image=image,
            arch="x86_64",
            machine_type="q35",
            domain_type="qemu",
            state=InstanceState.RUNNING,
            block_devices=block_devices,
        )
        driver.db.add_instance(inst)
        domains = Domains(driver.hv)
        xml = test_driver_domain_xml(name, uuid)
        made.append(uuid)
        if persistent:
            domains.define(xml)
            domains.start(uuid)
        else:  # libvirt's test driver refuses the undefine flags a persistent delete uses
            domains.create_transient(xml)
        log_dir = driver.instances_dir / uuid
        log_dir.mkdir()
        (log_dir / "console.log").write_bytes(log)
        return inst

    yield make
    for uuid in made:
        remove_test_domain(uuid)
        driver.db.delete_instance(uuid, missing_ok=True)
        shutil.rmtree(driver.instances_dir / uuid, ignore_errors=True)
    driver.close()
