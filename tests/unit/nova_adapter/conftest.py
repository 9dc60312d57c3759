"""The Nova adapter's pure parts, tested with Nova's real objects.

The folder is not called ``nova``: with pytest's importlib import mode and no
``tests/unit/__init__.py``, a test package named ``nova`` would be imported as Nova itself.

Nova runs with native threads here (its 2026.2 service default): the variable must be set
before anything imports Nova, so it is set when pytest loads this file, before the tests of
this folder import :mod:`zcompute.nova`. Importing Nova's modules neither monkey-patches
this process nor minds that other tests of the same process imported eventlet (os-brick).
"""

from __future__ import annotations

import os

os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

with warnings.catch_warnings():
    # Nova's first import warns about eventlet, oslo.policy rules, webob's cgi: not ours
    warnings.simplefilter("ignore")
    from nova import objects

    import zcompute.nova  # noqa: F401

objects.register_all()


_OVERRIDDEN = ("reserved_host_memory_mb", "reserved_host_cpus", "reserved_host_disk_mb")


@pytest.fixture
def nova_conf() -> Iterator[Any]:
    """Nova's CONF; the reserved-resource options a test overrides are cleared after it."""
    from oslo_config import cfg

    yield cfg.CONF
    for name in _OVERRIDDEN:
        cfg.CONF.clear_override(name)
