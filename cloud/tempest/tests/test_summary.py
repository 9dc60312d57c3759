"""Summaries from subunit v2 streams written here with python-subunit."""

from __future__ import annotations

import datetime
import io
import re

from ztempest import summary

TB = """Traceback (most recent call last):
  File "tempest/common/waiters.py", line 136, in wait_for_server_status
    raise lib_exc.TimeoutException(message)
tempest.lib.exceptions.TimeoutException: Request timed out
Details: (ServersTestJSON:test_x) Server abc failed to reach ACTIVE status
"""


def stream(*tests: tuple[str, str, dict[str, str]]) -> io.BytesIO:
    import subunit

    out = io.BytesIO()
    writer = subunit.StreamResultToBytes(out)
    t0 = datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC)
    for test_id, status, details in tests:
        writer.status(test_id=test_id, test_status="inprogress", timestamp=t0)
        for name, text in details.items():
            writer.status(
                test_id=test_id,
                file_name=name,
                file_bytes=text.encode(),
                mime_type="text/plain; charset=utf8",
                eof=True,
            )
        writer.status(
            test_id=test_id, test_status=status, timestamp=t0 + datetime.timedelta(seconds=3)
        )
    out.seek(0)
    return out


A = "tempest.api.compute.servers.test_servers.ServersTestJSON"
B = "tempest.api.compute.admin.test_live_migration.LiveMigrationTest"


def results() -> list[summary.Result]:
    return summary.parse_subunit(
        stream(
            (f"{A}.test_create[id-1,smoke]", "success", {}),
            (f"{A}.test_x[id-2]", "fail", {"traceback": TB}),
            (f"{B}.test_live[id-3]", "skip", {"reason": "Less than 2 compute nodes"}),
            (f"setUpClass ({B})", "fail", {"traceback": "boom\nValueError: bad thing\n"}),
        )
    )


def test_parse() -> None:
    got = {r.test_id: r for r in results()}
    assert got[f"{A}.test_create[id-1,smoke]"].outcome == "passed"
    assert got[f"{A}.test_create[id-1,smoke]"].seconds == 3.0
    failed = got[f"{A}.test_x[id-2]"]
    assert failed.outcome == "failed"
    assert failed.detail.startswith("tempest.lib.exceptions.TimeoutException: Request timed out")
    assert "failed to reach ACTIVE" in failed.detail
    assert got[f"{B}.test_live[id-3]"].detail == "Less than 2 compute nodes"
    assert got[f"setUpClass ({B})"].detail == "ValueError: bad thing"


def test_classes_and_markdown() -> None:
    s = summary.Summary("smoke", results(), [summary.Excluded("t", "no Cinder")], 125.0)
    assert summary.test_class(f"setUpClass ({B})") == B
    classes = summary.per_class(s.results)
    assert (classes[A]["passed"], classes[A]["failed"]) == (1, 1)
    assert (classes[B]["failed"], classes[B]["skipped"]) == (1, 1)
    text = summary.markdown(s)
    assert "1 passed, 2 failed, 1 skipped" in text
    assert "2 min 5 s" in text
    assert "| servers.test_servers.ServersTestJSON | 1 | 1 | 0 |" in text
    assert "1 x no Cinder" in text
    assert "## Slowest tests" in text


def test_exclusions(tmp_path: object) -> None:
    entries = [(re.compile(r"test_volume"), "no Cinder"), (re.compile(r"rescue"), "x")]
    found = summary.excluded_tests(["a.test_volume_1", "b.test_rescue", "c.ok"], entries)
    assert [(e.test_id, e.reason) for e in found] == [
        ("a.test_volume_1", "no Cinder"),
        ("b.test_rescue", "x"),
    ]


def test_first_error_line_without_exception_is_the_last_line() -> None:
    assert summary.first_error_line("a\nb\n\n") == "b"
    assert summary.first_error_line("") == ""


def test_first_error_line_of_a_dotted_exception_without_error_in_its_name() -> None:
    tb = (
        'Traceback (most recent call last):\n  File "x.py", line 1, in f\n'
        "tempest.lib.exceptions.NotImplemented: Got NotImplemented error\n"
        "Details: The requested functionality is not supported.\n"
    )
    assert summary.first_error_line(tb) == (
        "tempest.lib.exceptions.NotImplemented: Got NotImplemented error "
        "Details: The requested functionality is not supported."
    )
