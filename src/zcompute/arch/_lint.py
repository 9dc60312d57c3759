"""An architecture-aware check of existing domain XML, driven by a profile's data.

Every rule here is generic: *what* is wrong comes from the profile (its watchdog models, its
console targets, the features it refuses...). So ``<acpi/>`` plus an i6300esb watchdog is
flagged on s390x because the s390x profile says so, not because this module knows IBM Z.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from lxml import etree

from zcompute.errors import XMLError
from zcompute.xml import DEVICE_CLASSES, Address, device_from_xml

if TYPE_CHECKING:
    from zcompute.arch._profile import ArchProfile

__all__ = ["LintFinding", "domain_arch", "lint_domain", "parse_domain_xml"]

ERROR = "error"
WARNING = "warning"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)


@dataclasses.dataclass(frozen=True)
class LintFinding:
    """One problem: a rule name, ``error`` or ``warning``, a message and the element's path."""

    rule: str
    severity: str
    message: str
    where: str

    def __str__(self) -> str:
        return f"{self.severity}: [{self.rule}] {self.message} ({self.where})"


def parse_domain_xml(text: str | bytes, source: str = "domain XML") -> etree._Element:
    data = text.encode() if isinstance(text, str) else text
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as err:
        raise XMLError(source, f"not well-formed XML: {err}") from err
    if root.tag != "domain":
        raise XMLError(source, f"root element is <{tag_name(root)}>, expected <domain>", "<domain>")
    return root


def tag_name(node: etree._Element) -> str:
    return str(etree.QName(node).localname)


def _as_root(domain: Any) -> etree._Element:
    """Accept XML text, an lxml element, or an object with ``to_xml()`` (the XML layer's)."""
    if isinstance(domain, etree._Element):
        return domain
    if isinstance(domain, str | bytes):
        return parse_domain_xml(domain)
    to_xml = getattr(domain, "to_xml", None)
    if callable(to_xml):
        return parse_domain_xml(to_xml())
    raise XMLError("domain", f"cannot lint a {type(domain).__name__}", "XML text or a Domain")


def domain_arch(domain: Any) -> str | None:
    """The ``os/type/@arch`` of a domain, if it declares one."""
    os_type = _as_root(domain).find("os/type")
    return None if os_type is None else os_type.get("arch")


def lint_domain(profile: ArchProfile, domain: Any) -> list[LintFinding]:
    """Every finding of every rule, in document order of the rules."""
    root = _as_root(domain)
    return [finding for rule in _RULES for finding in rule(profile, root)]


Rule = Callable[["ArchProfile", etree._Element], Iterator[LintFinding]]


def _where(node: etree._Element) -> str:
    return str(node.getroottree().getpath(node))


def _finding(rule: str, severity: str, message: str, node: etree._Element) -> LintFinding:
    return LintFinding(rule, severity, message, _where(node))


def _check_os(profile: ArchProfile, root: etree._Element) -> Iterator[LintFinding]:
    os_type = root.find("os/type")
    if os_type is None:
        return
    arch = os_type.get("arch")
    if arch and arch != profile.arch:
        yield _finding("arch", ERROR, f"domain is {arch}, checked as {profile.arch}", os_type)
    machine = os_type.get("machine")
    if machine and not profile.machine_usable(machine):
        families = ", ".join(f"{fam}*" for fam in profile.machine_families)
        msg = f"machine type {machine!r} is not usable on {profile.arch} (use {families})"
        yield _finding("machine", ERROR, msg, os_type)


def _check_features(profile: ArchProfile, root: etree._Element) -> Iterator[LintFinding]:
    for feat in root.iterfind("features/*"):
        if feat.tag in profile.unsupported_features:
            msg = f"<{tag_name(feat)}/> does not exist on {profile.arch}; remove it"
            yield _finding("feature", ERROR, msg, feat)
    for timer in root.iterfind("clock/timer"):
        name = timer.get("name", "")
        if name not in profile.timers:
            msg = f"timer {name!r} is not a {profile.arch} timer"
            yield _finding("timer", WARNING, msg, timer)


