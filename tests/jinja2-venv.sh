#!/bin/sh
# Python's Jinja2 (pinned in tests/jinja2-requirements.txt) in a venv under target/ (ignored by
# git), the reference of the template engine's differential tests (tests/jinja2_parity.rs).
#
#   tests/jinja2-venv.sh install   creates the venv and installs the pinned versions, skipped
#                                  when they already are; prints one line
#   tests/jinja2-venv.sh check     exits 0 if the venv's Jinja2 renders; prints one line
#
# PYTHON (default python3) creates the venv; NXINFRA_JINJA2_VENV overrides where it goes.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${NXINFRA_JINJA2_VENV:-$root/target/jinja2-venv}
requirements=$root/tests/jinja2-requirements.txt
stamp=$venv/.nxinfra-requirements.txt
log=${TMPDIR:-/tmp}/nxinfra-jinja2-venv.log
python=${PYTHON:-python3}
version="$(sed -n "s/^Jinja2==//p" "$requirements") (ansible-core $(sed -n "s/^ansible-core==//p" "$requirements"))"

install() {
    if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
        echo "jinja2-venv: Jinja2 $version already installed in $venv"
        return 0
    fi
    rm -f "$stamp"
    : >"$log"
    if [ ! -x "$venv/bin/python" ]; then
        if ! "$python" -m venv --clear "$venv" >>"$log" 2>&1; then
            echo "jinja2-venv: $python -m venv $venv failed (Debian: apt-get install python3-venv), see $log"
            return 1
        fi
    fi
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$requirements" >>"$log" 2>&1; then
        echo "jinja2-venv: pip install of Jinja2 $version into $venv failed, see $log"
        return 1
    fi
    cp "$requirements" "$stamp"
    echo "jinja2-venv: installed Jinja2 $version in $venv"
}

check() {
    if [ ! -x "$venv/bin/python" ] || [ ! -f "$stamp" ]; then
        echo "jinja2-venv: not installed in $venv: run tests/jinja2-venv.sh install"
        return 1
    fi
    if [ "$("$venv/bin/python" -c 'import jinja2, yaml; import ansible.plugins.filter.core; print(jinja2.Template("{{ 1 + 1 }}").render())')" = 2 ]; then
        echo "jinja2-venv: Jinja2 $version renders from $venv"
    else
        echo "jinja2-venv: Jinja2 in $venv does not render: rm -rf $venv && tests/jinja2-venv.sh install"
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
