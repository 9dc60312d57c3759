"""``zcompute testimage build|import`` and ``zcompute demo``."""

from __future__ import annotations

import time
import uuid as uuidlib

import click

from zcompute.arch import TEST_IMAGE_ARCHES
from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._types import SECONDS
from zcompute.configdrive import ConfigDrive
from zcompute.driver import ComputeDriver
from zcompute.model import Flavor
from zcompute.testimage import (
    BANNER,
    MILESTONES,
    BootTimeline,
    CloudImage,
    TestImage,
    build_cloud_image,
    build_test_image,
    import_cloud_image,
    import_test_image,
)

ARCH_CHOICE = click.Choice(sorted(TEST_IMAGE_ARCHES))
#: busybox: a kernel and a busybox initramfs (seconds to build and boot); debian: a Debian 12
#: cloud guest built from Debian's packages (minutes to build, a minute to boot under TCG).
DISTRO_CHOICE = click.Choice(["busybox", "debian"])


@cli.group()
def testimage() -> None:
    """Test guest images: a Debian kernel plus a busybox initramfs, per architecture."""


def _build(app: AppContext, arch: str, force: bool = False) -> TestImage:
    return build_test_image(
        arch, app.config.data_dir, lambda msg: click.echo(f"  {msg}", err=True), force=force
    )


def _build_cloud(app: AppContext, arch: str, force: bool = False) -> CloudImage:
    return build_cloud_image(
        arch, app.config.data_dir, lambda msg: click.echo(f"  {msg}", err=True), force=force
    )


@testimage.command("build")
@click.option("--arch", type=ARCH_CHOICE, default="s390x", show_default=True)
@click.option("--distro", type=DISTRO_CHOICE, default="busybox", show_default=True)
@click.option("--force", is_flag=True, help="Rebuild even when a cached image exists.")
@pass_app
def build_cmd(app: AppContext, arch: str, distro: str, force: bool) -> None:
    """Build (or reuse) the test image for ARCH and print where it is."""
    image = _build(app, arch, force) if distro == "busybox" else _build_cloud(app, arch, force)
    how = "cached" if image.cached else f"built in {image.build_seconds:.1f} s"
    click.echo(f"{arch}: kernel {image.kernel_version} ({how})")
    click.echo(f"  kernel  {image.kernel}\n  initrd  {image.initrd}")
    if isinstance(image, CloudImage):
        size = image.disk.stat().st_size >> 20
        click.echo(f"  disk    {image.disk} ({size} MiB, {image.packages} packages)")


@testimage.command("import")
@click.option("--arch", type=ARCH_CHOICE, default="s390x", show_default=True)
@click.option("--distro", type=DISTRO_CHOICE, default="busybox", show_default=True)
@pass_app
def import_cmd(app: AppContext, arch: str, distro: str) -> None:
    """Build the test image if needed and import it (ARCH-test, or debian12-ARCH)."""
    driver = ComputeDriver(app.config)
    if distro == "busybox":
        image = import_test_image(driver.images, _build(app, arch))
        click.echo(f"image {image.name} ({image.id}) ready: kernel boot, arch {image.arch}")
        return
    image = import_cloud_image(driver.images, _build_cloud(app, arch))
    click.echo(f"image {image.name} ({image.id}) ready: disk image, arch {image.arch}")


DEMO_FLAVOR = Flavor("demo", 1, 256, 1)
#: The Debian demo: 1 GiB of memory (systemd and cloud-init), a 3 GiB root disk to grow into.
DEBIAN_DEMO_FLAVOR = Flavor("demo-debian", 1, 1024, 3)
_DEMO_USER_DATA = b"""#cloud-config
runcmd:
  - echo "zcompute demo: cloud-init ran the user data on $(uname -m), hostname $(hostname)"
"""


@cli.command()
@click.option("--arch", type=ARCH_CHOICE, default="s390x", show_default=True)
@click.option("--distro", type=DISTRO_CHOICE, default="busybox", show_default=True)
@click.option("--keep", is_flag=True, help="Keep the guest running afterwards.")
@click.option(
    "--timeout",
    type=SECONDS,
    help="Seconds to wait for the guest's banner (busybox, default 120) or for cloud-init's "
    "final message (debian, default 600).",
)
@click.option("--name", help="Name of the demo guest (default: zcompute-demo-<random>).")
@pass_app
def demo(
    app: AppContext, arch: str, distro: str, keep: bool, timeout: float | None, name: str | None
) -> None:
    """Boot an (emulated) s390x guest, stream its boot log until it is up, then delete it.

    --distro debian boots a Debian 12 cloud guest built from Debian's packages (the first
    build takes minutes) with a config drive, and waits for cloud-init's final message.
    """
    driver = ComputeDriver(app.config)
    report = driver.init_host()
    click.secho(
        f"host: {report.arch}, libvirt {_v(report.libvirt_version)}, "
        f"QEMU {_v(report.qemu_version)}, KVM usable: {report.kvm_usable}",
        bold=True,
    )
    name = name or f"zcompute-demo-{uuidlib.uuid4().hex[:6]}"
    uuid = str(uuidlib.uuid4())
    milestones: tuple[tuple[str, str], ...] = (("banner", BANNER),)
    drive: ConfigDrive | None = None
    if distro == "busybox":
        image, flavor = import_test_image(driver.images, _build(app, arch)), DEMO_FLAVOR
        wait_for = BANNER
    else:
        image = import_cloud_image(driver.images, _build_cloud(app, arch))
        flavor, milestones = DEBIAN_DEMO_FLAVOR, MILESTONES
        drive = ConfigDrive(hostname=name, user_data=_DEMO_USER_DATA)
        wait_for = milestones[-1][1]
    follower = BootTimeline(
        driver.console_log_of(uuid), milestones, lambda text: click.echo(text, nl=False)
    )
    click.secho(f"booting {name} ({arch}, {distro}) ...", bold=True)
    follower.start()
    try:
        inst = driver.spawn(
            name,
            image,
            flavor,
            wait_for=wait_for,
            timeout=timeout or (120.0 if distro == "busybox" else 600.0),
            uuid=uuid,
            config_drive=drive,
        )
        time.sleep(0.5)  # let the lines after the awaited one arrive
    finally:
        seen = follower.stop()
    try:
        _summary(driver, inst.name, seen)
    finally:
        if not keep:
            driver.destroy(inst.uuid)
            click.echo(f"deleted {inst.name}")


def _summary(driver: ComputeDriver, name: str, seen: dict[str, float]) -> None:
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
    for label, seconds in seen.items():
        click.echo(f"  {label + ' after':<12} {seconds:.1f} s")


def _v(version: int) -> str:
    return f"{version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}"
