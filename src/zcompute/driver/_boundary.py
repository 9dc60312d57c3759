"""The driver API's boundary for ``OSError``: no caller ever sees one.

A file operation deep inside an operation (a missing volume, an unwritable instance folder) fails
with an ``OSError``. Each public method of the driver maps it on the way out, like :mod:`virt`
maps libvirt's errors: into the :mod:`zcompute.errors` tree, naming the path
(:func:`~zcompute.errors.from_os_error`). The original stays chained as ``__cause__``.
The constructor's only file work is setting up the data directory: its OSError is a
:class:`~zcompute.errors.ConfigError` naming ``data_dir``.

The parts the driver is composed of (its context and each part class) map OSError at their
public methods too, as when those were the driver's own: a part that catches ZcomputeError
around another part's call (the host-boot resume, guest by guest; the KVM probe) must not let
a file error through.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from zcompute.errors import ConfigError, from_os_error

__all__ = ["map_os_errors"]

_C = TypeVar("_C", bound=type)


def map_os_errors(cls: _C) -> _C:
    """Make every public method and property of ``cls`` (inherited ones too) map OSError."""
    cls.__init__ = _init_mapped(cls.__init__)  # type: ignore[misc]
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name)
        if inspect.isfunction(attr):
            setattr(cls, name, _mapped(attr))
        elif isinstance(attr, property) and attr.fget is not None:
            setattr(cls, name, property(_mapped(attr.fget), attr.fset, attr.fdel, attr.__doc__))
    return cls


def _mapped(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OSError as err:
            raise from_os_error(err) from err

    return call


def _init_mapped(init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def call(*args: Any, **kwargs: Any) -> None:
        try:
            init(*args, **kwargs)
        except OSError as err:
            where = err.filename if err.filename is not None else "the data directory"
            raise ConfigError(
                "data_dir",
                f"cannot use {where}: {err.strerror or err}",
                "a directory zcompute can create and write",
            ) from err

    return call
