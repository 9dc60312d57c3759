"""Nova's image cache: Glance images fetched once into zcompute's image store, pre-cached on
request and pruned when no guest boots from them any more.

Every guest's root disk is a copy-on-write overlay of its cached image, so the cache is also
what keeps boots fast. Nova's ``[image_cache]`` options decide the pruning, as for Nova's own
libvirt driver: ``remove_unused_base_images`` and
``remove_unused_original_minimum_age_seconds`` (age counted from the fetch).
"""

from __future__ import annotations

import logging
from typing import Any

from zcompute.nova._base import AdapterBase
from zcompute.nova._conf import CONF
from zcompute.nova._errors import nova_errors

__all__ = ["ImageCacheMethods"]

LOG = logging.getLogger(__name__)


class ImageCacheMethods(AdapterBase):
    """cache_image and manage_image_cache."""

    def cache_image(self, context: Any, image_id: str) -> bool:
        with nova_errors("-", image_id=image_id):
            return self._glance.cache(context, image_id)

    def manage_image_cache(self, context: Any, all_instances: Any) -> None:
        if not CONF.image_cache.remove_unused_base_images:
            return
        with nova_errors("-"):
            minimum = CONF.image_cache.remove_unused_original_minimum_age_seconds
            removed = self._glance.prune(float(minimum))
        if removed:
            LOG.info("removed unused cached images: %s", ", ".join(removed))
