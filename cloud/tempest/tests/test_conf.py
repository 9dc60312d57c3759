"""tempest.conf from a fake cloud (its HTTP answers) and a small support matrix."""

from __future__ import annotations

import configparser
import json
from pathlib import Path
from typing import Any

import pytest
from ztempest import cloud, conf, features
from ztempest.features import NovaConf

CLOUDS_YAML = """\
clouds:
  zcompute:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: admin
      password: s3cret%x
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
"""


def endpoint(kind: str, url: str) -> dict[str, Any]:
    return {
        "type": kind,
        "endpoints": [
            {"interface": "public", "region_id": "RegionOne", "url": url},
            {"interface": "admin", "region_id": "RegionOne", "url": url + "/admin-only"},
        ],
    }


ANSWERS: dict[str, Any] = {
    "http://127.0.0.1:9292/v2/images?name=s390x-test": {
        "images": [{"id": "img-s390x", "status": "active"}]
    },
    "http://127.0.0.1:8774/v2.1/flavors/detail": {
        "flavors": [
            {"id": "3", "name": "m1.medium", "ram": 1024, "disk": 2, "vcpus": 1},
            {"id": "1", "name": "m1.tiny", "ram": 256, "disk": 1, "vcpus": 1},
            {"id": "2", "name": "m1.small", "ram": 512, "disk": 1, "vcpus": 1},
        ]
    },
    "http://127.0.0.1:9696/v2.0/networks?name=zcloud-net": {"networks": [{"name": "zcloud-net"}]},
    "http://127.0.0.1:9696/v2.0/extensions": {
        "extensions": [{"alias": "security-group"}, {"alias": "port-security"}]
    },
    "http://127.0.0.1:8774/v2.1": {"version": {"version": "2.100", "min_version": "2.1"}},
    "http://127.0.0.1:8774/v2.1/os-services?binary=nova-compute": {
        "services": [
            {"host": "zc-host-b", "state": "up", "status": "enabled"},
            {"host": "zc-host-a", "state": "up", "status": "enabled"},
            {"host": "old", "state": "down", "status": "enabled"},
        ]
    },
}


def fake_http(
    method: str, url: str, headers: dict[str, str], body: bytes | None
) -> tuple[int, dict[str, str], Any]:
    if method == "POST":
        assert url == "http://127.0.0.1:5000/v3/auth/tokens"
        assert body is not None
        user = json.loads(body)["auth"]["identity"]["password"]["user"]
        assert user["password"] == "s3cret%x"
        catalog = [
            endpoint("identity", "http://127.0.0.1:5000/v3"),
            endpoint("compute", "http://127.0.0.1:8774/v2.1"),
            endpoint("image", "http://127.0.0.1:9292"),
            endpoint("network", "http://127.0.0.1:9696"),
            endpoint("placement", "http://127.0.0.1:8778"),
        ]
        return 201, {"x-subject-token": "tok"}, {"token": {"catalog": catalog}}
    assert headers["X-Auth-Token"] == "tok"
    if url not in ANSWERS:
        raise cloud.CloudError(f"GET {url}: HTTP 404")
    return 200, {}, ANSWERS[url]


@pytest.fixture
def facts(tmp_path: Path) -> cloud.CloudFacts:
    path = tmp_path / "clouds.yaml"
    path.write_text(CLOUDS_YAML)
    return cloud.probe(cloud.Session(cloud.load_credentials(path), transport=fake_http))


def test_probe_reads_the_cloud(facts: cloud.CloudFacts) -> None:
    assert facts.image_ref == facts.image_ref_alt == "img-s390x"
    assert (facts.flavor_ref, facts.flavor_ref_alt) == ("1", "2")
    assert facts.compute_hosts_up == ["zc-host-a", "zc-host-b"]
    assert facts.compute_max_microversion == "2.100"
    assert facts.endpoints["compute"] == "http://127.0.0.1:8774/v2.1"  # public, not admin
    assert facts.services == {
        "nova": True, "glance": True, "neutron": True,
        "cinder": False, "swift": False, "horizon": False,
    }  # fmt: skip


def test_missing_image_is_a_cloud_error(facts: cloud.CloudFacts, tmp_path: Path) -> None:
    del facts
    saved = ANSWERS["http://127.0.0.1:9292/v2/images?name=s390x-test"]
    ANSWERS["http://127.0.0.1:9292/v2/images?name=s390x-test"] = {"images": []}
    try:
        with pytest.raises(cloud.CloudError, match="s390x-test"):
            cloud.probe(cloud.Session(cloud.load_credentials(tmp_path / "clouds.yaml"), fake_http))
    finally:
        ANSWERS["http://127.0.0.1:9292/v2/images?name=s390x-test"] = saved


def rendered(facts: cloud.CloudFacts, tmp_path: Path) -> configparser.ConfigParser:
    matrix = {
        "rows": [
            {"key": "operation.live-migrate", "columns": {"s390x": {"zcompute": "complete"}}},
            {"key": "operation.resize", "columns": {"s390x": {"zcompute": "partial"}}},
        ]
    }
    nova = NovaConf("[DEFAULT]\nenabled_apis = osapi_compute\n[vnc]\nenabled = false\n")
    decided = features.decisions(matrix, features.Deployment(nova, facts.image))
    text = conf.render(conf.build(facts, decided, nova, tmp_path), conf.header(decided, facts))
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(text)
    return parsed


def test_tempest_conf(facts: cloud.CloudFacts, tmp_path: Path) -> None:
    ini = rendered(facts, tmp_path)
    assert ini["auth"]["admin_password"] == "s3cret%x"
    assert ini["auth"]["create_isolated_networks"] == "false"
    assert ini["compute"]["image_ref"] == "img-s390x"
    assert ini["compute"]["min_compute_nodes"] == "2"
    assert ini["compute"]["fixed_network_name"] == "zcloud-net"
    assert ini["compute"]["build_timeout"] == "300"
    assert ini["validation"]["run_validation"] == "false"
    assert ini["service_available"]["cinder"] == "false"
    assert ini["service_available"]["nova"] == "true"
    flags = ini["compute-feature-enabled"]
    assert flags["live_migration"] == "true"
    assert flags["resize"] == "false"  # partial
    assert flags["pause"] == "false"  # not in this matrix
    assert flags["vnc_console"] == "false"
    assert flags["metadata_service"] == "false"
    assert ini["network-feature-enabled"]["floating_ips"] == "false"
    assert ini["network-feature-enabled"]["api_extensions"] == "port-security,security-group"


def test_header_explains_each_flag(facts: cloud.CloudFacts, tmp_path: Path) -> None:
    decided = features.decisions({"rows": []}, features.Deployment(NovaConf(), {}))
    lines = conf.header(decided, facts)
    assert any("live_migration" in line and "absent" in line for line in lines)
