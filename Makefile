# nxinfra — the tool and the fleet it ships with.
#
#   make render   render the shipped fleet into rendered/ (demo identity by default)
#   make test     install/check test prerequisites, then fmt, clippy and every test
#   make bench    render benchmarks (shipped fleet, 500 generated hosts) against a naive baseline

CARGO    ?= cargo
# The shipped secrets are encrypted to a demo identity. Once you run `nxinfra secrets init`
# and `rekey`, render with your own: `make render IDENTITY=~/.config/nxinfra/identity.txt`.
IDENTITY ?= demo/identity.DEMO-ONLY.txt
NXINFRA  := target/release/nxinfra

.PHONY: build render check test prereqs lint bench clean

build:
	$(CARGO) build --release --locked

render: build
	$(NXINFRA) --identity $(IDENTITY) render

# CI: exit 2 when rendered/ is stale.
check: build
	$(NXINFRA) --identity $(IDENTITY) render --check

prereqs:
	./tests/prereqs.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

test: prereqs lint
	$(CARGO) test --locked

bench:
	$(CARGO) bench --locked --bench render

clean:
	$(CARGO) clean
	rm -rf rendered .nxinfra-render-*
