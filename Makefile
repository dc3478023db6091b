# Playwire: `make serve` runs the server, `make test` runs the tests. Both set up first.
# `make cluster` runs Redis (if none answers on 6379), three nodes and nginx on CLUSTER_PORT.
PYTHON ?= python3
# PyPy 3.9 (Debian bookworm's pypy3 7.3.11): `make setup PYTHON=pypy3` builds .venv-pypy.
ifeq ($(notdir $(PYTHON)),pypy3)
VENV ?= .venv-pypy
APT_PACKAGES := pypy3 pypy3-dev pypy3-venv
endif
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
HOST ?= 127.0.0.1
PORT ?= 5000
CLUSTER_PORT ?= 8080
# Test processes side by side (pytest-xdist); 0 runs the suite in this one process.
TEST_WORKERS ?= 2

.PHONY: setup serve cluster cluster-restart test lint format bench bench-slow-readers clean postgresql-server

setup: $(STAMP) node_modules/.package-lock.json

$(STAMP): pyproject.toml
ifneq ($(APT_PACKAGES),)
	@n=$$(dpkg-query -W -f='$${Status}\n' $(APT_PACKAGES) 2>/dev/null | grep -c '^install ok installed$$'); \
	if [ "$$n" != "$(words $(APT_PACKAGES))" ]; then \
	  apt-get update -q && apt-get install -y -q -o DPkg::Lock::Timeout=600 $(APT_PACKAGES); \
	fi
endif
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The browser client (socket.io-client) comes from npm, pinned by package-lock.json.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# The cluster (make cluster, tests/cluster) runs Debian's redis-server and nginx.
/usr/bin/redis-server:
	apt-get update -q && apt-get install -y -q -o DPkg::Lock::Timeout=600 redis-server

/usr/sbin/nginx:
	apt-get update -q && apt-get install -y -q -o DPkg::Lock::Timeout=600 nginx

# The PostgreSQL tests (tests/test_postgres.py, tests/cluster) run a server of their own from
# Debian's binaries; the package's own service is not needed.
postgresql-server:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  (apt-get update -q && apt-get install -y -q -o DPkg::Lock::Timeout=600 postgresql)

# The browser tests drive Debian's Chromium; no browser is ever downloaded by Playwright.
/usr/bin/chromium:
	apt-get update -q && apt-get install -y -q -o DPkg::Lock::Timeout=600 chromium

# The benchmark's own Python dependencies (the `bench` extra: matplotlib for its charts).
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# The benchmark's load generator and reference servers (bench/package-lock.json).
bench/node_modules/.package-lock.json: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund

serve: setup
	$(BIN)/playwire serve --host $(HOST) --port $(PORT)

# A local cluster: Redis (where none answers on 6379), three nodes, nginx on CLUSTER_PORT.
cluster: setup /usr/bin/redis-server /usr/sbin/nginx
	$(BIN)/python deploy/cluster.py --port $(CLUSTER_PORT)

# Restart the running `make cluster`'s nodes one by one (SIGTERM each: players keep their
# sessions; docs/cluster.md, "Rolling restart").
cluster-restart:
	kill -HUP $$(cat instance/cluster/cluster.pid)

test: setup /usr/bin/chromium /usr/bin/redis-server /usr/sbin/nginx postgresql-server \
      bench/node_modules/.package-lock.json
	$(BIN)/python -m pytest -q --durations=15 -n $(TEST_WORKERS)

# The full benchmark (50-65 min; see bench/README.md). BENCH_ARGS for subsets,
# e.g. make bench BENCH_ARGS="--runs 1 --scenarios throughput,latency".
bench: setup $(BENCH_STAMP) bench/node_modules/.package-lock.json
	$(BIN)/python bench/run.py --python $(BIN)/python $(BENCH_ARGS)
	$(BIN)/python bench/chart.py cluster
	$(MAKE) bench-slow-readers

# Memory with 100 sessions that never read: the default --max-outbox, then no cap to compare.
bench-slow-readers: setup
	$(BIN)/python bench/slow_readers.py
	$(BIN)/python bench/slow_readers.py --max-outbox 1073741824 || true

LINTED := src tests scripts deploy bench

lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

format: setup
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

clean:
	rm -rf $(VENV) node_modules bench/node_modules build *.egg-info .pytest_cache .ruff_cache
