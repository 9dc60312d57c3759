"""``zcompute testimage build|import`` and ``zcompute demo``."""

from __future__ import annotations

import threading
import time
import uuid as uuidlib
from pathlib import Path

import click

from zcompute.arch import TEST_IMAGE_ARCHES
from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._types import SECONDS
from zcompute.driver import ComputeDriver
from zcompute.model import Flavor
from zcompute.testimage import BANNER, TestImage, build_test_image, import_test_image

ARCH_CHOICE = click.Choice(sorted(TEST_IMAGE_ARCHES))


@cli.group()
def testimage() -> None:
    """Test guest images: a Debian kernel plus a busybox initramfs, per architecture."""


def _build(app: AppContext, arch: str, force: bool = False) -> TestImage:
    return build_test_image(
        arch, app.config.data_dir, lambda msg: click.echo(f"  {msg}", err=True), force=force
    )


@testimage.command("build")
@click.option("--arch", type=ARCH_CHOICE, default="s390x", show_default=True)
@click.option("--force", is_flag=True, help="Rebuild even when a cached image exists.")
@pass_app
def build_cmd(app: AppContext, arch: str, force: bool) -> None:
    """Build (or reuse) the test image for ARCH and print where it is."""
    image = _build(app, arch, force)
    how = "cached" if image.cached else f"built in {image.build_seconds:.1f} s"
    click.echo(f"{arch}: kernel {image.kernel_version} ({how})")
    click.echo(f"  kernel  {image.kernel}\n  initrd  {image.initrd}")


@testimage.command("import")
@click.option("--arch", type=ARCH_CHOICE, default="s390x", show_default=True)
@pass_app
def import_cmd(app: AppContext, arch: str) -> None:
    """Build the test image if needed and import it into the image store as ARCH-test."""
    driver = ComputeDriver(app.config)
    image = import_test_image(driver.images, _build(app, arch))
    click.echo(f"image {image.name} ({image.id}) ready: kernel boot, arch {image.arch}")


def _follow(path: Path, stop: threading.Event) -> None:
    """Echo a console log file as it grows until ``stop`` is set."""
    offset = 0
    while not stop.is_set():
        if path.exists():
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
            offset += len(data)
            if data:
                click.echo(data.decode(errors="replace"), nl=False)
        stop.wait(0.1)


DEMO_FLAVOR = Flavor("demo", 1, 256, 1)


@cli.command()
@click.option("--arch", type=ARCH_CHOICE, default="s390x", show_default=True)
@click.option("--keep", is_flag=True, help="Keep the guest running afterwards.")
@click.option(
    "--timeout",
    type=SECONDS,
    default=120.0,
    show_default=True,
    help="Seconds to wait for the guest's banner.",
)
@click.option("--name", help="Name of the demo guest (default: zcompute-demo-<random>).")
@pass_app
def demo(app: AppContext, arch: str, keep: bool, timeout: float, name: str | None) -> None:
    """Boot an (emulated) s390x guest, stream its boot log until its banner, then delete it."""
    driver = ComputeDriver(app.config)
    report = driver.init_host()
    click.secho(
        f"host: {report.arch}, libvirt {_v(report.libvirt_version)}, "
        f"QEMU {_v(report.qemu_version)}, KVM usable: {report.kvm_usable}",
        bold=True,
    )
    image = import_test_image(driver.images, _build(app, arch))
    name = name or f"zcompute-demo-{uuidlib.uuid4().hex[:6]}"
    uuid = str(uuidlib.uuid4())
    stop = threading.Event()
    follower = threading.Thread(
        target=_follow, args=(driver.console_log_of(uuid), stop), daemon=True
    )
    click.secho(f"booting {name} ({arch}) ...", bold=True)
    started = time.monotonic()
    follower.start()
    try:
        inst = driver.spawn(name, image, DEMO_FLAVOR, wait_for=BANNER, timeout=timeout, uuid=uuid)
        seconds = time.monotonic() - started
        time.sleep(0.5)  # let the device lines after the banner arrive
    finally:
        stop.set()
        follower.join()
    try:
        _summary(driver, inst.name, seconds)
    finally:
        if not keep:
            driver.destroy(inst.uuid)
            click.echo(f"deleted {inst.name}")


def _summary(driver: ComputeDriver, name: str, seconds: float) -> None:
    from zcompute.xml import Domain

    inst = driver.get_instance(name)
    live = Domain.from_xml(driver.domain_xml(name))
    consoles = ", ".join(
        [f"console {c.type}/{c.target_type}" for c in live.devices.consoles]
        + [f"serial {s.type}/{s.target_type}" for s in live.devices.serials]
    )
    cpu = driver.get_available_resource()["cpu_info"]
    click.secho("\nsummary", bold=True)
    click.echo(f"  guest        {inst.name} ({inst.uuid})")
    click.echo(f"  arch         {inst.arch}, domain type {inst.domain_type}")
    click.echo(f"  machine      {inst.machine_type}")
    click.echo(f"  guest CPU    {live.cpu.model or live.cpu.mode or 'default'}")
    click.echo(f"  host CPU     {cpu['model'] or 'unknown'} (from {cpu['model_source']})")
    click.echo(f"  consoles     {consoles}")
    click.echo(f"  banner after {seconds:.1f} s")


def _v(version: int) -> str:
    return f"{version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}"
