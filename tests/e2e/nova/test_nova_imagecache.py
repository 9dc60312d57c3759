"""Nova's image cache with zcompute's real driver: pre-caching through an aggregate, pruning.

An image pre-cached through Nova's API (``POST /os-aggregates/{id}/images``) is in zcompute's
image store before any server boots from it; Nova's cache manager pass then keeps what a guest
boots from and removes what none does (with ``remove_unused_original_minimum_age_seconds`` 0).
"""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.nova.harness import NovaHarnessTest

BOOTED = "ZCOMPUTE-DEVICES-END"


class TestNovaImageCache(NovaHarnessTest):
    def test_s390x_image_pre_cached_kept_while_used_and_pruned_after(self) -> None:
        self.flags(remove_unused_original_minimum_age_seconds=0, group="image_cache")
        image = self.upload_test_image("s390x")
        aggregate = self.admin_api.post_aggregate({"aggregate": {"name": f"zc-{self.token}"}})
        self.admin_api.add_host_to_aggregate(aggregate["id"], "compute")
        self.admin_api.api_post(
            f"/os-aggregates/{aggregate['id']}/images", {"cache": [{"id": image}]}
        )
        self._wait_cached(image)
        assert self.driver.cache_image(self.context(), image) is False  # there already

        body = self._build_server(image_uuid=image, flavor_id=self.flavor(), networks="none")
        server = self.wait_status(self.api.post_server({"server": body}), "ACTIVE")
        self.wait_console(server, BOOTED)
        self.driver.manage_image_cache(self.context(), [])
        assert self._cached() == [f"glance-{image}"]  # a guest boots from it

        self.api.delete_server(server["id"])
        self.wait_deleted(server)
        self.driver.manage_image_cache(self.context(), [])
        assert self._cached() == []
        assert self.host_leftovers(server) == []

    # -- helpers ------------------------------------------------------------------------------

    @property
    def driver(self) -> Any:
        return self.computes["compute"].driver

    @staticmethod
    def context() -> Any:
        from nova import context as nova_context  # after the harness patched threading

        return nova_context.get_admin_context()

    def _cached(self) -> list[str]:
        return sorted(i.name for i in self.driver.zc.images.list() if i.name.startswith("glance-"))

    def _wait_cached(self, image: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while f"glance-{image}" not in self._cached():
            assert time.monotonic() < deadline, f"image {image} was not pre-cached"
            time.sleep(0.3)
