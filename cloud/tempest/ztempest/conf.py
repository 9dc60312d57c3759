"""tempest.conf for zcompute's cloud: the cloud's facts (cloud.py) and zcompute's support
matrix (features.py) put into Tempest's options.

The file is generated afresh before every run and never edited by hand; a change belongs here.
"""

from __future__ import annotations

from pathlib import Path

from ztempest import features
from ztempest.cloud import CloudFacts
from ztempest.features import Decision, NovaConf

Value = str | int | bool | list[str]
Ini = dict[str, dict[str, Value]]

#: TCG guests on two shared cores: a boot or a migration can take minutes when both run
BUILD_TIMEOUT = 300
#: the Nova API's public roles Tempest may ask for; Nova 34's "manager" role would need a
#: Keystone role the cloud does not create
NOVA_POLICY_ROLES = ["admin", "member", "reader"]


def render(ini: Ini, header: list[str]) -> str:
    """oslo.config's INI dialect (no interpolation: values are written as they are)."""
    lines = [f"# {line}" if line else "#" for line in header]
    for section, options in ini.items():
        lines.append(f"\n[{section}]")
        for key, value in options.items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, list):
                text = ",".join(value)
            else:
                text = str(value)
            lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def build(
    facts: CloudFacts, matrix_decisions: list[Decision], nova: NovaConf, workspace: Path
) -> Ini:
    c = facts.credentials
    feature_flags: dict[str, Value] = {d.flag.name: d.value for d in matrix_decisions}
    feature_flags["scheduler_enabled_filters"] = features.scheduler_filters(nova)
    feature_flags["nova_policy_roles"] = NOVA_POLICY_ROLES
    hosts = len(facts.compute_hosts_up)
    return {
        "DEFAULT": {
            "log_dir": str(workspace / "logs"),
            "log_file": "tempest.log",
            "use_stderr": False,
        },
        "oslo_concurrency": {"lock_path": str(workspace / "lock")},
        "auth": {
            # every test class gets projects and users of its own, made with these
            "use_dynamic_credentials": True,
            # no router and no DHCP agent: the cloud's one shared network serves every project
            "create_isolated_networks": False,
            "admin_username": c.username,
            "admin_password": c.password,
            "admin_project_name": c.project_name,
            "admin_domain_name": c.user_domain_name,
            "default_credentials_domain_name": c.user_domain_name,
        },
        "identity": {
            "uri_v3": facts.endpoints.get("identity", c.auth_url),
            "auth_version": "v3",
            "region": c.region_name,
            "v3_endpoint_type": c.interface,
        },
        "identity-feature-enabled": {"api_v2": False, "api_v3": True},
        "compute": {
            "image_ref": facts.image_ref,
            "image_ref_alt": facts.image_ref_alt,
            "flavor_ref": facts.flavor_ref,
            "flavor_ref_alt": facts.flavor_ref_alt,
            "fixed_network_name": facts.network_name,
            "build_timeout": BUILD_TIMEOUT,
            "region": c.region_name,
            "endpoint_type": c.interface,
            # migration tests need a second host; the cloud has two
            "min_compute_nodes": max(hosts, 1),
            "min_microversion": facts.compute_min_microversion,
            "max_microversion": facts.compute_max_microversion,
            # Nova's default: an unshelved guest's snapshot goes at once
            "shelved_offload_time": 0,
        },
        "compute-feature-enabled": feature_flags,
        "image": {"region": c.region_name, "endpoint_type": c.interface},
        "image-feature-enabled": {"api_v2": True},
        "network": {
            "region": c.region_name,
            "endpoint_type": c.interface,
            # guests are not reachable from here (no router, no address configured in them)
            "project_networks_reachable": False,
            "shared_physical_network": True,
        },
        "network-feature-enabled": {
            "api_extensions": facts.network_extensions,
            # no L3 service plugin: no router, no floating IP
            "floating_ips": "router" in facts.network_extensions,
            "ipv6": False,
            "port_security": "port-security" in facts.network_extensions,
        },
        "validation": {
            # guests get no DHCP and no floating IP: nothing can log in to check them
            "run_validation": False,
        },
        "service_available": dict(sorted(facts.services.items())),
        "enforce_scope": {
            # Nova's and Placement's oslo.policy defaults (the cloud sets no policy file)
            "nova": nova.enabled("oslo_policy", "enforce_scope", True),
            "placement": True,
        },
    }


def header(matrix_decisions: list[Decision], facts: CloudFacts) -> list[str]:
    lines = [
        "generated by zcompute's cloud/tempest (python -m ztempest conf): do not edit",
        f"cloud: compute hosts up {', '.join(facts.compute_hosts_up) or 'none'}; "
        f"Nova microversions {facts.compute_min_microversion}-{facts.compute_max_microversion}",
        "",
        f"[compute-feature-enabled] from zcompute's support matrix ({features.ARCH} column):",
    ]
    width = max(len(d.flag.name) for d in matrix_decisions)
    for d in matrix_decisions:
        lines.append(f"  {d.flag.name:<{width}} {d.value!s:<5} {d.because}")
    return lines
