"""zcompute's cloud: a real OpenStack on one machine whose compute hosts are zcompute
(make cloud, docs/cloud.md). Runs with the cloud's own venv; nothing in zcompute imports it."""
