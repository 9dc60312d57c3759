"""Harness of the CLI tests: zcompute's real ``main`` (error mapping included), test driver.

``zc("image", "list")`` runs ``zcompute --connect test:///default --data-dir <tmp> image list``
in click's CliRunner isolation and returns the exit code with stdout and stderr apart.
Guests for the listing, show, delete and console-log tests are real records in the state
database with a real domain of libvirt's built-in test driver behind them (same UUID and name).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import libvirt
from click.testing import CliRunner
from lxml import etree

from zcompute.cli import main
from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.model import Image, Instance
from zcompute.virt import Domains, Hypervisor

TEST_URI = "test:///default"


@dataclasses.dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def __str__(self) -> str:  # shown by pytest when an assertion on a Run fails
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


class Zc:
    """Runs the CLI against one data directory and libvirt's test driver."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env: dict[str, str | None] = {}

    def __call__(self, *args: str, input: str | bytes | None = None) -> Run:
        argv = ["--connect", TEST_URI, "--data-dir", str(self.data_dir), *args]
        with CliRunner().isolation(input=input, env=self.env) as (out, err, _both):
            code = main(argv)
        return Run(code, out.getvalue().decode(errors="replace"), err.getvalue().decode())

    def raw(self, argv: Sequence[str]) -> Run:
        """Without the default --connect/--data-dir (for option and config precedence tests)."""
        with CliRunner().isolation(env=self.env) as (out, err, _both):
            code = main(list(argv))
        return Run(code, out.getvalue().decode(errors="replace"), err.getvalue().decode())

    def driver(self) -> ComputeDriver:
        return ComputeDriver(Config(uri=TEST_URI, virt_type="qemu", data_dir=self.data_dir))


def kernel_image(driver: ComputeDriver, files: Path, name: str = "kimg") -> Image:
    (files / "vmlinuz").write_bytes(b"kernel " * 1000)
    (files / "initrd").write_bytes(b"initrd " * 500)
    return driver.images.import_kernel(
        name, files / "vmlinuz", files / "initrd", "console=ttyS0", "x86_64"
    )


def test_driver_domain_xml(name: str, uuid: str) -> str:
    """A domain for libvirt's test driver (its capabilities offer i686 'test' guests only)."""
    dom = etree.Element("domain", type="test")
    etree.SubElement(dom, "name").text = name
    etree.SubElement(dom, "uuid").text = uuid
    etree.SubElement(dom, "memory", unit="MiB").text = "512"
    etree.SubElement(dom, "vcpu").text = "1"
    os_ = etree.SubElement(dom, "os")
    etree.SubElement(os_, "type", arch="i686").text = "hvm"
    return etree.tostring(dom, encoding="unicode")


GuestFactory = Callable[..., Instance]


def domain_exists(uuid: str) -> bool:
    hv = Hypervisor(TEST_URI)
    try:
        return Domains(hv).exists(uuid)
    finally:
        hv.close()


def remove_test_domain(uuid: str) -> None:
    """Remove a test-driver domain however the test left it (plain libvirt calls)."""
    conn = libvirt.open(TEST_URI)
    try:
        dom = conn.lookupByUUIDString(uuid)
        if dom.isActive():
            dom.destroy()
        if dom.isPersistent():
            dom.undefine()
    except libvirt.libvirtError as err:
        if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
    finally:
        conn.close()
