# Eddy's two everyday commands:
#   make demo   build and run the demo server (installs missing Debian packages first)
#   make test   build and run every test       (same)
# and `make bench` for the peer benchmarks (not part of the tests or CI).

SWIFT ?= swift
# Debian packages the build and the tests need (Chromium is a test peer: a real browser;
# the openssl command makes the TLS tests' certificates and is their s_client/s_server peer).
APT_PACKAGES := pkg-config libuv1-dev libssl-dev openssl zlib1g-dev libsqlite3-dev python3 python3-venv chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Python peers for the tests (Python `websockets` from PyPI), in a project-local venv.
VENV := .venv
PEERS := $(VENV)/.peers-installed

.PHONY: deps build demo test bench clean

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

demo: deps
	$(SWIFT) build -c release --product eddy
	.build/release/eddy demo

$(PEERS): Tests/Peers/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r Tests/Peers/requirements.txt
	touch $@

test: deps $(PEERS)
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Extra Debian packages the benchmarks need (peers and tools), not the tests.
BENCH_PACKAGES := nodejs node-ws valgrind gcc

bench: deps
	@missing=""; \
	for p in $(BENCH_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	bash Benchmarks/run.sh

clean:
	rm -rf .build $(VENV)
