"""What iSCSI volumes leave in records and definitions: the state codec keeps a network disk
losslessly, the plan renders it with references to secrets only, and the secrets' own XML is
what libvirt's schema takes."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from zcompute.arch import get_profile
from zcompute.builder import disk_device
from zcompute.model import BlockDeviceSpec, NetworkDiskSource
from zcompute.plan import disk_plan
from zcompute.state._codec import attachment_row, decode_attachment
from zcompute.virt import secret_xml

IQN = "iqn.2010-10.org.openstack:volume-1"
CHAP = "6e0b6e22-3b1a-4b8e-9c61-1f4cc1a1c0de"
LUKS = "0d4f3c2b-1a09-4e8d-b7c6-a5f4e3d2c1b0"
SOURCE = NetworkDiskSource(
    host="192.0.2.10",
    name=f"{IQN}/1",
    auth_username="chapuser",
    auth_secret=CHAP,
    initiator="iqn.2004-10.org.debian:01:zcompute-0a1b2c",
)
SPEC = BlockDeviceSpec(
    source=SOURCE, target="vdb", serial="vol1", format="raw", shareable=True, encryption_secret=LUKS
)


def test_the_record_keeps_a_network_volume() -> None:
    kind, target, source = attachment_row(SPEC)
    row = {"kind": kind, "target": target, "source": source}
    assert decode_attachment(row) == SPEC  # type: ignore[arg-type]
    local = BlockDeviceSpec(source=Path("/srv/v.img"), target="vdc")
    kind, target, source = attachment_row(local)
    assert decode_attachment({"kind": kind, "target": target, "source": source}) == local  # type: ignore[arg-type]


def test_a_record_written_before_network_volumes_reads_as_before() -> None:
    old = (
        '{"bus":"virtio","device":"disk","format":"raw","readonly":false,"serial":null,'
        '"source":"/srv/v.img"}'
    )
    spec = decode_attachment({"kind": "volume", "target": "vdb", "source": old})  # type: ignore[arg-type]
    assert (spec.shareable, spec.encryption_secret) == (False, None)  # type: ignore[union-attr]


def test_the_plan_renders_a_network_disk_that_names_secrets_only() -> None:
    for arch in ("s390x", "x86_64"):
        disk = disk_device(disk_plan(SPEC, get_profile(arch)))
        assert disk.type == "network"
        assert (disk.source_protocol, disk.source_name) == ("iscsi", f"{IQN}/1")
        assert (disk.source_host_name, disk.source_host_port) == ("192.0.2.10", 3260)
        assert (disk.source_auth_username, disk.source_auth_secret_uuid) == ("chapuser", CHAP)
        assert disk.source_initiator_iqn == SOURCE.initiator
        assert (disk.encryption_format, disk.encryption_engine) == ("luks", "qemu")
        assert disk.encryption_secret_uuid == LUKS
        assert disk.shareable
        assert disk.driver_cache == "none"
        assert disk.source_file is None
        assert disk.source_dev is None


def test_secret_xml_is_libvirts() -> None:
    schema = etree.RelaxNG(etree.parse("/usr/share/libvirt/schemas/secret.rng"))
    for usage, usage_id in (
        ("iscsi", "zcompute:0a1b2c3d4e5f:u:s"),
        ("volume", "/zcompute/0a1b2c3d4e5f/u/s"),
    ):
        doc = etree.fromstring(secret_xml(CHAP, usage, usage_id, "zcompute: CHAP <&>"))  # type: ignore[arg-type]
        assert schema.validate(doc), schema.error_log
        assert doc.get("private") == "yes"
        assert doc.get("ephemeral") == "no"
