"""zcompute: KVM guests through libvirt, with IBM Z (s390x) as a first-class platform."""

from __future__ import annotations

from zcompute.errors import (
    ConfigError,
    Conflict,
    FeatureUnsupported,
    HostDataError,
    HypervisorUnavailable,
    ImageError,
    InvalidInput,
    InvalidState,
    NotFound,
    SchemaError,
    Timeout,
    VirtError,
    VolumeError,
    XMLError,
    ZcomputeError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Conflict",
    "FeatureUnsupported",
    "HostDataError",
    "HypervisorUnavailable",
    "ImageError",
    "InvalidInput",
    "InvalidState",
    "NotFound",
    "SchemaError",
    "Timeout",
    "VirtError",
    "VolumeError",
    "XMLError",
    "ZcomputeError",
    "__version__",
]
