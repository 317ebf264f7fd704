# The README's commands. Everything runs from the project's own .venv (made by `make setup`).
PY := .venv/bin/python
export PYSPARK_PYTHON := $(CURDIR)/.venv/bin/python
export PYSPARK_DRIVER_PYTHON := $(CURDIR)/.venv/bin/python

.PHONY: setup test test-fast test-reliability services-up services-down demo demo-reset \
        bench-producer bench-training bench-streaming bench-dashboard bench-data audit

setup:
	@bash scripts/setup.sh

test: setup
	$(PY) -m pytest -m "not reliability" -p no:cacheprovider --timeout=900 --durations=15

test-fast: setup
	$(PY) -m pytest -m "not integration and not reliability and not browser" -p no:cacheprovider

.PHONY: test-compose
# The stack in containers, for real: podman + docker-compose v1, default and cluster profiles, 3-broker faults
test-compose: setup
	@bash scripts/compose/test.sh

test-reliability: setup
	$(PY) -m pytest -m reliability -p no:cacheprovider

services-up: setup
	$(PY) -m devstack up

services-down:
	@if [ -x $(PY) ]; then $(PY) -m devstack down; fi

demo: setup
	$(PY) -m devstack demo $(if $(DATA),--data $(DATA))

demo-reset:
	$(PY) -m devstack demo-reset

bench-data: setup
	$(PY) benchmarks/bench_data.py

bench-producer: setup
	$(PY) benchmarks/bench_producer.py

bench-training: setup
	$(PY) benchmarks/bench_training.py

bench-streaming: setup
	$(PY) benchmarks/bench_streaming.py

bench-dashboard: setup
	$(PY) benchmarks/bench_dashboard.py

# pip-audit of the installed pins; one line `audit: UNREACHABLE ...` (exit 0) when no vulnerability could be looked up
audit: setup
	$(PY) scripts/audit.py
