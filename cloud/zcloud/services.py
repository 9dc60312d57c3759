"""What the cloud runs, in which order: the supervisor's plan.

The plan is a list of stages. A stage's steps start together; the next stage starts once every
step of this one is done (a task exited 0) or healthy (a service answers). Tasks marked
``once`` (database schema syncs, Keystone's bootstrap) leave a file in state/done and are
skipped on later starts, which is what makes a warm ``make cloud`` quick.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from zcloud import layout
from zcloud.layout import HOST, PORTS

#: Nova's native-threading mode (the 2026.2 default for services; the harness runs in it)
NOVA_ENV = {"OS_NOVA_DISABLE_EVENTLET_PATCHING": "1"}
MYSQL_SOCKET = layout.RUN / "mysqld" / "mysqld.sock"


@dataclass(frozen=True)
class Health:
    """How a service shows it is up: ``tcp`` or ``http`` on its port, or ``alive`` (a service
    with no port of its own that is still running ``settle`` seconds after its start)."""

    kind: str
    port: int = 0
    path: str = "/"
    settle: float = 5.0


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    health: Health
    env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 120.0
    #: SIGTERM to SIGKILL: nova-compute ends its RPC server and periodic tasks first
    stop_timeout: float = 30.0


@dataclass(frozen=True)
class Task:
    name: str
    argv: list[str]
    once: bool = False
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 900.0


Step = Service | Task


def uwsgi(name: str, module: str, port: int, env: dict[str, str], *extra: str) -> Service:
    """An API under uWSGI: one process, one thread, on 127.0.0.1 only."""
    argv = [
        layout.venv_bin("uwsgi"),
        "--master",
        "--die-on-term",
        "--need-app",
        "--lazy-apps",  # the app's threads (RPC, notifier) start in the worker, not the master
        "--enable-threads",
        "--processes",
        "1",
        "--threads",
        "1",
        "--http-socket",
        f"{HOST}:{port}",
        "--virtualenv",
        str(layout.VENV),
        "--module",
        f"{module}:application",
        "--buffer-size",
        "65535",
        # uWSGI's http-socket closes a connection after each response; a client that reuses it
        # gets a reset unless the response says so
        "--add-header",
        "Connection: close",
        "--procname-prefix",
        f"zcloud-{name} ",
        *extra,
    ]
    # an API keeps nothing worth waiting for, and a Nova API worker with native threads can
    # outwait uWSGI's own stop
    return Service(name, argv, Health("http", port), env=env, stop_timeout=10.0)


def _conf(*parts: str) -> str:
    return str(layout.ETC.joinpath(*parts))


def _sh(script: str) -> list[str]:
    return ["/bin/sh", "-ec", script]


def nova_manage(*args: str) -> str:
    return " ".join(
        [layout.venv_bin("nova-manage"), "--config-file", _conf("nova/nova.conf"), *args]
    )


def plan(secrets: layout.Secrets) -> list[list[Step]]:
    vb = layout.venv_bin
    run = layout.RUN
    mysql = f"/usr/bin/mariadb --no-defaults --socket={MYSQL_SOCKET} -uroot"
    databases = ("keystone", "glance", "placement", "neutron", "nova_api", "nova", "nova_cell0")
    sql = "".join(f"CREATE DATABASE IF NOT EXISTS {db}; " for db in databases) + (
        f"CREATE USER IF NOT EXISTS 'zcloud'@'{HOST}' IDENTIFIED BY '{secrets.db}'; "
        f"GRANT ALL PRIVILEGES ON *.* TO 'zcloud'@'{HOST}'; FLUSH PRIVILEGES;"
    )
    neutron_confs = [
        "--config-file",
        _conf("neutron/neutron.conf"),
        "--config-file",
        _conf("neutron/plugins/ml2/ml2_conf.ini"),
    ]
    nova_conf = ["--config-file", _conf("nova/nova.conf")]
    cell0 = layout.db_url("nova_cell0", secrets)
    keystone = f"{vb('keystone-manage')} --config-file {_conf('keystone/keystone.conf')}"
    admin_url = f"http://{HOST}:{PORTS['keystone']}/v3/"
    rabbit_env = {
        "HOME": str(layout.RABBIT_HOME),
        "RABBITMQ_NODENAME": "zcloud@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": HOST,
        "RABBITMQ_NODE_PORT": str(PORTS["rabbitmq"]),
        "RABBITMQ_DIST_PORT": str(PORTS["rabbitmq-dist"]),
        "RABBITMQ_MNESIA_BASE": str(layout.RABBIT_HOME / "mnesia"),
        "RABBITMQ_LOG_BASE": str(layout.LOG / "rabbitmq"),
        "RABBITMQ_PID_FILE": str(run / "rabbitmq.pid"),
        "RABBITMQ_CONFIG_FILE": _conf("rabbitmq/rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": _conf("rabbitmq/enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": _conf("rabbitmq/rabbitmq-env.conf"),
        # Erlang resolves the node's host name itself: "localhost" from a hosts table of the
        # cloud's own, whatever /etc/hosts says (it need not name localhost at all)
        "ERL_INETRC": _conf("rabbitmq/inetrc"),
        # Erlang's distribution and its port mapper on loopback only
        "ERL_EPMD_ADDRESS": HOST,
        "ERL_EPMD_PORT": str(PORTS["epmd"]),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    return [
        [
            Task(
                "mariadb-init",
                _sh(
                    f"install -d -o mysql -g mysql {layout.MYSQL_DATA} {MYSQL_SOCKET.parent}; "
                    f"test -d {layout.MYSQL_DATA}/mysql || /usr/bin/mariadb-install-db "
                    f"--no-defaults --user=mysql --datadir={layout.MYSQL_DATA} "
                    "--auth-root-authentication-method=socket --skip-test-db --force"
                ),
            ),
        ],
        [
            Service(
                "mariadb",
                [
                    "/usr/sbin/mariadbd",
                    "--no-defaults",
                    "--user=mysql",
                    f"--datadir={layout.MYSQL_DATA}",
                    f"--socket={MYSQL_SOCKET}",
                    f"--pid-file={MYSQL_SOCKET.parent / 'mariadbd.pid'}",
                    f"--bind-address={HOST}",
                    f"--port={PORTS['mariadb']}",
                    "--skip-name-resolve",
                    "--performance-schema=OFF",
                    "--innodb-buffer-pool-size=128M",
                    "--max-connections=1000",
                    "--character-set-server=utf8mb4",
                    "--collation-server=utf8mb4_general_ci",
                    # a development cloud: schema syncs go 2-3x faster without an fsync per
                    # commit, and a crash loses at most the last second
                    "--innodb-flush-log-at-trx-commit=2",
                ],
                Health("tcp", PORTS["mariadb"]),
            ),
            Service(
                "epmd",
                ["/usr/bin/epmd", "-address", HOST, "-port", str(PORTS["epmd"])],
                Health("tcp", PORTS["epmd"]),
            ),
        ],
        [
            Service(
                "rabbitmq",
                ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
                Health("tcp", PORTS["rabbitmq"]),
                env=rabbit_env,
            ),
            Task("databases", [*mysql.split(), "-e", sql]),
        ],
        [
            Task(
                "keystone-db",
                _sh(
                    f"{keystone} db_sync; "
                    f"{keystone} fernet_setup --keystone-user root --keystone-group root; "
                    f"{keystone} credential_setup --keystone-user root --keystone-group root; "
                    f"{keystone} bootstrap --bootstrap-password {secrets.admin} "
                    f"--bootstrap-admin-url {admin_url} --bootstrap-internal-url {admin_url} "
                    f"--bootstrap-public-url {admin_url} --bootstrap-region-id {layout.REGION}"
                ),
                once=True,
            ),
            Task(
                "placement-db",
                [
                    vb("placement-manage"),
                    "--config-file",
                    _conf("placement/placement.conf"),
                    "db",
                    "sync",
                ],
                once=True,
            ),
            Task(
                "glance-db",
                [vb("glance-manage"), "--config-file", _conf("glance/glance-api.conf"), "db_sync"],
                once=True,
            ),
            Task(
                "neutron-db",
                [vb("neutron-db-manage"), *neutron_confs, "upgrade", "heads"],
                once=True,
            ),
            Task(
                "nova-db",
                _sh(
                    f"{nova_manage('api_db sync')}; "
                    f"{nova_manage('cell_v2 list_cells')} | grep -q ' cell0 ' || "
                    f"{nova_manage('cell_v2 map_cell0 --database_connection', repr(cell0))}; "
                    f"{nova_manage('cell_v2 list_cells')} | grep -q ' cell1 ' || "
                    f"{nova_manage('cell_v2 create_cell --name cell1')}; "
                    f"{nova_manage('db sync')}"
                ),
                once=True,
                env=NOVA_ENV,
            ),
        ],
        [
            uwsgi(
                "keystone",
                "keystone.wsgi.api",
                PORTS["keystone"],
                {"OS_KEYSTONE_CONFIG_DIR": _conf("keystone")},
            ),
        ],
        [
            Task(
                "catalog",
                [vb("python"), "-m", "zcloud", "catalog"],
                once=True,
                env={"PYTHONPATH": str(layout.REPO / "cloud")},
            ),
        ],
        [
            uwsgi(
                "placement",
                "placement.wsgi.api",
                PORTS["placement"],
                {"OS_PLACEMENT_CONFIG_DIR": _conf("placement")},
            ),
            uwsgi(
                "glance",
                "glance.wsgi.api",
                PORTS["glance"],
                {"OS_GLANCE_CONFIG_DIR": _conf("glance")},
                # image uploads arrive chunked
                "--http-chunked-input",
                "--http-raw-body",
                "--http-auto-chunked",
            ),
            uwsgi(
                "neutron-api",
                "neutron.wsgi.api",
                PORTS["neutron"],
                {
                    "OS_NEUTRON_CONFIG_DIR": _conf("neutron"),
                    "OS_NEUTRON_CONFIG_FILES": "neutron.conf;plugins/ml2/ml2_conf.ini",
                },
            ),
            Service("neutron-rpc", [vb("neutron-rpc-server"), *neutron_confs], Health("alive")),
            uwsgi(
                "nova-api",
                "nova.wsgi.osapi_compute",
                PORTS["nova"],
                {
                    **NOVA_ENV,
                    "OS_NOVA_CONFIG_DIR": _conf("nova"),
                    # Nova's WSGI app reads its paste pipeline from the first file
                    "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf",
                },
            ),
            Service(
                "nova-conductor", [vb("nova-conductor"), *nova_conf], Health("alive"), env=NOVA_ENV
            ),
            Service(
                "nova-scheduler", [vb("nova-scheduler"), *nova_conf], Health("alive"), env=NOVA_ENV
            ),
        ],
        [
            Service(
                f"nova-compute-{host}",
                [vb("nova-compute"), "--config-file", _conf("nova", f"compute-{host}.conf")],
                Health("alive", settle=8.0),
                env=NOVA_ENV,
            )
            for host in (layout.HOST_A, layout.HOST_B)
        ],
    ]


def base_env() -> dict[str, str]:
    """The environment every step starts from: the venv first on PATH, no proxies."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PATH"] = f"{layout.VENV / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin"
    env["VIRTUAL_ENV"] = str(layout.VENV)
    env.pop("PYTHONPATH", None)
    return env
