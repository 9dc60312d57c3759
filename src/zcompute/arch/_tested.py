"""Which features an end-to-end test exercises on a real guest of which architecture.

Generated from the ``@pytest.mark.feature`` markers of tests/e2e; do not edit. Regenerate with
``.venv/bin/python -m tests.e2e.feature_markers`` (tests/unit/arch/test_arch_tested.py fails
while this table and the markers disagree).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["TESTED_ON"]

TESTED_ON: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "launch": ("s390x", "x86_64", "aarch64"),
        "terminate": ("s390x", "x86_64", "aarch64"),
        "get-guest-info": ("s390x", "x86_64", "aarch64"),
        "reboot": ("s390x", "x86_64"),
        "power-off-on": ("s390x", "x86_64"),
        "pause": ("s390x", "x86_64"),
        "suspend": ("s390x", "x86_64"),
        "snapshot": ("s390x", "x86_64"),
        "rescue": ("s390x", "x86_64"),
        "console-log": ("s390x", "x86_64", "aarch64"),
        "interactive-console": ("s390x", "x86_64"),
        "attach-volume": ("s390x", "x86_64"),
        "attach-volume-fc": ("s390x", "x86_64"),
        "attach-volume-iscsi": ("s390x", "x86_64"),
        "attach-interface": ("s390x", "x86_64"),
        "swap-volume": ("s390x", "x86_64"),
        "device-tags": ("s390x", "x86_64"),
        "trigger-crash-dump": ("s390x", "x86_64"),
        "watchdog": ("s390x", "x86_64"),
        "config-drive": ("s390x", "x86_64"),
        "guest-agent": ("s390x", "x86_64"),
        "disk-rate-limit": ("s390x", "x86_64"),
        "file-backed-memory": ("s390x", "x86_64"),
        "boot-from-volume": ("s390x", "x86_64"),
        "live-migration": ("s390x", "x86_64"),
        "resize": ("s390x", "x86_64"),
    }
)