def _check_models(profile: ArchProfile, root: etree._Element) -> Iterator[LintFinding]:
    checks = (
        ("devices/watchdog", "model", profile.watchdog_models, "watchdog"),
        ("devices/panic", "model", profile.panic_models, "panic"),
        ("devices/graphics", "type", profile.graphics_types, "graphics"),
        ("devices/video/model", "type", profile.video_models, "video"),
        ("devices/interface/model", "type", profile.nic_models, "nic-model"),
    )
    for path, attr, allowed, rule in checks:
        for node in root.iterfind(path):
            value = node.get(attr)
            if value is not None and value not in allowed:
                hint = ", ".join(allowed) if allowed else "none"
                msg = f"{rule} {value!r} is not supported on {profile.arch} (supported: {hint})"
                yield _finding(rule, ERROR, msg, node)
    if not profile.sound:
        for node in root.iterfind("devices/sound"):
            yield _finding("sound", ERROR, f"{profile.arch} guests have no sound device", node)


def _check_usb_and_inputs(profile: ArchProfile, root: etree._Element) -> Iterator[LintFinding]:
    if profile.usb_controller_model == "none":
        no_usb = f"{profile.arch} guests have no USB"
        for ctl in root.iterfind("devices/controller[@type='usb']"):
            if ctl.get("model") != "none":
                yield _finding("usb", ERROR, f"{no_usb}: use <controller model='none'/>", ctl)
        usb_paths = ("devices/input[@bus='usb']", "devices/hostdev[@type='usb']")
        for path in (*usb_paths, "devices/redirdev[@bus='usb']"):
            for node in root.iterfind(path):
                yield _finding("usb", ERROR, f"{no_usb} for this <{tag_name(node)}>", node)
    has_graphics = root.find("devices/graphics") is not None
    for tablet in root.iterfind("devices/input[@type='tablet']"):
        if profile.tablet_bus is None:
            yield _finding("tablet", ERROR, f"no tablet on {profile.arch}", tablet)
        elif not has_graphics:
            yield _finding("tablet", WARNING, "a tablet without a graphical console", tablet)


def _check_disks(profile: ArchProfile, root: etree._Element) -> Iterator[LintFinding]:
    for disk in root.iterfind("devices/disk"):
        target = disk.find("target")
        bus = target.get("bus") if target is not None else None
        if bus is None or target is None:
            continue
        cdrom = disk.get("device") == "cdrom"
        allowed = profile.cdrom_buses if cdrom else profile.disk_buses
        if bus not in allowed:
            kind = "CD-ROM" if cdrom else "disk"
            msg = f"{kind} bus {bus!r} is not available on {profile.arch} (use {allowed[0]})"
            yield _finding("disk-bus", ERROR, msg, target)


def _is_virtio(dev: etree._Element) -> bool:
    """Whether a device is a virtio device (its address then is the arch's virtio transport)."""
    model = dev.find("model")
    target = dev.find("target")
    kind = {
        "disk": target.get("bus") if target is not None else None,
        "interface": model.get("type") if model is not None else None,
        "video": model.get("type") if model is not None else None,
        "input": dev.get("bus"),
        "memballoon": dev.get("model"),
        "rng": dev.get("model"),
        "controller": dev.get("model") or dev.get("type"),
    }.get(str(dev.tag))
    return kind is not None and kind.startswith("virtio")


def _check_addresses(profile: ArchProfile, root: etree._Element) -> Iterator[LintFinding]:
    for address in root.iterfind("devices/*/address[@type]"):
        dev = address.getparent()
        kind = address.get("type", "")
        if dev is not None and _is_virtio(dev) and kind not in profile.virtio_address_types:
            transports = ", ".join(profile.virtio_address_types)
            msg = f"virtio device on a {kind} address; {profile.arch} uses {transports}"
            yield _finding("address", WARNING, msg, address)
        if kind == "ccw" and address.get("cssid") is not None:
            with contextlib.suppress(XMLError):  # a bad number is _check_values' finding
                cssid = Address.from_xml(etree.tostring(address)).cssid
                if cssid is not None and cssid != _VIRTUAL_CSSID:
                    msg = f"ccw cssid {address.get('cssid')!r}: virtual devices belong in 0xfe"
                    yield _finding("ccw-address", WARNING, msg, address)


