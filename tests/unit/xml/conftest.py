"""With ZCOMPUTE_XML_FIELD_LOG set, record which declared fields the tests read and write.

test_xml_meta.py runs this directory's tests in a subprocess that way and fails when a
declared field is never exercised.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zcompute.xml._fields import track_usage

_LOG = os.environ.get("ZCOMPUTE_XML_FIELD_LOG")
_USED = track_usage() if _LOG else None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _LOG and _USED is not None:
        lines = sorted(f"{field.qualname}:{how}" for field, how in _USED)
        Path(_LOG).write_text("\n".join(lines) + "\n")
