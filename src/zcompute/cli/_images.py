"""``zcompute image import|list|show|delete``: the image store from the shell."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from zcompute.arch import ARCHES
from zcompute.cli._app import AppContext, cli, pass_app
from zcompute.cli._render import (
    human_bytes,
    image_dict,
    json_option,
    key_values,
    open_driver,
    print_json,
    print_table,
    print_unusable,
    stderr_console,
    unusable_dict,
)
from zcompute.cli._types import RegularFile
from zcompute.model import Image, UnusableRecord

__all__ = ["image_group"]

_FILE = RegularFile()  # not a FIFO or device: reading one would block or never end


@cli.group("image")
def image_group() -> None:
    """Base images: disk images (raw, qcow2) and direct kernel boot images."""


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=False,
    )


@image_group.command("import")
@click.argument("name")
@click.argument("file", required=False, type=_FILE)
@click.option("--kernel", type=_FILE, help="Kernel of a direct kernel boot image.")
@click.option("--initrd", type=_FILE, help="Initrd of a kernel boot image.")
@click.option("--cmdline", help="Kernel command line of a kernel boot image.")
@click.option("--arch", type=click.Choice(ARCHES), help="Guest architecture.")
@click.option(
    "--property",
    "properties",
    multiple=True,
    metavar="KEY=VALUE",
    help="Image property, e.g. hw_disk_bus=virtio (repeatable).",
)
@click.option(
    "--sha256", "expected_sha256", metavar="HEX", help="Refuse FILE unless its SHA-256 is HEX."
)
@pass_app
def image_import(
    app: AppContext,
    name: str,
    file: Path | None,
    kernel: Path | None,
    initrd: Path | None,
    cmdline: str | None,
    arch: str | None,
    properties: tuple[str, ...],
    expected_sha256: str | None,
) -> None:
    """Import FILE (raw or qcow2) as image NAME, or a kernel boot image with --kernel.

    The bytes are copied into the store and hashed on the way (SHA-256); a disk image is
    checked with qemu-img (format, backing files) before it becomes visible.
    """
    _check_import_form(file, kernel, initrd, cmdline, arch, expected_sha256)
    props = key_values("--property", properties)
    with open_driver(app) as driver, _progress_bar() as bar:
        tasks: list[TaskID] = []  # the bar appears with the first bytes copied

        def progress(done: int, total: int) -> None:
            if not tasks:
                tasks.append(bar.add_task(f"importing {name}", total=total))
            bar.update(tasks[0], completed=done, total=total)

        if file is not None:
            image = driver.images.import_file(
                name,
                file,
                arch=arch,
                properties=props,
                expected_sha256=expected_sha256,
                progress=progress,
            )
        else:
            assert kernel is not None  # _check_import_form: exactly one of FILE, --kernel
            assert arch is not None  # ... and --kernel comes with --arch
            image = driver.images.import_kernel(
                name, kernel, initrd, cmdline, arch, props, progress=progress
            )
    click.echo(f"imported image {image.name} ({image.id}): {_kind(image)}")
    click.echo(f"  sha256 {image.sha256}")
    if image.initrd_sha256 is not None:
        click.echo(f"  initrd sha256 {image.initrd_sha256}")


def _check_import_form(
    file: Path | None,
    kernel: Path | None,
    initrd: Path | None,
    cmdline: str | None,
    arch: str | None,
    expected_sha256: str | None,
) -> None:
    if (file is None) == (kernel is None):
        raise click.UsageError("give either FILE (a disk image) or --kernel (kernel boot image)")
    if kernel is None and (initrd is not None or cmdline is not None):
        raise click.UsageError("--initrd and --cmdline need --kernel")
    if kernel is not None and arch is None:
        raise click.UsageError("a kernel boot image needs --arch (the kernel's architecture)")
    if kernel is not None and expected_sha256 is not None:
        raise click.UsageError("--sha256 checks FILE; it does not apply to --kernel")


def _kind(image: Image) -> str:
    arch = image.arch or "any arch"
    if image.is_kernel_boot:
        return f"kernel boot, {arch}, {human_bytes(image.size)}"
    return (
        f"{image.disk_format} disk, {arch}, {human_bytes(image.virtual_size)} virtual, "
        f"{human_bytes(image.size)} stored"
    )


@image_group.command("list")
@json_option
@pass_app
def image_list(app: AppContext, as_json: bool) -> None:
    """List the images in the store (one recorded under older rules that no boot can use:
    after them)."""
    with open_driver(app) as driver:
        records = driver.images.list()
    if as_json:
        print_json([image_dict(i) if isinstance(i, Image) else unusable_dict(i) for i in records])
        return
    images = [i for i in records if isinstance(i, Image)]
    print_table(
        "Images",
        ("name", "id", "arch", "kind", "size", "virtual size", "created"),
        (
            (
                i.name,
                i.id,
                i.arch or "-",
                "kernel" if i.is_kernel_boot else i.disk_format,
                human_bytes(i.size),
                human_bytes(i.virtual_size) if not i.is_kernel_boot else "-",
                i.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            )
            for i in images
        ),
    )
    print_unusable([i for i in records if isinstance(i, UnusableRecord)])


@image_group.command("show")
@click.argument("name")
@json_option
@pass_app
def image_show(app: AppContext, name: str, as_json: bool) -> None:
    """Show one image (NAME or id): files, sizes, checksums, properties."""
    with open_driver(app) as driver:
        image = driver.images.get(name)
    data = image_dict(image)
    if as_json:
        print_json(data)
        return
    rows = [(key, _show_value(value)) for key, value in data.items() if key != "properties"]
    rows += [(f"property {k}", v) for k, v in sorted(image.properties.items())]
    print_table(f"Image {image.name}", ("field", "value"), rows)


def _show_value(value: object) -> str:
    return "-" if value is None else str(value)


@image_group.command("delete")
@click.argument("name")
@pass_app
def image_delete(app: AppContext, name: str) -> None:
    """Delete an image (NAME or id); refused while an instance or another image uses it."""
    with open_driver(app) as driver:
        deleted = driver.images.delete(name)
    click.echo(f"deleted image {deleted.name} ({deleted.id})")
