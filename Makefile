# The two commands a newcomer needs (README): `make demo` and `make test`.
# Both run the idempotent host setup first (root: apt packages, venv, libvirtd).
# STACK=stable runs everything on Debian 12's libvirt 9.0 / QEMU 7.2 instead of the default
# new stack, libvirt 11.3 / QEMU 10.0 (docs/platforms.md).
VENV := .venv/bin
STACK ?=
SETUP := scripts/setup-host $(if $(STACK),--stack $(STACK))
PYTEST_ARGS ?=
# Restart libvirtd, stop host B (scripts/second-host): they must not run while other tests start
# guests, so they get a pytest invocation of their own besides the parallel one (under -n 2 they
# would only skip themselves).
ALONE := tests/e2e/test_lifecycle_restart.py \
	tests/e2e/test_second_host.py::test_stop_and_start_leave_host_a_alone
DESELECT_ALONE := $(addprefix --deselect ,$(ALONE))
# Host B, which the tests start when they need it (tests/e2e/conftest.py, second_host), is
# stopped when the tests end, also when they fail or are interrupted.
STOP_HOST_B := trap 'scripts/second-host stop || exit 1' EXIT; trap 'exit 130' INT TERM; set -e;
# make test ends with the cloud (docs/cloud.md, docs/tempest.md): installed on first use, brought
# up, its acceptance tests (tests/cloud) and Tempest's compute smoke tests run against it, and it
# is stopped again at the end, also after a failure (before host B, which it runs on).
STOP_CLOUD := trap 'cloud/cloudctl down || true; scripts/second-host stop || exit 1' EXIT; \
	trap 'exit 130' INT TERM; set -e;
# Nova's harness runs Nova with native threads and forbids eventlet, which os-brick (imported
# by the Fibre Channel differential tests) pulls in: Nova's tests get a process of their own.
NOVA := tests/e2e/nova

.PHONY: setup demo test lint typecheck unit e2e nova bench cloud cloud-down cloud-status cloud-test

setup:
	@$(SETUP)

demo: setup
	$(VENV)/zcompute demo

test: setup
	$(VENV)/ruff check src tests benchmarks cloud
	$(VENV)/ruff format --check src tests benchmarks cloud
	$(VENV)/mypy
	$(STOP_CLOUD) \
	$(VENV)/pytest $(ALONE) $(PYTEST_ARGS); \
	$(VENV)/pytest -n 2 --dist loadgroup $(DESELECT_ALONE) --ignore $(NOVA) $(PYTEST_ARGS); \
	$(VENV)/pytest -n 2 $(NOVA) $(PYTEST_ARGS); \
	cloud/install; \
	ZCLOUD_TESTS=1 $(VENV)/pytest -m cloud -s tests/cloud $(PYTEST_ARGS); \
	cloud/tempest/install; \
	cloud/tempest/run run smoke

# A real OpenStack on this machine whose compute hosts are zcompute (docs/cloud.md): services
# under a supervisor of the project's own, state in /var/lib/zcompute-cloud. `make cloud` is
# idempotent; `make cloud-down` stops every process and guest it started (CLOUD_DOWN_ARGS=--purge
# also removes its state: the next `make cloud` starts from empty databases).
CLOUD_DOWN_ARGS ?=
cloud: setup
	cloud/install
	cloud/cloudctl up

cloud-down:
	cloud/cloudctl down $(CLOUD_DOWN_ARGS)

cloud-status:
	cloud/cloudctl status

# Issue 18's acceptance against the cloud (tests/cloud): brings the cloud up itself, ends with a
# cloud-down and a warm up, so the cloud is up afterwards.
cloud-test: setup
	ZCLOUD_TESTS=1 $(VENV)/pytest -m cloud -s tests/cloud $(PYTEST_ARGS)

unit: setup
	$(VENV)/pytest -n 2 --dist loadgroup -m "not e2e" --ignore $(NOVA) $(PYTEST_ARGS)

e2e: setup
	$(STOP_HOST_B) \
	$(VENV)/pytest -n 2 --dist loadgroup -m e2e $(DESELECT_ALONE) --ignore $(NOVA) $(PYTEST_ARGS); \
	$(VENV)/pytest $(ALONE) $(PYTEST_ARGS); \
	$(VENV)/pytest -n 2 $(NOVA) $(PYTEST_ARGS)

nova: setup
	$(VENV)/pytest -n 2 $(NOVA) $(PYTEST_ARGS)

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(VENV)/python $$b || exit 1; done

# Tempest against the one-machine cloud (docs/tempest.md): `make tempest` runs every test under
# tempest.api.compute, `make tempest-smoke` the compute smoke tests; both bring the cloud up
# first (make cloud), which TEMPEST_CLOUD= skips for a cloud that is up already. The summary
# goes to /var/lib/zcompute-cloud/tempest/summary-<set>.md and stdout.
TEMPEST_CLOUD ?= cloud

.PHONY: tempest tempest-smoke

tempest: $(TEMPEST_CLOUD)
	cloud/tempest/install
	cloud/tempest/run run full

tempest-smoke: $(TEMPEST_CLOUD)
	cloud/tempest/install
	cloud/tempest/run run smoke
