"""Each public driver operation names its support-matrix feature, and refuses where it is missing.

``@operation("trigger-crash-dump")`` binds a method to a feature of :data:`zcompute.arch.FEATURES`.
Before the method runs, the architecture of what it works on is looked up once (the instance
its ``name_or_uuid`` names, or the image a spawn boots) and that profile's
:meth:`~zcompute.arch.ArchProfile.require` raises :class:`~zcompute.errors.FeatureUnsupported`
when the claim is *missing*: nothing is locked, recorded or asked of libvirt. A missing instance
or image, or an architecture without a profile, is left to the operation to report (``destroy``
of an unknown name returns False).

``@host_operation()`` marks an operation on the host rather than on one guest (list, repair,
...): it is not architecture-dependent, and may still name the feature it serves.

Which feature each operation is can be read back (:func:`binding`); the unit tests join the
bindings with the features: a feature no operation binds must be a platform fact or not
implemented yet.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from zcompute.arch import FEATURES, IMAGE_ARCH_PROPERTY, ArchProfile, get_profile
from zcompute.errors import InvalidInput, NotFound
from zcompute.images import ImageStore
from zcompute.model import Image
from zcompute.state import StateDB
from zcompute.virt import Hypervisor

__all__ = ["Binding", "binding", "host_operation", "operation"]

_F = TypeVar("_F", bound=Callable[..., Any])
_ATTRIBUTE = "zcompute_binding"
#: The parameter that names what an operation works on, and how to find its architecture.
_SUBJECTS = ("name_or_uuid", "image")


class _Driver(Protocol):
    """What a binding reads to find the architecture an operation works on."""

    @property
    def db(self) -> StateDB: ...
    @property
    def images(self) -> ImageStore: ...
    @property
    def hv(self) -> Hypervisor: ...


@dataclasses.dataclass(frozen=True)
class Binding:
    """What a public operation is: its feature (None: none of its own) and its subject.

    ``subject`` is the parameter whose architecture decides (``name_or_uuid`` or ``image``),
    or ``host`` for operations that are not architecture-dependent.
    """

    feature: str | None
    subject: str

    @property
    def arch_dependent(self) -> bool:
        return self.subject != "host"


def operation(feature: str) -> Callable[[_F], _F]:
    """Bind an operation to ``feature``; each call refuses an arch whose claim is missing."""
    _known(feature)

    def bind(func: _F) -> _F:
        names = list(inspect.signature(func).parameters)
        subject = next((name for name in _SUBJECTS if name in names), None)
        if subject is None:
            raise TypeError(
                f"{func.__qualname__}: an arch-dependent operation takes one of {_SUBJECTS}; "
                "mark an operation on the host with @host_operation()"
            )
        index = names.index(subject)
        arch_of = _instance_arch if subject == "name_or_uuid" else _image_arch

        @functools.wraps(func)
        def checked(driver: _Driver, *args: Any, **kwargs: Any) -> Any:
            value = args[index - 1] if len(args) >= index else kwargs.get(subject)
            profile = _profile(arch_of(driver, value))
            if profile is not None:
                profile.require(feature)
            return func(driver, *args, **kwargs)

        setattr(checked, _ATTRIBUTE, Binding(feature, subject))
        return cast(_F, checked)

    return bind


def host_operation(feature: str | None = None) -> Callable[[_F], _F]:
    """Mark an operation on the host (not architecture-dependent), serving ``feature`` if any."""
    if feature is not None:
        _known(feature)

    def mark(func: _F) -> _F:
        setattr(func, _ATTRIBUTE, Binding(feature, "host"))
        return func

    return mark


def binding(method: object) -> Binding | None:
    """The binding of a driver method (wrappers keep it), or None for a helper."""
    found = getattr(method, _ATTRIBUTE, None)
    return found if isinstance(found, Binding) else None


def _known(feature: str) -> None:
    """An unknown key fails when the driver is imported, naming the known ones."""
    keys = [f.key for f in FEATURES]
    if feature not in keys:
        raise ValueError(f"unknown feature {feature!r}; known: {', '.join(keys)}")


def _instance_arch(driver: _Driver, name_or_uuid: object) -> str | None:
    if not isinstance(name_or_uuid, str):
        return None
    try:
        return driver.db.get_instance(name_or_uuid).arch
    except NotFound:
        return None


def _image_arch(driver: _Driver, image: object) -> str | None:
    """The arch a spawn of ``image`` plans with: the image's, else the host's own."""
    try:
        found = image if isinstance(image, Image) else driver.images.get(str(image))
    except NotFound:
        return None
    return found.prop(IMAGE_ARCH_PROPERTY) or found.arch or driver.hv.node_info()[0]


def _profile(arch: str | None) -> ArchProfile | None:
    if arch is None:
        return None
    try:
        return get_profile(arch)
    except InvalidInput:
        return None  # no profile: planning reports the architecture the way it always does
