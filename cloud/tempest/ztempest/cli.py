"""``cloud/tempest/run conf|run|summary`` (make tempest, make tempest-smoke; docs/tempest.md).

``run SET`` writes tempest.conf afresh from the running cloud and zcompute's support matrix,
runs ``tempest run`` on the set (``smoke``: the compute smoke tests; ``full``: every test under
tempest.api.compute) with the exclude list, then writes the summary from stestr's subunit
stream to ``<workspace>/summary-<SET>.md`` and stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ztempest import cloud, conf, features, summary

HERE = Path(__file__).resolve().parents[1]
REPO = HERE.parents[1]
EXCLUDE = HERE / "exclude.txt"
STATE = Path(os.environ.get("ZCLOUD_STATE", "/var/lib/zcompute-cloud"))
WORKSPACE = Path(os.environ.get("ZTEMPEST_WORKSPACE", str(STATE / "tempest")))
CLOUDS_YAML = Path(os.environ.get("ZCLOUD_CLOUDS_YAML", "/etc/openstack/clouds.yaml"))
NOVA_CONF = STATE / "etc/nova/nova.conf"
VENV = Path(os.environ.get("ZTEMPEST_VENV", "/opt/zcompute-tempest/venv"))
CLOUD_VENV = Path(os.environ.get("ZCLOUD_VENV", "/opt/zcompute-cloud/venv"))
#: the test sets: stestr regexes (re.search on the test id, tags included)
SETS = {
    "smoke": r"^tempest\.api\.compute\..*\bsmoke\b",
    "full": r"^tempest\.api\.compute\.",
}
#: TCG guests on two cores: two workers keep both busy without starving the cloud's services
CONCURRENCY = 2


def say(message: str) -> None:
    print(f"ztempest: {message}", file=sys.stderr, flush=True)


def cloud_supervisor() -> str:
    """The cloud's supervisor pid (part 1's run file): a new one means the cloud restarted."""
    try:
        return (STATE / "run/supervisor.pid").read_text().strip()
    except OSError:
        return "none"


def zcompute_binary() -> str:
    """The zcompute whose matrix counts: the one the cloud's compute services run, else the
    repository's development venv."""
    if chosen := os.environ.get("ZTEMPEST_ZCOMPUTE"):
        return chosen
    for candidate in (CLOUD_VENV / "bin/zcompute", REPO / ".venv/bin/zcompute"):
        if candidate.exists():
            return str(candidate)
    raise SystemExit("ztempest: no zcompute found (set ZTEMPEST_ZCOMPUTE)")


def support_matrix(path: Path | None) -> dict[str, Any]:
    if path is not None:
        return dict(json.loads(path.read_text()))
    done = subprocess.run(
        [zcompute_binary(), "support-matrix", "--nova", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout))


def write_conf(matrix_file: Path | None, workspace: Path) -> Path:
    try:
        facts = cloud.probe(cloud.Session(cloud.load_credentials(CLOUDS_YAML)))
    except cloud.CloudError as error:
        raise SystemExit(f"ztempest: the cloud is not usable ({error}): make cloud") from error
    if not facts.compute_hosts_up:
        # every server test would fail: the cloud is still coming up (or is broken)
        raise SystemExit("ztempest: no nova-compute service is up: wait for `make cloud`")
    if len(facts.compute_hosts_up) < 2:
        say(f"only {facts.compute_hosts_up} up: migration tests will skip themselves")
    nova = features.NovaConf.load(NOVA_CONF)
    deployment = features.Deployment(nova, facts.image)
    decided = features.decisions(support_matrix(matrix_file), deployment)
    text = conf.render(conf.build(facts, decided, nova, workspace), conf.header(decided, facts))
    path = workspace / "etc/tempest.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    (workspace / "logs").mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)  # it holds the admin password
    tmp.rename(path)
    if not (workspace / ".stestr").is_dir():
        # stestr's results repository: `tempest run --list-tests` needs it to exist
        subprocess.run([str(VENV / "bin/stestr"), "init"], cwd=workspace, check=True)
    return path


