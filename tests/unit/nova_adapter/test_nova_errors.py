"""zcompute's errors as Nova's exceptions (zcompute.nova._errors)."""

from __future__ import annotations

import pytest
from nova import exception

from zcompute.errors import (
    Conflict,
    FeatureUnsupported,
    GuestAgentUnavailable,
    ImageError,
    InvalidInput,
    InvalidState,
    NoSpace,
    NotFound,
    SchemaError,
    ZcomputeError,
)
from zcompute.nova._errors import nova_errors

UUID = "6a1d5c3e-0b8e-4f7e-9a47-5f0c4b8d9e21"


def _raised(error: Exception, image_id: str | None = None) -> BaseException:
    with pytest.raises(exception.NovaException) as info, nova_errors(UUID, image_id=image_id):
        raise error
    assert info.value.__cause__ is error  # zcompute's error stays behind Nova's
    return info.value


@pytest.mark.parametrize("kind", ["instance", "domain"])
def test_an_unknown_instance_or_domain_is_instance_not_found(kind: str) -> None:
    raised = _raised(NotFound(kind, "web1"))
    assert isinstance(raised, exception.InstanceNotFound)
    assert UUID in str(raised)


def test_other_not_found_is_an_internal_error_with_the_message() -> None:
    raised = _raised(NotFound("image", "glance-1"))
    assert isinstance(raised, exception.InternalError)
    assert "image 'glance-1' not found" in str(raised)


def test_an_image_error_is_image_unacceptable_with_the_message() -> None:
    raised = _raised(ImageError("qcow2 with a backing file"), image_id="img-1")
    assert isinstance(raised, exception.ImageUnacceptable)
    assert "img-1" in str(raised)
    assert "qcow2 with a backing file" in str(raised)


def test_an_image_error_without_an_image_id() -> None:
    raised = _raised(ImageError("bad"))
    assert isinstance(raised, exception.ImageUnacceptable)
    assert "bad" in str(raised)


@pytest.mark.parametrize(
    "error",
    [InvalidInput("hw_disk_bus", "'ide' is not a disk bus on s390x", ("virtio", "scsi"))],
)
def test_invalid_input_is_novas_with_the_message(error: InvalidInput) -> None:
    raised = _raised(error)
    assert isinstance(raised, exception.InvalidInput)
    assert str(error) in str(raised)
    assert "allowed: virtio, scsi" in str(raised)


def test_a_subclass_of_invalid_input_is_invalid_input() -> None:
    assert isinstance(_raised(SchemaError("xml", "rejected")), exception.InvalidInput)


@pytest.mark.parametrize("error", [InvalidState("guest is paused"), GuestAgentUnavailable("no")])
def test_an_invalid_state_is_instance_invalid_state(error: InvalidState) -> None:
    raised = _raised(error)
    assert isinstance(raised, exception.InstanceInvalidState)
    assert UUID in str(raised)
    assert str(error) in str(raised)


@pytest.mark.parametrize(
    "error",
    [
        Conflict("tap in use"),
        NoSpace("data directory full"),
        FeatureUnsupported("VNC console", "s390x", "no graphics"),
        ZcomputeError("anything else"),
    ],
)
def test_any_other_error_is_an_internal_error_with_the_message(error: ZcomputeError) -> None:
    raised = _raised(error)
    assert type(raised) is exception.InternalError
    assert str(error) in str(raised)


def test_errors_that_are_not_zcomputes_pass_unchanged() -> None:
    with pytest.raises(KeyError), nova_errors(UUID):
        raise KeyError("x")


def test_no_error_no_exception() -> None:
    with nova_errors(UUID):
        pass
