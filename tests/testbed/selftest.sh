#!/usr/bin/env bash
# Self-test of the testbed: up, every property the end-to-end tests rely on, up again (reuse),
# down, and nothing left behind. Ends with "selftest: N passed, M failed"; exit 1 on a failure.
#
#   tests/testbed/selftest.sh [N]     (default 6 hosts; NXTB_STATE is honoured)
#
# It tears the testbed down at the end (and at the start, if one is up).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TB="$HERE/testbed.sh"
N=${1:-6}
STATE=${NXTB_STATE:-/tmp/nxtb}
WORK=$(mktemp -d /tmp/testbed-selftest.XXXXXX)
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $*"; }
ko() { fail=$((fail + 1)); echo "FAIL $*"; }
t() { if "$@" >"$WORK/out" 2>&1; then ok "$DESC"; else ko "$DESC"; sed 's/^/     /' "$WORK/out" | tail -n 5; fi; }
ts() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$(ts)" 'BEGIN { printf "%.2f", b - a }'; }
finish() {
    "$TB" down >/dev/null 2>&1
    rm -rf "$WORK"
    echo "selftest: $pass passed, $fail failed"
    [ "$fail" = 0 ]
}
trap 'finish; exit $?' EXIT

"$TB" down >/dev/null 2>&1

s=$(ts)
if "$TB" up "$N" >"$WORK/up.log" 2>&1; then
    ok "up $N ($(dt "$s") s)"
else
    rc=$?
    ko "up $N (exit $rc)"
    cat "$WORK/up.log"
    exit 1
fi
# shellcheck disable=SC1091
. "$STATE/env"
C=$NXTB_SSH_CONFIG
sock_of() { local v="NXTB_${1^^}_DOCKER_SOCKET"; echo "${!v}"; }
base_of() { local v="NXTB_${1^^}_BASE_DIR"; echo "${!v}"; }
ip_of() { local v="NXTB_${1^^}_IP"; echo "${!v}"; }
ip6_of() { local v="NXTB_${1^^}_IP6"; echo "${!v}"; }

DESC="status: every host answers on ssh and docker" t "$TB" status
for f in env ssh_config known_hosts inventory.yml; do
    DESC="writes $STATE/$f" t test -s "$STATE/$f"
done
DESC="ssh_config checks host keys (StrictHostKeyChecking yes)" t grep -q 'StrictHostKeyChecking yes' "$C"
DESC="inventory: group testbed with $N hosts" t test "$(grep -c '^    h[0-9]*:$' "$NXTB_INVENTORY")" = "$N"

for h in $NXTB_HOSTS; do
    DESC="$h: ssh, own hostname" t test "$(ssh -F "$C" "$h" hostname)" = "$h"
    DESC="$h: base dir writable by $NXTB_USER, ~ is the base dir" t ssh -F "$C" "$h" \
        "cd ~ && test \"\$(pwd -P)\" = '$(base_of "$h")' && echo $h >$(base_of "$h")/who"
    DESC="$h: own /srv" t test "$(ssh -F "$C" "$h" 'readlink /srv/home')" = "$(base_of "$h")"
    DESC="$h: no default route" t test -z "$(ip -n "nxtb-$h" route show default; ip -n "nxtb-$h" -6 route show default)"
    D=(docker -H "unix://$(sock_of "$h")")
    DESC="$h: engine named $h with image $NXTB_IMAGE" t test "$("${D[@]}" info -f '{{.Name}}')" = "$h" -a \
        -n "$("${D[@]}" image ls -q "$NXTB_IMAGE")"
    DESC="$h: docker run -d $NXTB_IMAGE sleep 1000, then rm" t sh -c \
        "$(printf '%q ' "${D[@]}") run -d --name tt $NXTB_IMAGE sleep 1000 &&
         test \"\$($(printf '%q ' "${D[@]}") inspect -f '{{.State.Running}}' tt)\" = true &&
         $(printf '%q ' "${D[@]}") rm -f tt"
    DESC="$h: a bind-mounted base-dir file is seen by a container" t test \
        "$("${D[@]}" run --rm -v "$(base_of "$h"):/b:ro" "$NXTB_IMAGE" cat /b/who)" = "$h"
