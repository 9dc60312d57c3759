"""Tempest against zcompute's cloud: tempest.conf from the cloud and the support matrix, the
runs and their summaries (docs/tempest.md)."""