_VIRTUAL_CSSID = 0xFE


def _check_values(profile: ArchProfile, root: etree._Element) -> Iterator[LintFinding]:
    """Every device's values as the typed XML layer reads them: its limits (ccw numbers,
    loadparm, enumerations) are the ones this lint applies, declared once, there."""
    for dev in root.iterfind("devices/*"):
        if not isinstance(dev.tag, str) or dev.tag not in DEVICE_CLASSES:
            continue
        try:
            device_from_xml(etree.tostring(dev))
        except XMLError as err:
            rule = _VALUE_RULES.get(str(err.field).rsplit("@", 1)[-1], "value")
            yield _finding(rule, ERROR, str(err), dev)


# the rule a bad value reports under, by the attribute the XML layer names
_VALUE_RULES = {"cssid": "ccw-address", "ssid": "ccw-address", "devno": "ccw-address",
                "loadparm": "loadparm"}  # fmt: skip


def _check_consoles(profile: ArchProfile, root: etree._Element) -> Iterator[LintFinding]:
    targets: set[str] = set()
    for element, allowed, default in (
        ("serial", profile.serial_targets, profile.default_serial_target),
        ("console", profile.console_targets, profile.default_console_target),
    ):
        for dev in root.iterfind(f"devices/{element}"):
            target = dev.find("target")
            kind = (target.get("type") if target is not None else None) or default
            targets.add(kind)
            if kind not in allowed:
                msg = f"{element} target {kind!r} is not a {profile.arch} {element} target"
                yield _finding("console", ERROR, f"{msg} (use {', '.join(allowed)})", dev)
    devices = root.find("devices")
    where = root if devices is None else devices
    if targets and not targets & set(profile.early_console_targets):
        early = ", ".join(profile.early_console_targets)
        msg = f"no console gets early boot messages on {profile.arch} (add one of: {early})"
        yield _finding("early-console", WARNING, msg, where)
    elif targets and profile.early_console_targets and not _early_console_logged(profile, root):
        msg = (
            f"no {profile.arch} early-boot console writes a log file: the earliest boot "
            "messages are lost once read (make the log console type='file', or give one "
            "<log file='...' append='on'/>)"
        )
        yield _finding("early-console-log", WARNING, msg, where)


def _early_console_logged(profile: ArchProfile, root: etree._Element) -> bool:
    """Whether a console that gets early boot messages also writes them to a file."""
    for element, default in (
        ("serial", profile.default_serial_target),
        ("console", profile.default_console_target),
    ):
        for dev in root.iterfind(f"devices/{element}"):
            target = dev.find("target")
            model = target.find("model") if target is not None else None
            kinds = {(target.get("type") if target is not None else None) or default}
            if model is not None and model.get("name"):
                kinds.add(str(model.get("name")))
            early = kinds & set(profile.early_console_targets) or (
                "sclplmconsole" in kinds or "sclpconsole" in kinds
            )
            if early and (dev.get("type") == "file" or dev.find("log[@file]") is not None):
                return True
    return False


def _check_security_and_boot(profile: ArchProfile, root: etree._Element) -> Iterator[LintFinding]:
    for sec in root.iterfind("launchSecurity"):
        kind = sec.get("type", "")
        if kind != profile.launch_security:
            yield _finding("launch-security", ERROR, f"{kind!r} not on {profile.arch}", sec)
            continue
        for balloon in root.iterfind("devices/memballoon"):
            if balloon.get("model") != profile.secure_memballoon:
                msg = f"{kind} guests need <memballoon model='{profile.secure_memballoon}'/>"
                yield _finding("launch-security", ERROR, msg, balloon)
    if not profile.supports_loadparm:
        for boot in root.iterfind("devices/*/boot[@loadparm]"):
            yield _finding("loadparm", ERROR, f"loadparm is not used on {profile.arch}", boot)


_RULES: tuple[Rule, ...] = (
    _check_os,
    _check_features,
    _check_models,
    _check_usb_and_inputs,
    _check_disks,
    _check_addresses,
    _check_values,
    _check_consoles,
    _check_security_and_boot,
)
