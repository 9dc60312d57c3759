"""zcompute as an OpenStack Nova compute driver (Nova 34.0.0).

Nova loads drivers from its own ``nova.virt`` namespace: the ``nova-zcompute`` shim
distribution (``nova/virt/zcompute/``, built from this repository's ``nova-shim`` folder)
re-exports :class:`ZComputeDriver`, so ``compute_driver = zcompute.ZComputeDriver`` in
``nova.conf`` selects it. This package is the only place in zcompute that imports Nova; it only
translates Nova's objects into zcompute's types and calls zcompute's driver.
"""

from __future__ import annotations

from zcompute.nova._driver import IMPLEMENTED_NOVA_METHODS, ZComputeDriver

__all__ = ["IMPLEMENTED_NOVA_METHODS", "ZComputeDriver"]
