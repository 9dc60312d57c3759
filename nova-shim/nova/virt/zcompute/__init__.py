"""``compute_driver = zcompute.ZComputeDriver``: zcompute's driver, where Nova looks for it."""

from zcompute.nova import ZComputeDriver

__all__ = ["ZComputeDriver"]
