"""Test helper: a domain document assembled from nothing but a profile's decisions.

This mirrors what zcompute's builder does with the profile (the real builder lives elsewhere),
so the tests can prove that the decisions form a domain libvirt's schema accepts and that
``zcompute xml lint`` finds nothing wrong with zcompute's own output.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from zcompute.arch import ArchProfile, ConsoleSpec, CpuSpec

DOMAIN_RNG = Path("/usr/share/libvirt/schemas/domain.rng")
LOG_PATH = "/var/lib/zcompute/instances/0000/console.log"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, tag, attrs)
    if text is not None:
        node.text = text
    return node


def _console(devices: etree._Element, spec: ConsoleSpec) -> None:
    dev = _sub(devices, spec.element, type=spec.source_type)
    if spec.path is not None:
        _sub(dev, "source", path=spec.path)
    if spec.log_file is not None:
        _sub(dev, "log", file=spec.log_file, append="on" if spec.log_append else "off")
    target = _sub(dev, "target")
    if spec.target_type:
        target.set("type", spec.target_type)
    if spec.port is not None:
        target.set("port", str(spec.port))
    if spec.target_model:
        _sub(target, "model", name=spec.target_model)


def _cpu(root: etree._Element, cpu: CpuSpec | None) -> None:
    if cpu is None or cpu.mode is None:
        return
    node = _sub(root, "cpu", mode=cpu.mode)
    if cpu.model:
        node.set("match", "exact")
        _sub(node, "model", cpu.model, fallback="forbid")


def build_domain(
    profile: ArchProfile,
    *,
    domain_type: str = "qemu",
    machine: str | None = None,
    form: str = "console",
    virtlogd: bool = True,
    secure: bool = False,
    graphics: str | None = None,
    cpu: CpuSpec | None = None,
    emulator: str | None = None,
) -> etree._Element:
    root = etree.Element("domain", type=domain_type)
    _sub(root, "name", "zc-test")
    _sub(root, "uuid", "6c2f5a8e-8a4f-4a53-9d0e-0d0b0c5c1d11")
    _sub(root, "memory", "262144", unit="KiB")
    _sub(root, "vcpu", "1")
    os_el = _sub(root, "os")
    _sub(os_el, "type", "hvm", arch=profile.arch, machine=machine or profile.default_machine)
    features = profile.domain_features()
    if features:
        feat = _sub(root, "features")
        for name in features:
            _sub(feat, name)
    _cpu(root, cpu)
    _sub(root, "clock", offset="utc")
    devices = _sub(root, "devices")
    if emulator:
        _sub(devices, "emulator", emulator)
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type="qcow2")
    _sub(disk, "source", file="/var/lib/zcompute/instances/0000/disk.qcow2")
    _sub(disk, "target", dev="vda", bus=profile.disk_bus)
    _sub(disk, "boot", order="1")
    _sub(devices, "controller", type="scsi", index="0", model=profile.scsi_controller_model)
    cdrom = _sub(devices, "disk", type="file", device="cdrom")
    _sub(cdrom, "source", file="/var/lib/zcompute/instances/0000/config.iso")
    _sub(cdrom, "target", dev="sda", bus=profile.cdrom_bus)
    _sub(cdrom, "readonly")
    if profile.usb_controller_model is not None:
        _sub(devices, "controller", type="usb", model=profile.usb_controller_model)
    nic = _sub(devices, "interface", type="network")
    _sub(nic, "source", network="default")
    _sub(nic, "model", type=profile.nic_model)
    for spec in profile.consoles(LOG_PATH, form=form, virtlogd=virtlogd):
        _console(devices, spec)
    if graphics is not None:
        plan = profile.graphics(graphics)
        for inp in plan.inputs:
            _sub(devices, "input", type=inp.type, bus=inp.bus)
        _sub(devices, "graphics", type=plan.type, autoport="yes")
        video = _sub(devices, "video")
        _sub(video, "model", type=plan.video_model)
    watchdog = profile.watchdog("reset")
    _sub(devices, "watchdog", model=watchdog.model, action=watchdog.action)
    _sub(devices, "memballoon", model=profile.memballoon_model(secure))
    if profile.panic_model:
        _sub(devices, "panic", model=profile.panic_model)
    if secure and profile.launch_security:
        _sub(root, "launchSecurity", type=profile.launch_security)
    return root


def schema_errors(root: etree._Element) -> str | None:
    """libvirt's own RelaxNG schema verdict on ``root``: None when valid, else the errors."""
    schema = etree.RelaxNG(etree.parse(str(DOMAIN_RNG)))
    if schema.validate(etree.ElementTree(root)):
        return None
    return str(schema.error_log)
