# nxinfra — the tool and the fleet it ships with.
#
#   make render   render the shipped fleet into rendered/ (demo identity by default)
#   make test     install/check test prerequisites, then fmt, clippy, the release build and
#                 every test against it, the end-to-end ones on a testbed of 6 hosts (needs
#                 root: network namespaces), then 20 s of every fuzz target (make fuzz-smoke)
#   make bench    render, sync, apply, backup and cluster benchmarks, each against a plain
#                 baseline measured in the same run, then make bench-scale
#   make bench-scale  sync at 10..200 hosts (an sshd-only testbed) beside tar|ssh; not in CI
#   make fuzz     every fuzz target for FUZZ_SECONDS (600) each (nightly, cargo-fuzz)

CARGO    ?= cargo
# The shipped secrets are encrypted to a demo identity. Once you run `nxinfra secrets init`
# and `rekey`, render with your own: `make render IDENTITY=~/.config/nxinfra/identity.txt`.
IDENTITY ?= demo/identity.DEMO-ONLY.txt
NXINFRA  := target/release/nxinfra

.PHONY: build render check diff test prereqs lint bench bench-scale fuzz fuzz-smoke clean testbed-up testbed-down man completions

BUILD = $(CARGO) build --release --locked
build:
	$(BUILD)

render: build
	$(NXINFRA) --identity $(IDENTITY) render

# CI: exit 2 when rendered/ is stale.
check: build
	$(NXINFRA) --identity $(IDENTITY) render --check

# What the working tree changes against BASE, offline, without a key (exit 2 if anything).
BASE ?= origin/main
diff: build
	$(NXINFRA) diff --base $(BASE)

prereqs:
	./tests/prereqs.sh

# The manual pages (nxinfra.1 and one per command, from the same definition as --help):
# `man -l target/man/nxinfra.1`. Shell completions: `nxinfra completions bash|zsh|fish`.
man: build
	$(NXINFRA) man target/man

# fmt, clippy, the direction rule of docs/architecture.md (tests/layers.rs), and shellcheck on
# the scripts the hosts run (src/host/scripts/, installed by `make prereqs`).
LINT = $(CARGO) fmt --all -- --check && $(CARGO) clippy --locked --all-targets -- -D warnings && \
	$(CARGO) test --locked --test layers && shellcheck -s sh src/host/scripts/*.sh
lint:
	$(LINT)

# The testbed (tests/testbed/testbed.sh): N hosts with real sshd and dockerd in network
# namespaces. `make test` brings it up and always tears it down; under CI=true a testbed that
# cannot come up fails the run, elsewhere the end-to-end tests say they are skipped.
TESTBED := ./tests/testbed/testbed.sh

testbed-up:
	$(TESTBED) up 6

testbed-down:
	$(TESTBED) down

# Is cargo-fuzz there, on the nightly toolchain? (The fuzz build and the smoke run need it.)
FUZZ_READY = $(CARGO) +nightly fuzz --version >/dev/null 2>&1

# The testbed goes down when the tests end, fail, or are interrupted (Ctrl-C, kill).
# The CLI tests run the release binary users run (NXINFRA_BIN, built first), not the debug
# build cargo makes for them; under CI=true a test without NXINFRA_BIN fails.
# The fuzz targets (fuzz/run.sh build: about 15 minutes of CPU, sanitized) build at the lowest
# priority from the start, beside lint, the release build and the tests (which spend most of
# their time waiting on the testbed's hosts); fuzz-smoke then finds them built. The build is
# stopped if anything before it fails or is interrupted. (Lint and build are spelled out, not
# `$(MAKE) lint build`, so that `make -n test` only prints.)
test: prereqs
	@mkdir -p target; fuzz=; if $(FUZZ_READY); then \
	  setsid -w nice -n 19 ./fuzz/run.sh build >target/fuzz-build.log 2>&1 & fuzz=$$!; fi; \
	trap '[ -z "$$fuzz" ] || kill -- -$$fuzz 2>/dev/null; $(TESTBED) down' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	echo "$(LINT) && $(BUILD)"; $(LINT) && $(BUILD) && \
	{ $(TESTBED) up 6 || { [ "$${CI:-}" != true ] && echo "testbed unavailable: end-to-end tests will be skipped"; }; } && \
	NXINFRA_BIN=$(CURDIR)/$(NXINFRA) $(CARGO) test --locked && \
	{ [ -z "$$fuzz" ] || wait $$fuzz || { tail -n 20 target/fuzz-build.log; echo "the fuzz build failed: target/fuzz-build.log"; exit 1; }; }
	@$(MAKE) --no-print-directory fuzz-smoke

# Render (shipped fleet, 500 generated hosts) against a naive render; sync of the shipped
# fleet to the 6 testbed hosts against tar|ssh and sha256sum baselines (cold and warm); apply
# of 30 containers on one testbed host (first, no-op, one file changed) against docker-compose;
# backup of an 80 MiB dump from a container against ssh | gzip | age; a 3-node cluster with a
# 20-service stack (first, no-op, one config changed) against docker stack deploy; then the
# scale benchmark (bench-scale, below).
bench: prereqs
	$(CARGO) bench --locked --bench render
	@trap '$(TESTBED) down' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	$(TESTBED) up 6 && $(CARGO) bench --locked --bench sync && $(CARGO) bench --locked --bench apply && \
	$(CARGO) bench --locked --bench backup && $(CARGO) bench --locked --bench cluster
	@$(MAKE) --no-print-directory bench-scale

# Scale (docs/reliability.md#scale): render, first, no-op and one-file sync at N = 10, 50, 100
# and 200 hosts beside a parallel tar|ssh floor, then --forks 4..64 at N = 200; on 200
# sshd-only testbed hosts (no engine: ~2 MB each), always torn down. About 7 minutes.
bench-scale: prereqs
	@trap '$(TESTBED) down' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	NXTB_ENGINE=none $(TESTBED) up 200 && $(CARGO) bench --locked --bench scale

# Every fuzz target (fuzz/, cargo-fuzz on the nightly toolchain) for FUZZ_SECONDS each, one at
# a time, on its committed corpus (fuzz/README.md); exit 1 on a crash, a hang (> 1 s per
# input) or an input over 2 GiB of memory, its input left in fuzz/artifacts/TARGET/.
FUZZ_SECONDS ?= 600
fuzz:
	./fuzz/run.sh $(FUZZ_SECONDS)

# The smoke run of `make test`: every target for FUZZ_SMOKE_SECONDS (20) each, replaying its
# committed corpus and regressions; new inputs go to fuzz/target/scratch/, the corpus is left
# as it is. Two targets at a time (one per core of CI's machine). Skipped (said so) without
# cargo-fuzz on nightly, except under CI=true (prereqs fails first).
FUZZ_SMOKE_SECONDS ?= 20
fuzz-smoke:
	@if $(FUZZ_READY); then \
	  FUZZ_SCRATCH=1 FUZZ_JOBS=2 ./fuzz/run.sh $(FUZZ_SMOKE_SECONDS); \
	elif [ "$${CI:-}" = true ]; then \
	  echo "fuzz smoke run: no cargo-fuzz on the nightly toolchain (make prereqs)"; exit 1; \
	else \
	  echo "fuzz smoke run skipped: no cargo-fuzz on the nightly toolchain (make prereqs)"; \
	fi

clean:
	$(CARGO) clean
	rm -rf rendered .nxinfra-render-*