def tempest(*args: str, workspace: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV / "bin/tempest"), *args], cwd=workspace, text=True, check=False, **kwargs
    )


def listed_tests(workspace: Path, config: Path, regex: str) -> list[str]:
    done = tempest(
        "run", "--list-tests", "--config-file", str(config), "--regex", regex,
        workspace=workspace, capture_output=True,
    )  # fmt: skip
    return [line.strip() for line in done.stdout.splitlines() if line.startswith("tempest.")]


def save_last_run(name: str, workspace: Path) -> None:
    """stestr's latest run (the one just made) as this set's subunit file."""
    with open(workspace / f"last-{name}.subunit", "wb") as out:
        subprocess.run(
            [str(VENV / "bin/stestr"), "last", "--subunit"], cwd=workspace, stdout=out, check=False
        )


def summarize(name: str, workspace: Path, wall: float | None) -> summary.Summary:
    with open(workspace / f"last-{name}.subunit", "rb") as data:
        results = summary.parse_subunit(data)
    config = workspace / "etc/tempest.conf"
    selected = listed_tests(workspace, config, SETS[name])
    excluded = summary.excluded_tests(selected, summary.read_exclusions(str(EXCLUDE)))
    return summary.Summary(name, results, excluded, wall)


def publish(result: summary.Summary, workspace: Path) -> Path:
    text = summary.markdown(result)
    path = workspace / f"summary-{result.name}.md"
    path.write_text(text)
    print(text)
    # alone on its line: the count a CI log reader looks for
    print(f"tempest {result.name}: {result.closing_line()}")
    return path


def run(name: str, concurrency: int, matrix_file: Path | None, workspace: Path) -> int:
    config = write_conf(matrix_file, workspace)
    say(f"{config} written; running the {name} set (concurrency {concurrency})")
    supervisor = cloud_supervisor()
    began = time.monotonic()
    with open(workspace / f"run-{name}.log", "w") as log:
        process = subprocess.Popen(
            [
                str(VENV / "bin/tempest"), "run", "--config-file", str(config),
                "--regex", SETS[name], "--exclude-list", str(EXCLUDE),
                "--concurrency", str(concurrency),
            ],
            cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:  # the progress to the terminal and to the run's log
            sys.stdout.write(line)
            log.write(line)
        code = process.wait()
    wall = time.monotonic() - began
    say(f"tempest run ended with {code} after {wall:.0f} s")
    (workspace / f"wall-{name}.txt").write_text(f"{wall:.1f}\n")
    save_last_run(name, workspace)
    result = summarize(name, workspace, wall)
    if (after := cloud_supervisor()) != supervisor:
        # the cloud's services went away under the tests: their failures are not zcompute's
        result.warnings.append(
            f"the cloud restarted during this run (supervisor pid {supervisor} -> {after}): "
            "failures from then on (connection refused) are the restart's; run it again"
        )
    path = publish(result, workspace)
    say(f"summary: {path}")
    return 0 if code == 0 and result.count("failed") == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloud/tempest/run", description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, default=WORKSPACE)
    parser.add_argument(
        "--matrix", type=Path, help="a saved `zcompute support-matrix --nova --format json`"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("conf", help="write tempest.conf from the running cloud")
    run_parser = sub.add_parser("run", help="run a set and summarize it")
    run_parser.add_argument("set", choices=sorted(SETS))
    run_parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    again = sub.add_parser("summary", help="summarize the last run of a set again")
    again.add_argument("set", choices=sorted(SETS))
    args = parser.parse_args(argv)
    workspace: Path = args.workspace
    workspace.mkdir(parents=True, exist_ok=True)
    if args.command == "conf":
        print(write_conf(args.matrix, workspace))
        return 0
    if args.command == "run":
        return run(args.set, args.concurrency, args.matrix, workspace)
    if not (workspace / f"last-{args.set}.subunit").exists():
        raise SystemExit(f"ztempest: no {args.set} run in {workspace} yet")
    wall_file = workspace / f"wall-{args.set}.txt"
    wall = float(wall_file.read_text()) if wall_file.exists() else None
    publish(summarize(args.set, workspace, wall), workspace)
    return 0
