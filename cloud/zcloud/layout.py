"""Where zcompute's cloud keeps everything, and the addresses it listens on.

One state directory (``ZCLOUD_STATE``, default ``/var/lib/zcompute-cloud``) holds the cloud's
configuration, databases, keys, images, guests' data, run files and logs; one venv
(``ZCLOUD_VENV``, default ``/opt/zcompute-cloud/venv``) holds every Python service. Nothing is
written outside them except ``/etc/openstack/clouds.yaml`` (where ``openstack --os-cloud``
looks) and host B's own state (scripts/second-host).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("ZCLOUD_STATE", "/var/lib/zcompute-cloud"))
VENV = Path(os.environ.get("ZCLOUD_VENV", "/opt/zcompute-cloud/venv"))
CLOUDS_YAML = Path(os.environ.get("ZCLOUD_CLOUDS_YAML", "/etc/openstack/clouds.yaml"))

ETC = STATE / "etc"
RUN = STATE / "run"
LOG = STATE / "log"
MYSQL_DATA = STATE / "mysql"
RABBIT_HOME = STATE / "rabbitmq"
KEYSTONE_KEYS = STATE / "keystone"
GLANCE_IMAGES = STATE / "glance"
NOVA_STATE = STATE / "nova"
#: zcompute's ``[zcompute] data_dir`` for both compute services (it appends nova-<host>)
COMPUTE_DATA = STATE / "compute"
#: one-shot setup steps done (database syncs, keystone bootstrap): a file each
DONE = STATE / "done"
SUPERVISOR_PID = RUN / "supervisor.pid"
STATUS_FILE = RUN / "status.json"

HOST = "127.0.0.1"  # every listener of the cloud, and nothing else
PORTS = {
    "mariadb": 3306,
    "epmd": 4369,
    "rabbitmq": 5672,
    "rabbitmq-dist": 25672,
    "keystone": 5000,
    "glance": 9292,
    "placement": 8778,
    "neutron": 9696,
    "nova": 8774,
}
REGION = "RegionOne"
KEYSTONE_URL = f"http://{HOST}:{PORTS['keystone']}/v3"

#: the two compute services: Nova host name -> libvirt URI (host B's is asked of second-host)
HOST_A, HOST_B = "zc-host-a", "zc-host-b"
#: the cloud's guests carry this prefix (Nova's instance_name_template): cloud-down destroys
#: exactly those and never the e2e tests' (zctest...)
GUEST_PREFIX = "zccloud-"
#: the services' own users in Keystone (project "service")
SERVICE_USERS = ("nova", "glance", "neutron", "placement")


@dataclass(frozen=True)
class Secrets:
    """Passwords of the cloud, made once per state directory (0600) and kept."""

    db: str
    admin: str
    demo: str
    service: str

    @classmethod
    def load(cls) -> Secrets:
        path = STATE / "secrets.json"
        if not path.exists():
            STATE.mkdir(parents=True, exist_ok=True)
            values = {name: secrets.token_hex(12) for name in ("db", "admin", "demo", "service")}
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(values))
            tmp.chmod(0o600)
            tmp.rename(path)
        return cls(**json.loads(path.read_text()))


def venv_bin(name: str) -> str:
    return str(VENV / "bin" / name)


def second_host(command: str) -> str:
    """scripts/second-host's answer (``uri``, ``start``, ...)."""
    done = subprocess.run(
        [str(REPO / "scripts" / "second-host"), command],
        capture_output=True,
        text=True,
        check=False,
    )
    if command in ("uri", "a-uri", "pid") and done.returncode == 0:
        return done.stdout.strip()
    if done.returncode != 0 and command != "status":
        raise RuntimeError(f"scripts/second-host {command} failed: {done.stderr.strip()}")
    return done.stdout.strip() if done.returncode == 0 else ""


def db_url(database: str, secrets_: Secrets) -> str:
    return f"mysql+pymysql://zcloud:{secrets_.db}@{HOST}:{PORTS['mariadb']}/{database}?charset=utf8"


def transport_url(_secrets: Secrets) -> str:
    # RabbitMQ's guest account accepts loopback connections only, which is all the cloud has
    return f"rabbit://guest:guest@{HOST}:{PORTS['rabbitmq']}/"