done

# host to host, IPv4 and IPv6 (sshd banners)
# shellcheck disable=SC2086 # split on purpose
set -- $NXTB_HOSTS
a=$1
b=${2:-$1}
DESC="$a -> $b over IPv4" t ip netns exec "nxtb-$a" timeout 3 bash -c \
    "exec 3<>/dev/tcp/$(ip_of "$b")/22 && head -c 7 <&3 | grep -q SSH-2.0"
DESC="$a -> $b over IPv6" t ip netns exec "nxtb-$a" timeout 3 bash -c \
    "exec 3<>/dev/tcp/$(ip6_of "$b")/22 && head -c 7 <&3 | grep -q SSH-2.0"
DESC="ssh over IPv6 ($b)" t test "$(ssh -F "$C" "$(ip6_of "$b")" hostname)" = "$b"

# the engine's socket over SSH
X="$WORK/x.sock"
ssh -F "$C" -nNT -o ExitOnForwardFailure=yes -o StreamLocalBindUnlink=yes -L "$X:$(sock_of "$b")" "$b" &
fwd=$!
for _ in $(seq 100); do [ -S "$X" ] && break; sleep 0.05; done
DESC="docker over ssh -L unix-socket forward ($b)" t test "$(docker -H "unix://$X" info -f '{{.Name}}')" = "$b"
kill "$fwd" 2>/dev/null
wait "$fwd" 2>/dev/null
ssh -F "$C" -o ControlMaster=yes -o ControlPersist=60 -fN "$a"
DESC="docker over a ControlMaster's -O forward ($a)" t sh -c \
    "ssh -F '$C' -O forward -L '$WORK/y.sock:$(sock_of "$a")' $a &&
     test \"\$(docker -H 'unix://$WORK/y.sock' info -f '{{.Name}}')\" = $a"
s=$(ts)
for _ in $(seq 20); do ssh -F "$C" "$a" true; done
ok "20 commands through the ControlMaster: $(dt "$s") s"
s=$(ts)
for _ in $(seq 5); do ssh -F "$C" -o ControlPath=none "$a" true; done
ok "5 fresh connections: $(dt "$s") s"

# a changed host key is refused
last=${!#}
DESC="rekey $last" t "$TB" rekey "$last"
DESC="$last: changed host key refused" t sh -c "! ssh -F '$C' $last true"
DESC="$last: also with StrictHostKeyChecking=accept-new" t sh -c \
    "! ssh -F '$C' -o StrictHostKeyChecking=accept-new $last true"

# up again: a healthy testbed is reused; one with a changed host is rebuilt
s=$(ts)
DESC="up $N again rebuilds (a host key changed)" t "$TB" up "$N"
DESC="status after the rebuild" t "$TB" status
s=$(ts)
DESC="up $N again reuses" t sh -c "'$TB' up $N 2>&1 | grep -q 'reusing'"
ok "reuse took $(dt "$s") s"

# leave a running container (restart=always) and an open ControlMaster for down
docker -H "unix://$(sock_of "$a")" run -d --restart always --name left "$NXTB_IMAGE" sleep 1000 >/dev/null
ssh -F "$C" -o ControlMaster=yes -o ControlPersist=600 -fN "$a"

s=$(ts)
DESC="down" t "$TB" down
ok "down took $(dt "$s") s"
DESC="down: no namespaces" t sh -c "! ip netns list | grep nxtb"
DESC="down: no bridge, no veths" t sh -c "! ip -o link | grep nxtb"
DESC="down: no processes (pgrep -f nxtb)" t sh -c "! pgrep -af nxtb | grep -v -e ' sh -c '"
DESC="down: no user, no group" t sh -c "! getent passwd nxtb && ! getent group nxtb"
DESC="down: no cgroup folders" t sh -c "! find /sys/fs/cgroup -name 'nxtb-h*' | grep ."
DESC="down: no mounts under $STATE" t sh -c "! grep '$STATE/' /proc/self/mountinfo"
DESC="down: no state dir" t test ! -e "$STATE"
DESC="down again (idempotent)" t "$TB" down
