# imgorigin: `make run` serves the bundled samples; `make test` installs what tests need and runs them.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
WORKERS ?=
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES_TEST := redis-server redis-tools varnish varnish-modules wrk chromium fonts-dejavu-core nginx-light \
  libnginx-mod-http-cache-purge nodejs \
  buildah debootstrap debian-archive-keyring \
  prometheus systemd
# workerd, Cloudflare's open-source Workers runtime (npm), runs edge-config's Worker in the tests;
# imgix's own JavaScript SDK builds the signed imgix URLs the imgix dialect is tested with.
WORKERD_VERSION := 1.20261123.1
IMGIX_JS_CORE_VERSION := 3.8.0
EDGE_TOOLS := .cache/edge-tools
WORKERD_STAMP := $(EDGE_TOOLS)/.workerd-$(WORKERD_VERSION)-imgix-$(IMGIX_JS_CORE_VERSION)

.PHONY: run test lint edge-tools fuzz fuzz-decoders bench bench-peers bench-effort bench-autoquality parity soak chaos system-deps readme clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	IMGORIGIN_SOURCE=$${IMGORIGIN_SOURCE:-$(CURDIR)/samples} \
	  $(BIN)/imgorigin serve --host 127.0.0.1 --port $(PORT) $(if $(WORKERS),--workers $(WORKERS))

# Debian/Ubuntu packages the tests run for real (Redis, Varnish, wrk, Prometheus, systemd-analyze,
# buildah and debootstrap for the container image);
# installed only when missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES_TEST); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# Debian starts varnishd, nginx and Prometheus on install; the tests run their own on free ports.
	@if command -v systemctl >/dev/null 2>&1; then $(SUDO) systemctl disable --now varnish varnishncsa nginx prometheus prometheus-node-exporter >/dev/null 2>&1 || true; fi

edge-tools: $(WORKERD_STAMP)

# Debian's nodejs leaves npm out (NodeSource's carries it): npm comes from apt only when missing.
$(WORKERD_STAMP): | system-deps
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm; }
	npm install --prefix $(EDGE_TOOLS) --no-audit --no-fund --silent workerd@$(WORKERD_VERSION) \
	  @imgix/js-core@$(IMGIX_JS_CORE_VERSION)
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check $(wildcard origin transforms cache tests benchmarks samples)

test: $(STAMP) system-deps edge-tools lint
	$(BIN)/pytest -q

# 200k examples per test run past pytest's 300 s per-test timeout (it failed every long run).
fuzz: $(STAMP)
	$(BIN)/pytest -q --timeout=0 tests/security/test_s22_grammar_fuzz.py --hypothesis-profile=long

# S23: libvips' decoders under atheris (not part of `make test`); findings land in
# tests/security/fuzz-crashes/, which `make test` replays.
FUZZ_RUNS ?= 100000
fuzz-decoders: $(STAMP)
	@$(BIN)/python -c "import atheris" 2>/dev/null || $(BIN)/pip install -q "atheris>=2.3"
	$(BIN)/python -m tests.security.decoder_fuzz -atheris_runs=$(FUZZ_RUNS)

bench: $(STAMP) system-deps
	$(BIN)/python -m benchmarks.run

# Memory soak: the miss mix for SOAK_MINUTES (10) on 2 workers, RSS slope after a warm-up.
soak: $(STAMP) system-deps
	$(BIN)/python -m benchmarks.soak

bench-peers: $(STAMP) system-deps
	$(BIN)/python -m benchmarks.peers

# The thumbor and ipx URL dialects against the real thumbor and ipx (installs them like bench-peers).
parity: $(STAMP)
	$(BIN)/python -m benchmarks.dialect_parity

# Bytes at equal SSIM and CPU time of every AVIF and WebP effort against the default's.
bench-effort: $(STAMP)
	$(BIN)/python -m benchmarks.effort --format avif
	$(BIN)/python -m benchmarks.effort --format webp

# What q_auto chooses for the corpus photos, against the formats' default qualities.
bench-autoquality: $(STAMP)
	$(BIN)/python -m benchmarks.autoquality

chaos: $(STAMP) system-deps
	$(BIN)/python -m tests.chaos.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis benchmarks/results tests/output

# Regenerate the configuration table in README.md from origin/settings.py.
readme: $(STAMP)
	$(BIN)/imgorigin config --readme README.md
