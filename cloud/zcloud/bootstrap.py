"""What the cloud holds once it runs, made through its own APIs (openstacksdk).

``catalog``: Keystone's projects, users, roles, services and endpoints (a supervisor task,
between Keystone and the services that authenticate against it). ``content``: compute hosts
mapped to the cell, the test images, flavors, a network and clouds.yaml (run by ``up``).
Both look things up by name first and create only what is missing: running them again
changes nothing.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import openstack

from zcloud import layout
from zcloud.layout import HOST, PORTS, REGION, Secrets

ENDPOINTS = {
    # service name: (type, URL)
    "nova": ("compute", f"http://{HOST}:{PORTS['nova']}/v2.1"),
    "glance": ("image", f"http://{HOST}:{PORTS['glance']}"),
    "neutron": ("network", f"http://{HOST}:{PORTS['neutron']}"),
    "placement": ("placement", f"http://{HOST}:{PORTS['placement']}"),
}
FLAVORS = {  # name: (MiB, GiB root disk, vCPUs); m1.medium is there to resize to
    "m1.tiny": (256, 1, 1),
    "m1.small": (512, 1, 1),
    "m1.medium": (1024, 2, 1),
}
ARCHES = ("s390x", "x86_64")
NETWORK, SUBNET, CIDR = "zcloud-net", "zcloud-subnet", "10.42.0.0/24"
DEMO = "demo"
#: zcompute's test images are built (and cached) where its e2e tests keep them
TESTIMAGE_DATA = Path("/var/lib/zcompute")


def connect(s: Secrets, user: str = "admin", project: str = "admin") -> Any:
    password = s.admin if user == "admin" else s.demo
    return openstack.connect(
        auth_url=layout.KEYSTONE_URL,
        username=user,
        password=password,
        project_name=project,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=REGION,
        identity_interface="public",
    )


def say(message: str) -> None:
    print(f"zcloud: {message}", flush=True)


# -- Keystone ------------------------------------------------------------------------------------


def _user(conn: Any, name: str, password: str, project: Any) -> Any:
    user = conn.identity.find_user(name, domain_id="default")
    if user is None:
        user = conn.identity.create_user(
            name=name, password=password, domain_id="default", default_project_id=project.id
        )
    else:  # the secrets file is the truth (a state directory restored from elsewhere)
        conn.identity.update_user(user, password=password)
    return user


def _role(conn: Any, name: str) -> Any:
    return conn.identity.find_role(name) or conn.identity.create_role(name=name)


def _project(conn: Any, name: str) -> Any:
    return conn.identity.find_project(name, domain_id="default") or conn.identity.create_project(
        name=name, domain_id="default"
    )


def catalog() -> None:
    s = Secrets.load()
    conn = connect(s)
    service_project = _project(conn, "service")
    admin, service_role, member = (_role(conn, n) for n in ("admin", "service", "member"))
    for name in layout.SERVICE_USERS:
        user = _user(conn, name, s.service, service_project)
        for role in (admin, service_role):
            conn.identity.assign_project_role_to_user(service_project, user, role)
    demo_project = _project(conn, DEMO)
    demo = _user(conn, DEMO, s.demo, demo_project)
    conn.identity.assign_project_role_to_user(demo_project, demo, member)
    for name, (kind, url) in ENDPOINTS.items():
        service = conn.identity.find_service(name) or conn.identity.create_service(
            name=name, type=kind, enabled=True
        )
        have = {e.interface for e in conn.identity.endpoints(service_id=service.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                conn.identity.create_endpoint(
                    service_id=service.id, interface=interface, url=url, region_id=REGION
                )
    say("catalog: service users, demo project and endpoints in place")


# -- content -------------------------------------------------------------------------------------


def map_compute_hosts(conn: Any, timeout: float = 180.0) -> None:
    """Wait for both compute services to report, then map them into cell1."""
    wanted = {layout.HOST_A, layout.HOST_B}
    deadline = time.monotonic() + timeout
    while True:
        up = {
            s.host
            for s in conn.compute.services(binary="nova-compute")
            if s.state == "up" and s.status == "enabled"
        }
        if wanted <= up:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"compute services up: {sorted(up)}, wanted {sorted(wanted)}")
        time.sleep(2)
    while True:
        names = {h.name for h in conn.compute.hypervisors()}
        mapped = {h.service_details.get("host") for h in conn.compute.hypervisors(details=True)}
        if wanted <= mapped and names:
            return
        subprocess.run(
            [
                layout.venv_bin("nova-manage"),
                "--config-file",
                str(layout.ETC / "nova/nova.conf"),
                "cell_v2",
                "discover_hosts",
            ],
            check=True,
            capture_output=True,
            env={"OS_NOVA_DISABLE_EVENTLET_PATCHING": "1", "PATH": "/usr/bin:/bin"},
        )
        if time.monotonic() > deadline:
            raise RuntimeError(f"hypervisors mapped: {sorted(map(str, mapped))}")
        time.sleep(2)


def flavors(conn: Any) -> None:
    have = {f.name for f in conn.compute.flavors(is_public=None)}
    for name, (ram, disk, vcpus) in FLAVORS.items():
        if name not in have:
            conn.compute.create_flavor(name=name, ram=ram, disk=disk, vcpus=vcpus, is_public=True)


def _upload(conn: Any, name: str, fmt: str, path: Path | None, **props: str) -> Any:
    image = conn.image.find_image(name)
    if image is not None and image.status == "active":
        return image
    if image is not None:  # an upload that broke off: start again
        conn.image.delete_image(image)
    image = conn.image.create_image(
        name=name, disk_format=fmt, container_format=fmt, visibility="public", **props
    )
    # zcompute boots an ami of size 0 from its kernel_id and ramdisk_id; the SDK uploads
    # nothing for empty data, which would leave the image queued
    data = path.read_bytes() if path else b""
    conn.image.put(
        f"/images/{image.id}/file",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
    ).raise_for_status()
    return conn.image.get_image(image.id)


def images(conn: Any) -> None:
    from zcompute.testimage import build_test_image

    for arch in ARCHES:
        if (found := conn.image.find_image(f"{arch}-test")) and found.status == "active":
            continue
        built = build_test_image(arch, TESTIMAGE_DATA, say)
        kernel = _upload(conn, f"{arch}-test-kernel", "aki", built.kernel)
        ramdisk = _upload(conn, f"{arch}-test-ramdisk", "ari", built.initrd)
        _upload(
            conn,
            f"{arch}-test",
            "ami",
            None,
            kernel_id=kernel.id,
            ramdisk_id=ramdisk.id,
            os_command_line="zcompute.mode=shell",
            # not hw_architecture: the scheduler's prefilter makes that HW_ARCH_<arch>, the
            # host's own architecture, which an emulated guest's host does not have
            hw_emulation_architecture=arch,
        )
        say(f"image {arch}-test uploaded")


def network(conn: Any) -> None:
    net = conn.network.find_network(NETWORK)
    if net is None:
        net = conn.network.create_network(name=NETWORK, shared=True)
    if conn.network.find_subnet(SUBNET) is None:
        # no DHCP agent runs: guests get no address over the wire (nor need one)
        conn.network.create_subnet(
            name=SUBNET, network_id=net.id, ip_version=4, cidr=CIDR, is_dhcp_enabled=False
        )


def clouds_yaml(s: Secrets) -> None:
    def entry(user: str, project: str, password: str) -> str:
        return (
            f"    auth:\n      auth_url: {layout.KEYSTONE_URL}\n"
            f"      username: {user}\n      password: {password}\n"
            f"      project_name: {project}\n      user_domain_name: Default\n"
            f"      project_domain_name: Default\n"
            f"    region_name: {REGION}\n    interface: public\n    identity_api_version: 3\n"
        )

    text = (
        "# zcompute's cloud (make cloud, docs/cloud.md); written by cloud/zcloud/bootstrap.py\n"
        "clouds:\n"
        f"  zcompute:\n{entry('admin', 'admin', s.admin)}"
        f"  zcompute-demo:\n{entry(DEMO, DEMO, s.demo)}"
    )
    layout.CLOUDS_YAML.parent.mkdir(parents=True, exist_ok=True)
    tmp = layout.CLOUDS_YAML.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.rename(layout.CLOUDS_YAML)


def content() -> None:
    s = Secrets.load()
    conn = connect(s)
    map_compute_hosts(conn)
    flavors(conn)
    network(conn)
    images(conn)
    clouds_yaml(s)
    say(f"content in place; clouds.yaml: {layout.CLOUDS_YAML}")
