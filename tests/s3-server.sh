#!/bin/sh
# The S3-compatible server of the backup tests: moto's server (`moto[server]`, pinned with all
# its dependencies in tests/s3-requirements.txt) in a venv under target/ (ignored by git).
#
#   tests/s3-server.sh install   creates the venv and installs the pinned versions, skipped when
#                                they already are; prints one line, exits non-zero on failure
#   tests/s3-server.sh check     exits 0 if the venv's server starts and answers (and boto3,
#                                which the tests' helpers use, imports); prints one line
#
# tests/common/s3.rs starts a server of its own from this venv for each test that needs one.
# PYTHON (default python3) creates the venv; NXINFRA_S3_VENV overrides where it goes.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${NXINFRA_S3_VENV:-$root/target/s3-venv}
requirements=$root/tests/s3-requirements.txt
# A copy of the requirements the venv was completed with: a changed pin reinstalls.
stamp=$venv/.nxinfra-requirements.txt
log=${TMPDIR:-/tmp}/nxinfra-s3-venv.log
python=${PYTHON:-python3}

version=$(sed -n 's/^moto\[server\]==//p' "$requirements")

install() {
    if [ -x "$venv/bin/moto_server" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
        echo "s3-server: moto $version already installed in $venv"
        return 0
    fi
    rm -f "$stamp"
    : >"$log"
    if [ ! -x "$venv/bin/python" ]; then
        if ! "$python" -m venv --clear "$venv" >>"$log" 2>&1; then
            echo "s3-server: $python -m venv $venv failed (Debian: apt-get install python3-venv), see $log"
            return 1
        fi
    fi
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$requirements" >>"$log" 2>&1; then
        echo "s3-server: pip install of moto $version into $venv failed, see $log"
        return 1
    fi
    cp "$requirements" "$stamp"
    echo "s3-server: installed moto $version in $venv"
}

check() {
    if [ ! -x "$venv/bin/moto_server" ] || [ ! -f "$stamp" ]; then
        echo "s3-server: not installed in $venv: run tests/s3-server.sh install"
        return 1
    fi
    if "$venv/bin/python" - "$venv/bin/moto_server" <<'EOF'
import socket, subprocess, sys, time, urllib.request

import boto3  # noqa: F401 (the tests' helpers use it)

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
server = subprocess.Popen(
    [sys.argv[1], "-H", "127.0.0.1", "-p", str(port)],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    deadline = time.monotonic() + 20
    while True:
        try:
            opener.open(f"http://127.0.0.1:{port}/moto-api/", timeout=2).read()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(1)
            time.sleep(0.2)
finally:
    server.kill()
    server.wait()
EOF
    then
        echo "s3-server: moto $version runs from $venv"
    else
        echo "s3-server: moto $version in $venv does not start: reinstall with rm -rf $venv && tests/s3-server.sh install"
        return 1
    fi
}

case ${1:-} in
    install) install ;;
    check) check ;;
    *)
        echo "usage: $0 install|check" >&2
        exit 2
        ;;
esac
