"""An instance's metadata: what the user gives, plus the keys zcompute sets itself.

zcompute records in every guest's metadata which instance, name, flavor and image it is; those
keys are zcompute's, so a user's value for one of them is refused instead of being overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping

from zcompute.errors import InvalidInput
from zcompute.model import Flavor, Image
from zcompute.plan import MANAGED_BY_KEY

__all__ = ["RESERVED_METADATA_KEYS", "instance_metadata", "user_metadata"]

#: Metadata keys zcompute sets itself (:func:`instance_metadata`).
RESERVED_METADATA_KEYS = ("instance", "name", "flavor", "image", MANAGED_BY_KEY)


def user_metadata(extra: Mapping[str, str] | None) -> Mapping[str, str]:
    """The user's metadata; InvalidInput naming the keys zcompute sets itself, if it has any."""
    taken = sorted(set(extra or {}) & set(RESERVED_METADATA_KEYS))
    if taken:
        raise InvalidInput(
            f"metadata {', '.join(taken)}",
            "zcompute sets these keys itself",
            f"any key but {', '.join(RESERVED_METADATA_KEYS)}",
        )
    return extra or {}


def instance_metadata(
    uuid: str,
    name: str,
    flavor: Flavor,
    image: Image,
    extra: Mapping[str, str],
    managed_by: str | None = None,
) -> dict[str, str]:
    """The metadata recorded for a new instance: the user's and zcompute's own keys."""
    own = {"instance": uuid, "name": name, "flavor": flavor.name, "image": image.id}
    if managed_by is not None:
        own[MANAGED_BY_KEY] = managed_by
    return {**extra, **own}
