#!/bin/sh
# Installs (as root, from Debian, --no-install-recommends) or checks the external tools the tests
# use: age (interop), git (nxinfra diff's fixtures), the validators run on the rendered fleet,
# the shell linter shellcheck (also `make lint`, on the scripts the hosts run), and cargo-fuzz
# for the fuzz smoke run of `make test`. Under CI=true a tool that is still missing afterwards
# fails the run; elsewhere the tests that need it say they are skipped.
set -eu

# command → Debian package
TOOLS="age:age capnp:capnproto xmllint:libxml2-utils openssl:openssl bird:bird2 caddy:caddy promtool:prometheus amtool:prometheus-alertmanager \
wg:wireguard-tools wg-quick:wireguard-tools wireguard-go:wireguard-go ip:iproute2 yamllint:yamllint shellcheck:shellcheck \
docker-compose:docker-compose git:git groff:groff-base"

missing_packages() {
    for pair in $TOOLS; do
        cmd=${pair%%:*}; pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || echo "$pkg"
    done | sort -u
}

missing=$(missing_packages)
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "prereqs: installing $(echo $missing | tr '\n' ' ')"
        # Service packages (prometheus, caddy) must not try to start daemons here.
        export DEBIAN_FRONTEND=noninteractive
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
            trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        fi
        apt-get install -y --no-install-recommends $missing >/tmp/nxinfra-prereqs.log 2>&1 || {
            apt-get update >/tmp/nxinfra-prereqs.log 2>&1 &&
            apt-get install -y --no-install-recommends $missing >>/tmp/nxinfra-prereqs.log 2>&1
        } || echo "prereqs: apt-get failed, see /tmp/nxinfra-prereqs.log"
    fi
    missing=$(missing_packages)
fi
if [ -n "$missing" ]; then
    echo "prereqs: missing packages: $(echo $missing | tr '\n' ' ')"
    if [ "${CI:-}" = true ]; then
        echo "prereqs: CI=true, so this fails the run (tests never skip in CI)"
        exit 1
    fi
    echo "prereqs: the tests that need them will be skipped (install as root: make prereqs)"
else
    echo "prereqs: all test tools present"
fi

# The S3-compatible server of the backup tests: moto's (a stand-in for the real service),
# pinned by tests/s3-requirements.txt, in target/s3-venv.
s3=$(dirname "$0")/s3-server.sh
if ! { "$s3" install && "$s3" check; }; then
    if [ "${CI:-}" = true ]; then
        echo "prereqs: CI=true, so this fails the run (tests never skip in CI)"
        exit 1
    fi
    echo "prereqs: the S3 backup tests will be skipped"
fi

# Python's Jinja2, the reference of the template engine's differential tests
# (tests/jinja2_parity.rs), pinned by tests/jinja2-requirements.txt, in target/jinja2-venv.
if ! "$(dirname "$0")/jinja2-venv.sh" install; then
    if [ "${CI:-}" = true ]; then
        echo "prereqs: CI=true, so this fails the run (tests never skip in CI)"
        exit 1
    fi
    echo "prereqs: the Jinja2 parity tests will be skipped"
fi

# cargo-fuzz on the nightly toolchain, for the fuzz smoke run of `make test` (fuzz/run.sh; the
# nightly toolchain itself comes with the machine: rustup, never installed here).
CARGO_FUZZ_VERSION=0.13.2
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "prereqs: no nightly toolchain (rustup toolchain install nightly): the fuzz smoke run needs it"
    if [ "${CI:-}" = true ]; then
        echo "prereqs: CI=true, so this fails the run (tests never skip in CI)"
        exit 1
    fi
elif ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
    echo "prereqs: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    if ! cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked >/tmp/nxinfra-cargo-fuzz.log 2>&1; then
        echo "prereqs: cargo install cargo-fuzz failed, see /tmp/nxinfra-cargo-fuzz.log"
        if [ "${CI:-}" = true ]; then
            echo "prereqs: CI=true, so this fails the run (tests never skip in CI)"
            exit 1
        fi
        echo "prereqs: the fuzz smoke run will be skipped"
    fi
fi
