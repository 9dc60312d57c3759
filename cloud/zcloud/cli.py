"""``python -m zcloud up|down|status`` (make cloud, make cloud-down) and the internal steps.

``up`` is idempotent: with the cloud up it only checks it and its content; otherwise it starts
host B, writes the configuration, starts the supervisor detached and waits until every service
is up, then makes the content (bootstrap.py). ``down`` deletes the cloud's servers through
Nova, stops the supervisor (which stops every service), destroys whatever guest of the cloud
is left (``zccloud-*`` only) with its tap devices, and stops host B if ``up`` started it.
Databases, images and keys stay in the state directory: the next ``up`` is a warm start.
``down --purge`` removes the state directory as well.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from zcloud import layout

HOST_B_MARK = layout.RUN / "started-host-b"
UP_TIMEOUT = 1800.0


def say(message: str) -> None:
    print(f"zcloud: {message}", file=sys.stderr, flush=True)


def supervisor_pid() -> int | None:
    """The running supervisor's pid, checked to be ours (its command line), else None."""
    try:
        pid = int(layout.SUPERVISOR_PID.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"zcloud" in cmdline and b"supervise" in cmdline else None


def read_status() -> dict[str, Any]:
    try:
        return dict(json.loads(layout.STATUS_FILE.read_text()))
    except (OSError, ValueError):
        return {}


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _alive(pid: int, ticks: int) -> bool:
    """Process ``pid`` is the one that started at ``ticks`` and has not exited (a zombie has:
    whoever inherited it reaps it in its own time)."""
    from zcloud.supervisor import start_ticks

    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and start_ticks(pid) == ticks


def stop_leftovers() -> None:
    """Stop the services a supervisor that died (SIGKILL, a crash) left running.

    Each ran as the leader of its own process group; one is still ours if its pid from the
    last status leads a group and started when the status says (the pid was not reused).
    All get SIGTERM together, SIGKILL after 30 s.
    """
    left = []
    for name, step in read_status().get("steps", {}).items():
        pid, ticks = step.get("pid"), step.get("start_ticks")
        if not pid or ticks is None or not _alive(pid, ticks):
            continue
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == pid:
                say(f"stopping {name} (pid {pid}), left running by a supervisor that died")
                os.killpg(pid, signal.SIGTERM)
                left.append((pid, ticks))
    deadline = time.monotonic() + 30
    while any(_alive(*p) for p in left) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid, _ticks in left:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # the group's members, and a leader that held out


# -- up ------------------------------------------------------------------------------------------


def start_supervisor() -> None:
    from zcloud import confs

    if not layout.VENV.joinpath("bin/python").exists():
        raise SystemExit(f"zcloud: no venv at {layout.VENV}: run cloud/install first")
    if not layout.second_host("status"):
        layout.second_host("start")
        layout.RUN.mkdir(parents=True, exist_ok=True)
        HOST_B_MARK.touch()
    confs.write_all(layout.Secrets.load(), layout.second_host("uri"))
    stop_leftovers()
    layout.STATUS_FILE.unlink(missing_ok=True)
    with open(layout.LOG / "supervisor.log", "ab") as out:
        subprocess.Popen(
            [layout.venv_bin("python"), "-m", "zcloud", "supervise"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=layout.STATE,
            env={**os.environ, "PYTHONPATH": str(layout.REPO / "cloud")},
            start_new_session=True,  # outlives `make cloud`, away from its terminal
        )


def wait_up() -> None:
    deadline = time.monotonic() + UP_TIMEOUT
    shown: dict[str, str] = {}
    if read_status().get("phase") == "up":
        return  # nothing to report: it was up already
    while time.monotonic() < deadline:
        status = read_status()
        for name, step in status.get("steps", {}).items():
            if shown.get(name) != step["state"]:
                shown[name] = step["state"]
                took = f" ({step['seconds']} s)" if "seconds" in step else ""
                say(f"  {name}: {step['state']}{took}")
        phase = status.get("phase")
        if phase == "up":
            return
        if phase in ("failed", "stopped", "stopping") or (
            status and supervisor_pid() is None and phase != "up"
        ):
            bad = [n for n, s in status.get("steps", {}).items() if "fail" in s["state"]]
            for name in bad:
                say(f"log/{name}.log ends:\n{tail(layout.LOG / f'{name}.log')}")
            raise SystemExit(f"zcloud: bring-up failed: {status.get('error', phase)}")
        time.sleep(0.5)
    raise SystemExit(f"zcloud: the cloud did not come up within {UP_TIMEOUT:.0f} s")


def up() -> int:
    began = time.monotonic()
    pid = supervisor_pid()
    if pid is None:
        layout.SUPERVISOR_PID.unlink(missing_ok=True)
        say(f"starting the cloud (state {layout.STATE}, logs {layout.LOG})")
        start_supervisor()
    else:
        say(f"the cloud's supervisor runs (pid {pid}): checking it")
        if not layout.second_host("status"):
            # someone stopped host B (make test's e2e run does when it ends): zc-host-b's
            # libvirtd comes back, and the check below waits for the compute service
            say("host B is not running: starting it")
            layout.second_host("start")
            HOST_B_MARK.touch()
    wait_up()
    from zcloud import bootstrap

    bootstrap.content()
    say(
        f"the cloud is up ({time.monotonic() - began:.1f} s): "
        "openstack --os-cloud zcompute server list"
    )
    return 0


# -- down ----------------------------------------------------------------------------------------


def delete_servers() -> None:
    """Delete every server through Nova, so ports, allocations and guests go the normal way."""
    from zcloud import bootstrap

    try:
        conn = bootstrap.connect(layout.Secrets.load())
        servers = list(conn.compute.servers(all_projects=True))
        for server in servers:
            say(f"deleting server {server.name} ({server.id})")
            conn.compute.delete_server(server, force=True)
        for server in servers:
            conn.compute.wait_for_delete(server, wait=120)
    except Exception as error:  # the forced clean-up below still removes the guests
        say(f"deleting servers through Nova failed ({error}); destroying their guests instead")


def stop_supervisor(pid: int) -> None:
    say(f"stopping the supervisor (pid {pid}) and every service")
    os.kill(pid, signal.SIGTERM)
    for _ in range(1800):
        if supervisor_pid() is None:
            return
        time.sleep(0.1)
    raise SystemExit(f"zcloud: the supervisor (pid {pid}) did not stop within 180 s")


def destroy_guests(uri: str) -> None:
    """Destroy (and undefine) the cloud's guests on one libvirtd, and remove their taps."""
    import libvirt
    from lxml import etree

    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError:
        return
    try:
        for dom in conn.listAllDomains():
            if not dom.name().startswith(layout.GUEST_PREFIX):
                continue  # not the cloud's (zctest-... are the e2e tests')
            xml = etree.fromstring(dom.XMLDesc(0))
            taps = [t.get("dev") for t in xml.iterfind("devices/interface/target")]
            say(f"destroying guest {dom.name()} on {uri}")
            with contextlib.suppress(libvirt.libvirtError):
                dom.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            for tap in filter(None, taps):
                subprocess.run(["ip", "link", "delete", tap], capture_output=True, check=False)
    finally:
        conn.close()


def down(purge: bool = False) -> int:
    pid = supervisor_pid()
    if pid is not None:
        if read_status().get("phase") == "up":
            delete_servers()
        stop_supervisor(pid)
    else:
        say("no supervisor runs")
        stop_leftovers()
    destroy_guests("qemu:///system")
    if layout.second_host("status"):
        destroy_guests(layout.second_host("uri"))
        if HOST_B_MARK.exists():
            say("stopping host B (the cloud started it)")
            layout.second_host("stop")
    HOST_B_MARK.unlink(missing_ok=True)
    if purge and layout.STATE.exists():
        say(f"removing {layout.STATE} and {layout.CLOUDS_YAML}")
        shutil.rmtree(layout.STATE)
        layout.CLOUDS_YAML.unlink(missing_ok=True)
    say("the cloud is down")
    return 0


def status() -> int:
    pid = supervisor_pid()
    state = read_status()
    if pid is None:
        print("the cloud is not running")
        return 1
    print(f"supervisor pid {pid}: {state.get('phase')}")
    for name, step in state.get("steps", {}).items():
        extra = f" pid {step['pid']}" if step.get("pid") else ""
        restarts = f", {step['restarts']} restarts" if step.get("restarts") else ""
        print(f"  {name:24} {step['kind']:8} {step['state']}{extra}{restarts}")
    return 0 if state.get("phase") == "up" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zcloud", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="bring the cloud up (idempotent)")
    purge = sub.add_parser("down", help="stop the cloud and its guests")
    purge.add_argument("--purge", action="store_true", help="and remove its state directory")
    sub.add_parser("status", help="the services and their state")
    for internal in ("supervise", "catalog", "content"):
        sub.add_parser(internal, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("zcloud: run as root")
    if args.command == "up":
        return up()
    if args.command == "down":
        return down(args.purge)
    if args.command == "status":
        return status()
    if args.command == "supervise":
        from zcloud import supervisor

        return supervisor.main()
    from zcloud import bootstrap

    getattr(bootstrap, args.command)()
    return 0
