"""What Tempest must know of the running cloud, asked of its own APIs.

The cloud's clouds.yaml gives Keystone's address and the admin credentials; a token from
Keystone gives the service catalog; the services give the images, flavors, network, Neutron's
extensions and Nova's microversions. Only the standard library speaks HTTP here (every address
is the cloud's, on loopback), so the generator runs with any Python that has PyYAML.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: the cloud's names (part 1, cloud/zcloud/bootstrap.py): overridable on the command line
CLOUD = "zcompute"
IMAGE = "s390x-test"
NETWORK = "zcloud-net"
#: flavor_ref and flavor_ref_alt: Tempest's resize tests need the second one larger
FLAVOR, FLAVOR_ALT = "m1.tiny", "m1.small"
#: Tempest's [service_available] options and the catalog types that stand for them
SERVICE_TYPES = {
    "nova": ("compute",),
    "glance": ("image",),
    "neutron": ("network",),
    "cinder": ("block-storage", "volumev3", "volume"),
    "swift": ("object-store",),
    "horizon": ("dashboard",),
}


class CloudError(RuntimeError):
    """The cloud is not there, or lacks something Tempest needs."""


@dataclass(frozen=True)
class Credentials:
    auth_url: str
    username: str
    password: str
    project_name: str
    user_domain_name: str
    project_domain_name: str
    region_name: str
    interface: str


def load_credentials(clouds_yaml: Path, cloud: str = CLOUD) -> Credentials:
    try:
        clouds = yaml.safe_load(clouds_yaml.read_text())["clouds"]
        entry = clouds[cloud]
    except (OSError, KeyError, TypeError) as error:
        raise CloudError(f"no cloud {cloud!r} in {clouds_yaml}: {error}") from error
    auth = entry["auth"]
    return Credentials(
        auth_url=str(auth["auth_url"]).rstrip("/"),
        username=str(auth["username"]),
        password=str(auth["password"]),
        project_name=str(auth["project_name"]),
        user_domain_name=str(auth.get("user_domain_name", "Default")),
        project_domain_name=str(auth.get("project_domain_name", "Default")),
        region_name=str(entry.get("region_name", "RegionOne")),
        interface=str(entry.get("interface", "public")),
    )


# (method, url, headers, body) -> (status, headers, parsed body): a fake replaces it in tests
Transport = Callable[[str, str, dict[str, str], bytes | None], tuple[int, dict[str, str], Any]]


def http(
    method: str, url: str, headers: dict[str, str], body: bytes | None
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        raise CloudError(f"{method} {url}: HTTP {error.code}: {raw[:300]!r}") from error
    except (urllib.error.URLError, OSError) as error:
        raise CloudError(f"{method} {url}: {error}") from error


@dataclass
class Session:
    """A Keystone token and its catalog (one region, one interface)."""

    credentials: Credentials
    transport: Transport = http
    token: str = ""
    endpoints: dict[str, str] = field(default_factory=dict)

    def login(self) -> None:
        c = self.credentials
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": c.username,
                            "password": c.password,
                            "domain": {"name": c.user_domain_name},
                        }
                    },
                },
                "scope": {
                    "project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}
                },
            }
        }
        _, headers, answer = self.transport(
            "POST",
            f"{c.auth_url}/auth/tokens",
            {"Content-Type": "application/json"},
            json.dumps(body).encode(),
        )
        # header names' case depends on the server and on http.client
        self.token = next(v for k, v in headers.items() if k.lower() == "x-subject-token")
        for service in answer["token"]["catalog"]:
            for endpoint in service["endpoints"]:
                if endpoint["interface"] == c.interface and endpoint.get("region_id") in (
                    None,
                    c.region_name,
                ):
                    self.endpoints[service["type"]] = endpoint["url"].rstrip("/")

    def get(self, service_type: str, path: str, headers: dict[str, str] | None = None) -> Any:
        if service_type not in self.endpoints:
            raise CloudError(f"no {service_type} endpoint in the catalog")
        base = self.endpoints[service_type]
        _, _, answer = self.transport(
            "GET", f"{base}{path}", {"X-Auth-Token": self.token, **(headers or {})}, None
        )
        return answer


@dataclass(frozen=True)
class CloudFacts:
    """Everything the generator puts in tempest.conf that comes from the cloud."""

    credentials: Credentials
    endpoints: dict[str, str]
    image_ref: str
    image_ref_alt: str
    #: the default image's Glance record: its properties are top-level keys in Glance v2
    image: dict[str, Any]
    flavor_ref: str
    flavor_ref_alt: str
    network_name: str
    network_extensions: list[str]
    compute_min_microversion: str
    compute_max_microversion: str
    compute_hosts_up: list[str]
    services: dict[str, bool]


def _one_image(session: Session, name: str) -> dict[str, Any]:
    found = [
        i
        for i in session.get("image", f"/v2/images?name={name}")["images"]
        if i["status"] == "active"
    ]
    if not found:
        raise CloudError(f"no active image {name!r} in Glance")
    return dict(found[0])


def _flavors(session: Session) -> tuple[str, str]:
    flavors = session.get("compute", "/flavors/detail")["flavors"]
    by_name = {f["name"]: f for f in flavors}
    if FLAVOR in by_name and FLAVOR_ALT in by_name:
        return str(by_name[FLAVOR]["id"]), str(by_name[FLAVOR_ALT]["id"])
    # another cloud: the two smallest distinct flavors by memory (resize must grow)
    ordered = sorted(flavors, key=lambda f: (f["ram"], f["disk"], f["vcpus"]))
    if len(ordered) < 2:
        raise CloudError(f"Tempest needs two flavors, the cloud has {len(ordered)}")
    return str(ordered[0]["id"]), str(ordered[1]["id"])


def probe(session: Session, image: str = IMAGE, network: str = NETWORK) -> CloudFacts:
    session.login()
    default_image = _one_image(session, image)
    image_ref = str(default_image["id"])
    flavor, flavor_alt = _flavors(session)
    networks = session.get("network", f"/v2.0/networks?name={network}")["networks"]
    if not networks:
        raise CloudError(f"no network {network!r} in Neutron")
    extensions = sorted(
        e["alias"] for e in session.get("network", "/v2.0/extensions")["extensions"]
    )
    # the compute endpoint's own document: its version range
    version = session.get("compute", "")["version"]
    services = session.get("compute", "/os-services?binary=nova-compute")["services"]
    hosts = sorted(s["host"] for s in services if s["state"] == "up" and s["status"] == "enabled")
    available = {
        name: any(t in session.endpoints for t in types) for name, types in SERVICE_TYPES.items()
    }
    return CloudFacts(
        credentials=session.credentials,
        endpoints=dict(session.endpoints),
        image_ref=image_ref,
        # the same image: the alternative is for rebuild tests, which must boot the same arch
        image_ref_alt=image_ref,
        image=default_image,
        flavor_ref=flavor,
        flavor_ref_alt=flavor_alt,
        network_name=networks[0]["name"],
        network_extensions=extensions,
        compute_min_microversion=str(version["min_version"]),
        compute_max_microversion=str(version["version"]),
        compute_hosts_up=hosts,
        services=available,
    )
