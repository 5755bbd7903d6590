# Eddy's two everyday commands:
#   make demo   build and run the demo server (installs missing Debian packages first)
#   make test   build and run every test       (same)
# and `make faults` for the long network-fault and crash runs, `make bench` for the peer
# benchmarks, `make docs` for the API documentation, `make fuzz` for the fuzzers,
# `make asan`/`make tsan`/`make sanitize` for the tests under sanitizers (none of them part of
# the tests; CI replays the fuzz corpora in `make test`).

SWIFT ?= swift
# Debian packages the build and the tests need (Chromium is a test peer: a real browser;
# the openssl command makes the TLS tests' certificates and is their s_client/s_server peer;
# redis-server is the Redis the scale-out tests start on a free loopback port, and stop;
# iproute2's ip and tc make the network namespace and veth link the link-cut test cuts).
# The web client (Clients/web) is type-checked, bundled and tested with Debian's Node
# packages only: no npm registry is needed.
WEB_PACKAGES := nodejs node-typescript esbuild node-react node-react-dom node-react-test-renderer node-jsdom node-ws
APT_PACKAGES := pkg-config libuv1-dev libssl-dev openssl zlib1g-dev libsqlite3-dev python3 python3-venv chromium redis-server iproute2 $(WEB_PACKAGES)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Python peers for the tests (Python `websockets` from PyPI), in a project-local venv.
VENV := .venv
PEERS := $(VENV)/.peers-installed

.PHONY: deps build demo test bench clean web web-test conformance docs dashboard fuzz asan tsan sanitize faults

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
	$(MAKE) web-test EDDY_BIN="$$($(SWIFT) build --show-bin-path)/eddy"

# The web client: `tsc --noEmit` (strict), then ES-module bundles in Clients/web/dist/
# (eddy-dag-client.js; eddy-dag-react.js, which imports ./eddy-dag-client.js and `react`).
WEB := Clients/web
# Where Debian installs Node modules (React, ws, jsdom…); `node --test` finds them through
# Clients/web/node_modules symlinks (ES modules ignore NODE_PATH) and NODE_PATH (CommonJS).
WEB_MODULES := react react-dom react-test-renderer ws jsdom
WEB_NODE_PATH := /usr/share/nodejs:/usr/lib/nodejs

web: deps
	cd $(WEB) && tsc -p .
	cd $(WEB) && esbuild src/eddy-dag-client.ts src/eddy-dag-react.ts --bundle --format=esm --target=es2020 \
	  --outdir=dist --external:react --external:./eddy-dag-client.js --log-level=warning
	cd $(WEB) && esbuild src/dashboard/layout.ts src/dashboard/history.ts --bundle --format=esm --target=es2020 \
	  --outdir=dist/dashboard --log-level=warning

# The dashboard served at `/` (Clients/web/src/dashboard), bundled and committed as Swift source
# (Sources/EddyDAGServer/DashboardAssets.generated.swift) so the binary needs no Node at run time;
# web-test's dashboard-assets test fails when the committed file differs from a fresh build.
dashboard: deps
	cd $(WEB) && tsc -p .
	cd $(WEB) && node tools/dashboard-assets.mjs --write

