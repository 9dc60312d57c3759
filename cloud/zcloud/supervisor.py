"""The cloud's process supervisor: one detached process that owns every service.

It runs the plan (services.py) stage by stage, health-checks what it started, restarts a
service that dies (with a growing delay, at most ``RESTART_LIMIT`` times within
``RESTART_WINDOW`` seconds), and on SIGTERM stops everything in the reverse order of starting.
Each service runs in a process group of its own (uWSGI's workers, Erlang's helpers stay with
it) and is stopped through that group: only what this process started is ever signalled.
As a child subreaper it also inherits anything a service left behind, and ends that too.

Progress and state go to state/run/status.json, which ``zcloud up`` and ``status`` read.
Every step's output goes to state/log/<name>.log.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

from zcloud import layout
from zcloud.services import Health, Service, Step, Task, base_env, plan

PR_SET_CHILD_SUBREAPER = 36
RESTART_LIMIT = 5
RESTART_WINDOW = 600.0
STOP_TIMEOUT = 30.0  # nova-compute stops its periodic tasks and RPC server first
CHECK_INTERVAL = 1.0
HEALTH_INTERVAL = 15.0
LOG_ROTATE_BYTES = 64 << 20  # checked when a step (re)starts


@dataclass
class Running:
    """A service this supervisor started, and its history."""

    service: Service
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    state: str = "starting"  # starting, up, unhealthy, restarting, failed, stopped
    restarts: list[float] = field(default_factory=list)
    next_start: float = 0.0
    last_health: float = 0.0


class Failure(Exception):
    """A step that cannot be brought up: the bring-up stops."""


def start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot, /proc/PID/stat field 22)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} supervisor[{os.getpid()}]: {message}", flush=True)


def healthy(health: Health, running: Running) -> bool:
    if health.kind == "alive":
        return time.monotonic() - running.started >= health.settle
    try:
        if health.kind == "tcp":
            with socket.create_connection((layout.HOST, health.port), timeout=2):
                return True
        conn = http.client.HTTPConnection(layout.HOST, health.port, timeout=5)
        try:
            conn.request("GET", health.path)
            return conn.getresponse().status < 500
        finally:
            conn.close()
    except OSError:
        return False


class Supervisor:
    def __init__(self) -> None:
        self.services: dict[str, Running] = {}
        self.stages: list[list[str]] = []  # services by stage, for stopping in reverse
        self.stopping = False
        self.status: dict[str, Any] = {"phase": "starting", "pid": os.getpid(), "steps": {}}

    # -- status --------------------------------------------------------------------------------

    def publish(self, **changes: Any) -> None:
        self.status.update(changes)
        for name, running in self.services.items():
            pid = running.proc.pid if running.proc else None
            self.status["steps"][name] = {
                "kind": "service",
                "state": running.state,
                "pid": pid,
                # with the pid, what identifies the process should this supervisor die
                "start_ticks": start_ticks(pid) if pid else None,
                "restarts": len(running.restarts),
            }
        tmp = layout.STATUS_FILE.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status, indent=1))
        tmp.rename(layout.STATUS_FILE)

    def task_state(self, name: str, state: str, seconds: float | None = None) -> None:
        entry: dict[str, Any] = {"kind": "task", "state": state}
        if seconds is not None:
            entry["seconds"] = round(seconds, 1)
        self.status["steps"][name] = entry
        self.publish()

    # -- processes -----------------------------------------------------------------------------

    def _logfile(self, name: str) -> IO[bytes]:
        path = layout.LOG / f"{name}.log"
        # one older generation is kept: a long-running cloud's logs stay bounded
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size > LOG_ROTATE_BYTES:
                path.replace(path.with_suffix(".log.1"))
        return open(path, "ab")  # the caller closes it

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self._logfile(name) as out:
            out.write(f"\n==== {time.strftime('%F %T')} zcloud starts: {argv}\n".encode())
            out.flush()
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**base_env(), **env},
                cwd=layout.STATE,
                start_new_session=True,  # its own process group: stopped as one
            )

    def start(self, running: Running) -> None:
        svc = running.service
        running.proc = self.spawn(svc.name, svc.argv, svc.env)
        running.started = time.monotonic()
        running.state = "starting"
        log(f"started {svc.name} (pid {running.proc.pid})")
        self.publish()

    def run_task(self, task: Task) -> subprocess.Popen[bytes] | None:
        done = layout.DONE / task.name
        if task.once and done.exists():
            self.task_state(task.name, "done earlier")
            return None
        log(f"running task {task.name}")
        self.task_state(task.name, "running")
        return self.spawn(task.name, task.argv, task.env)

    # -- bring-up ------------------------------------------------------------------------------

    def run_stage(self, steps: list[Step]) -> None:
        tasks: dict[str, tuple[Task, subprocess.Popen[bytes], float]] = {}
        self.stages.append([])
        for step in steps:
            if isinstance(step, Task):
                proc = self.run_task(step)
                if proc is not None:
                    tasks[step.name] = (step, proc, time.monotonic())
            else:
                running = Running(step)
                self.services[step.name] = running
                self.stages[-1].append(step.name)
                self.start(running)
        while not self.stopping:
            for name, (task, proc, began) in list(tasks.items()):
                code = proc.poll()
                took = time.monotonic() - began
                if code is None and took > task.timeout:
                    self.kill_group(proc, name)
                    code = -1
                if code is None:
                    continue
                del tasks[name]
                if code != 0:
                    self.task_state(name, f"failed ({code})", took)
                    raise Failure(f"task {name} failed with status {code} (see log/{name}.log)")
                if task.once:
                    (layout.DONE / name).touch()
                self.task_state(name, "done", took)
                log(f"task {name} done in {took:.1f} s")
            waiting = [r for r in self.services.values() if r.service in steps and r.state != "up"]
            for running in waiting:
                self.watch(running, starting=True)
            if not tasks and not waiting:
                return
            time.sleep(0.3)

    def bring_up(self) -> None:
        from zcloud.layout import Secrets

        stages = plan(Secrets.load())
        began = time.monotonic()
        for number, stage in enumerate(stages, 1):
            self.publish(stage=f"{number}/{len(stages)}")
            self.run_stage(stage)
            if self.stopping:
                return
        self.publish(phase="up", up_seconds=round(time.monotonic() - began, 1))
        log(f"every service is up ({time.monotonic() - began:.1f} s)")

    # -- watching ------------------------------------------------------------------------------

    def watch(self, running: Running, starting: bool = False) -> None:
        """One look at a service: restart it if it died, check its health when due."""
        svc, now = running.service, time.monotonic()
        if running.state in ("failed", "stopped"):
            if starting:
                raise Failure(f"{svc.name} failed (see log/{svc.name}.log)")
            return
        if running.state == "restarting":
            if now >= running.next_start:
                self.start(running)
            return
        assert running.proc is not None
        code = running.proc.poll()
        if code is not None:
            self.died(running, code)
            return
        if running.state == "starting":
            if healthy(svc.health, running):
                running.state = "up"
                running.last_health = now
                log(f"{svc.name} is up ({now - running.started:.1f} s)")
                self.publish()
            elif now - running.started > svc.start_timeout:
                log(f"{svc.name} did not come up within {svc.start_timeout:.0f} s")
                self.kill_group(running.proc, svc.name)
                self.died(running, -1)
            return
        if now - running.last_health >= HEALTH_INTERVAL:
            running.last_health = now
            state = "up" if healthy(svc.health, running) else "unhealthy"
            if state != running.state:
                log(f"{svc.name} is {state}")
                running.state = state
                self.publish()

    def died(self, running: Running, code: int) -> None:
        svc, now = running.service, time.monotonic()
        running.restarts = [t for t in running.restarts if now - t < RESTART_WINDOW]
        if len(running.restarts) >= RESTART_LIMIT:
            log(
                f"{svc.name} exited ({code}) {RESTART_LIMIT} times within "
                f"{RESTART_WINDOW:.0f} s: given up"
            )
            running.state = "failed"
        else:
            delay = min(2.0 ** len(running.restarts), 60.0)
            running.restarts.append(now)
            running.next_start = now + delay
            running.state = "restarting"
            log(f"{svc.name} exited ({code}); restarting it in {delay:.0f} s")
        self.publish()

    def watch_forever(self) -> None:
        while not self.stopping:
            for running in self.services.values():
                self.watch(running)
            self.reap_orphans()
            time.sleep(CHECK_INTERVAL)

    # -- stopping ------------------------------------------------------------------------------

    def request_stop(self, signum: int, _frame: object) -> None:
        log(f"signal {signal.Signals(signum).name}: stopping the cloud")
        self.stopping = True

    @staticmethod
    def kill_group(proc: subprocess.Popen[bytes], name: str) -> None:
        """Stop one process group (see stop_group)."""
        Supervisor.stop_group([(name, proc, STOP_TIMEOUT)])

    @staticmethod
    def stop_group(procs: list[tuple[str, subprocess.Popen[bytes], float]]) -> None:
        """SIGTERM to each process group we made, together; SIGKILL to one still there after
        its timeout, and to any member that outlived its leader (uwsgi workers)."""
        began = time.monotonic()
        for _name, proc, _timeout in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for name, proc, timeout in procs:
            try:
                proc.wait(max(began + timeout - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop within {timeout:.0f} s: killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        """Stop stage by stage, the last started first; a stage's services stop together."""
        if self.status["phase"] != "failed":
            self.publish(phase="stopping")
        for stage in reversed(self.stages):
            procs = []
            for name in stage:
                running = self.services[name]
                if running.proc is not None:
                    log(f"stopping {name} (pid {running.proc.pid})")
                    procs.append((name, running.proc, running.service.stop_timeout))
                running.state = "stopped"
            self.stop_group(procs)
            self.publish()
        self.reap_orphans(kill=True)

    def reap_orphans(self, kill: bool = False) -> None:
        """Reap (and with ``kill`` end) processes our services left to us as subreaper."""
        ours = {r.proc.pid for r in self.services.values() if r.proc is not None}
        me = str(os.getpid())
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in ours:
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = handle.read().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                continue
            if ppid != me:
                continue
            pid = int(entry)
            if kill:
                log(f"ending pid {pid}, left behind by a service")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0 if kill else os.WNOHANG)


def main() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    layout.RUN.mkdir(parents=True, exist_ok=True)
    layout.SUPERVISOR_PID.write_text(f"{os.getpid()}\n")
    sup = Supervisor()
    signal.signal(signal.SIGTERM, sup.request_stop)
    signal.signal(signal.SIGINT, sup.request_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    code = 0
    try:
        sup.bring_up()
        sup.watch_forever()
    except Failure as error:
        log(f"bring-up failed: {error}")
        sup.publish(phase="failed", error=str(error))
        code = 1
    except Exception as error:  # the cloud must still be stopped
        log(f"supervisor error: {error!r}")
        sup.publish(phase="failed", error=repr(error))
        code = 2
    finally:
        sup.stop_all()
        if code == 0:
            sup.publish(phase="stopped")
        with contextlib.suppress(FileNotFoundError):
            layout.SUPERVISOR_PID.unlink()
        log("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
