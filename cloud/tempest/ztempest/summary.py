"""A run's summary from its subunit v2 stream (``stestr last --subunit``): passed, failed and
skipped in all and per test class, every failure with its first error line, the skip reasons,
and the tests the exclude list kept out of the run with their reasons.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

#: subunit statuses as the summary counts them (xfail is a pass, an unexpected success a
#: failure: Tempest uses neither, but a plugin could)
OUTCOME = {
    "success": "passed",
    "xfail": "passed",
    "fail": "failed",
    "uxsuccess": "failed",
    "skip": "skipped",
}
#: a class-level fixture's failure is reported as a test of this form
_FIXTURE = re.compile(r"^(setUpClass|tearDownClass) \((?P<cls>[\w.]+)\)$")
#: the line of a traceback that names the exception (``module.Error: message``)
_EXCEPTION_LINE = re.compile(
    # a dotted class name and a colon (tempest.lib.exceptions.NotImplemented: ...), or a bare
    # builtin-style name (ValueError: ..., MismatchError)
    r"^((?:[A-Za-z_]\w*\.)+[A-Z]\w*:|[A-Z]\w*(Error|Exception|Failure|Timeout)\b)"
)


@dataclass
class Result:
    test_id: str
    outcome: str  # passed, failed, skipped
    seconds: float = 0.0
    detail: str = ""  # the first error line, or the skip reason


@dataclass
class Excluded:
    test_id: str
    reason: str


@dataclass
class Summary:
    name: str
    results: list[Result] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    wall_seconds: float | None = None
    #: what a reader must know before trusting the numbers (the cloud restarted mid-run)
    warnings: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    def closing_line(self) -> str:
        # the one line CI readers and the issue quote
        return (
            f"{self.count('passed')} passed, {self.count('failed')} failed, "
            f"{self.count('skipped')} skipped"
        )


def test_class(test_id: str) -> str:
    """``tempest.api.compute.x.test_y.Class`` of a test id (tags and method dropped)."""
    if match := _FIXTURE.match(test_id):
        return match["cls"]
    return test_id.split("[", 1)[0].rsplit(".", 1)[0]


def first_error_line(traceback: str) -> str:
    """The exception's own line of a traceback, else its last line: what a reader needs
    first. Tempest's exceptions put their detail on the next line, which is kept too."""
    lines = [line.rstrip() for line in traceback.strip().splitlines() if line.strip()]
    for index in range(len(lines) - 1, -1, -1):
        if _EXCEPTION_LINE.match(lines[index]):
            picked = lines[index]
            after = lines[index + 1] if index + 1 < len(lines) else ""
            if after.startswith("Details:"):
                picked = f"{picked} {after}"
            return picked[:400]
    return lines[-1][:400] if lines else ""


def _text(details: dict[str, Any], *names: str) -> str:
    for name in names:
        content = details.get(name)
        if content is not None:
            # chunks come as bytes or memoryviews, depending on the parser's path
            return b"".join(bytes(chunk) for chunk in content.iter_bytes()).decode(
                "utf-8", "replace"
            )
    return ""


def parse_subunit(stream: IO[bytes]) -> list[Result]:
    """The tests of a subunit v2 byte stream, last status of each."""
    import subunit
    import testtools

    tests: dict[str, Result] = {}

    def on_test(test: Any) -> None:  # testtools.TestDict
        outcome = OUTCOME.get(test["status"])
        if outcome is None:  # exists, inprogress: listed, never finished
            return
        start, stop = test["timestamps"]
        seconds = (stop - start).total_seconds() if start and stop else 0.0
        details = test["details"]
        if outcome == "failed":
            detail = first_error_line(_text(details, "traceback", "reason"))
        elif outcome == "skipped":
            detail = _text(details, "reason").strip()
        else:
            detail = ""
        tests[test["id"]] = Result(test["id"], outcome, seconds, detail)

    result = testtools.StreamToDict(on_test)
    result.startTestRun()
    try:
        subunit.ByteStreamToStreamResult(stream, non_subunit_name="stdout").run(result)
    finally:
        result.stopTestRun()
    return list(tests.values())


def read_exclusions(path: str) -> list[tuple[re.Pattern[str], str]]:
    """The exclude list as stestr reads it: ``regex  # reason`` per line."""
    entries: list[tuple[re.Pattern[str], str]] = []
    with open(path) as lines:
        for line in lines:
            regex, _, reason = line.strip().partition("#")
            if regex.strip():
                entries.append((re.compile(regex.strip()), reason.strip() or "(no reason)"))
    return entries


def excluded_tests(
    selected: Iterable[str], exclusions: list[tuple[re.Pattern[str], str]]
) -> list[Excluded]:
    found: list[Excluded] = []
    for test_id in selected:
        for regex, reason in exclusions:
            if regex.search(test_id):
                found.append(Excluded(test_id, reason))
                break
    return found


def per_class(results: Iterable[Result]) -> dict[str, Counter[str]]:
    classes: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        classes[test_class(r.test_id)][r.outcome] += 1
    return dict(sorted(classes.items()))


def short(test_class_name: str) -> str:
    return test_class_name.removeprefix("tempest.api.compute.")


def markdown(summary: Summary) -> str:
    out = [f"# Tempest `{summary.name}`: {summary.closing_line()}", ""]
    out += [f"**Warning**: {warning}" for warning in summary.warnings]
    if summary.wall_seconds is not None:
        minutes, seconds = divmod(round(summary.wall_seconds), 60)
        out.append(f"Wall time of `tempest run`: {minutes} min {seconds} s.")
    out.append(
        f"Tests run: {len(summary.results)}; excluded by cloud/tempest/exclude.txt: "
        f"{len(summary.excluded)}."
    )
    out += ["", "## Per test class (under tempest.api.compute)", ""]
    out += ["| class | passed | failed | skipped |", "| --- | ---: | ---: | ---: |"]
    for name, counts in per_class(summary.results).items():
        out.append(
            f"| {short(name)} | {counts['passed']} | {counts['failed']} | {counts['skipped']} |"
        )
    failures = sorted(
        (r for r in summary.results if r.outcome == "failed"), key=lambda r: r.test_id
    )
    out += ["", f"## Failures ({len(failures)})", ""]
    out += [f"- `{r.test_id}`: {r.detail or '(no error text)'}" for r in failures] or ["None."]
    reasons = Counter(r.detail or "(no reason)" for r in summary.results if r.outcome == "skipped")
    out += ["", "## Skip reasons (Tempest's own checks)", ""]
    out += [f"- {count} x {reason}" for reason, count in reasons.most_common()] or ["None."]
    slowest = sorted(summary.results, key=lambda r: r.seconds, reverse=True)[:10]
    out += ["", "## Slowest tests", ""]
    out += [f"- {r.seconds:.0f} s `{r.test_id}` ({r.outcome})" for r in slowest if r.seconds]
    by_reason = Counter(e.reason for e in summary.excluded)
    out += ["", "## Excluded (cloud/tempest/exclude.txt)", ""]
    out += [f"- {count} x {reason}" for reason, count in by_reason.most_common()] or ["None."]
    return "\n".join(out) + "\n"