# Every test of the web client; the integration test runs $(EDDY_BIN) (built by `test`).
EDDY_BIN ?= $(CURDIR)/.build/debug/eddy
web-test: web
	mkdir -p $(WEB)/node_modules
	for m in $(WEB_MODULES); do ln -sfn /usr/share/nodejs/$$m $(WEB)/node_modules/$$m; done
	cd $(WEB) && EDDY_BIN="$(EDDY_BIN)" NODE_PATH=$(WEB_NODE_PATH) timeout 600 node --test test/*.test.mjs

# Autobahn|Testsuite, every case both ways (server: eddy echo; client: WebSocket.connect):
# fails unless each is OK or INFORMATIONAL. Needs CPython 2.7 (pyenv, or $$PYTHON27); the
# suite comes from PyPI with the pins in Tests/Conformance/autobahn-requirements.txt.
# Release builds: the suite sends thousands of compressed messages per case.
conformance: deps
	$(SWIFT) build -c release --product eddy
	$(SWIFT) build -c release --product eddy-autobahn-client
	EDDY_BIN_DIR="$$($(SWIFT) build -c release --show-bin-path)" bash Tests/Conformance/autobahn.sh both

# API documentation: every library's DocC catalog (Sources/<Target>/<Target>.docc) built
# into .build/docs/<Target> (git-ignored) by swift-docc-plugin, with no network. Warnings are
# errors, so a symbol link that does not resolve fails the build; the check that every
# parameter of every function is documented is off (many doc comments describe only the
# parameters that need it). Not part of `test` or CI. `make docs DOCS_TARGETS=EddyNet`
# builds one. The output folder must exist before generate-documentation runs. No `deps`
# prerequisite (it may call apt-get): run `make deps` once if the C libraries are missing.
DOCS_TARGETS ?= EddyLoop EddyNet EddyTLS EddyHTTPCore EddyWebSocketCore EddyHTTP EddyWebSocket \
  EddyRooms EddyDAG EddyDAGStream EddyDAGServer \
  EddyRedisCore EddyRedis EddyRoomsRedis EddyDAGRedis EddyRunsRedis
DOCS_DIR := .build/docs

docs:
	mkdir -p $(DOCS_DIR)
	for t in $(DOCS_TARGETS); do \
	  $(SWIFT) package --allow-writing-to-directory $(DOCS_DIR) generate-documentation \
	    --target $$t --output-path $(DOCS_DIR)/$$t --disable-indexing --warnings-as-errors \
	    --disable-parameters-and-returns-validation || exit 1; \
	done
	@echo "Documentation archives in $(DOCS_DIR)/<Target>/ (index: documentation/<target>/index.html)"

# The long fault runs (docs/faults.md): dashboards through fault_proxy.py with a 30 s stall and a
# 30 s refused link, a real veth link cut for 30 s (root and iproute2, else skipped), and 20
# SIGKILLs under load. `make test` runs the short variants of the same tests (4 s stall, 3 s
# and 5 s link down, 3 kills). FAULT_SEED picks the jitter and the kill moments, KILLS the count.
FAULT_SEED ?= 18
KILLS ?= 20
faults: deps $(PEERS)
	$(SWIFT) build --build-tests
	EDDY_FAULTS=long EDDY_FAULT_SEED=$(FAULT_SEED) EDDY_CRASH_ITERATIONS=$(KILLS) \
	  $(SWIFT) test --skip-build --filter 'NetworkFaultTests|LinkCutTests|SigkillUnderLoadTests'

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
	rm -rf .build .build-asan .build-tsan $(VENV) $(WEB)/dist $(WEB)/node_modules .autobahn

# libFuzzer over the parsers that face untrusted bytes (Tests/Fuzz), FUZZ_SECONDS per target
# (default 60). `make test` replays every committed seed and regression input
# (EddyFuzzTests); this searches for new ones.
fuzz: deps
	Tests/Fuzz/fuzz.sh

# The tests under sanitizers (Tests/Sanitizers/run.sh, docs/hardening.md), each in a scratch
# path of its own (.build-asan, .build-tsan): fails on a failed test or any sanitizer report.
#   asan  AddressSanitizer + LeakSanitizer, UBSan over the C targets; the whole suite
#   tsan  ThreadSanitizer (Mutex as a pthread mutex: -DEDDY_TSAN); the loop, TCP, TLS, HTTP,
#         WebSocket, rooms and DAG stream suites
# SANITIZER_ARGS go to `swift test` (e.g. --filter EddyNetTests). Not part of `test`: slow.
SANITIZER_ARGS ?=

asan: deps $(PEERS)
	Tests/Sanitizers/run.sh asan $(SANITIZER_ARGS)

tsan: deps $(PEERS)
	Tests/Sanitizers/run.sh tsan $(SANITIZER_ARGS)

sanitize: deps $(PEERS)
	Tests/Sanitizers/run.sh asan $(SANITIZER_ARGS)
	Tests/Sanitizers/run.sh tsan $(SANITIZER_ARGS)
