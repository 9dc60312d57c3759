from __future__ import annotations

import pytest

from zcompute.driver import ComputeDriver
from zcompute.driver._host import MIN_LIBVIRT, MIN_QEMU, version_problem, version_text
from zcompute.errors import HostUnsupported


def test_versions_read_as_libvirt_encodes_them() -> None:
    assert version_text(11_003_000) == "11.3.0"
    assert version_text(7_002_017) == "7.2.17"


@pytest.mark.parametrize(
    ("libvirt_version", "qemu_version"),
    [(9_000_000, 7_002_000), (11_003_000, 10_000_002)],  # both tested stacks
)
def test_both_tested_stacks_are_accepted(libvirt_version: int, qemu_version: int) -> None:
    assert version_problem(libvirt_version, qemu_version) is None


def test_an_older_stack_is_refused_naming_what_is_too_old_and_what_is_needed() -> None:
    problem = version_problem(8_000_000, MIN_QEMU)
    assert problem is not None
    assert "libvirt 8.0.0 (needs >= 9.0.0)" in problem
    assert "QEMU" not in problem.split(";")[0]
    assert "libvirt 11.3 / QEMU 10.0" in problem
    problem = version_problem(MIN_LIBVIRT, 6_002_000)
    assert problem is not None
    assert "QEMU 6.2.0 (needs >= 7.2.0)" in problem


def test_init_host_refuses_a_host_older_than_the_minimum(test_driver: ComputeDriver) -> None:
    # libvirt's test driver reports hypervisor version 0.0.2: far below QEMU 7.2
    with pytest.raises(HostUnsupported, match=r"QEMU 0\.0\.2 \(needs >= 7\.2\.0\)"):
        test_driver.init_host()
    assert test_driver.db.list_instances() == []
