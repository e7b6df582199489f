#!/usr/bin/env bash
# nxinfra end-to-end testbed: N simulated hosts on this machine, each with a real sshd and a real
# Docker engine in its own network namespace. See tests/testbed/README.md.
#
#   testbed.sh up [N]   bring up h1..hN (default 6, at most 999); reuses a healthy testbed of the
#                       same size and engine
#   testbed.sh down     tear everything down (also after a failed or partial up; idempotent)
#   testbed.sh status   which hosts answer on ssh and docker (exit 0 only when all do; ssh only
#                       with NXTB_ENGINE=none)
#   testbed.sh check    prerequisites (packages, root, network namespaces)
#   testbed.sh rekey hK give hK a new host key and restart its sshd (known_hosts unchanged, so
#                       ssh to hK must now fail: the host-key-change test)
#   testbed.sh stop-sshd hK
#                       kill hK's sshd, its listener and every session (SIGKILL, by PID: the
#                       fault tests); the session's commands keep running, as on a real host
#   testbed.sh start-sshd hK
#                       start hK's sshd again as up does and wait until it answers
#   testbed.sh stop-engine hK
#                       stop hK's container engine (SIGTERM, by PID) and remove its socket: a
#                       host whose engine is down (dockerd's containers stop with it)
#   testbed.sh start-engine hK
#                       start hK's engine again as up does and wait until it answers
#
# Environment: NXTB_STATE (state dir, default /tmp/nxtb), CI=true (a missing prerequisite is a
# failure, exit 1; elsewhere exit 77 = "skip"), NXTB_KEEP_ON_FAILURE=1 (a failed up leaves
# everything in place for debugging; run `down` afterwards), NXTB_ENGINE=podman (up: each host
# runs Podman's Docker-compatible API service on the same socket instead of dockerd; the
# compatibility run of docs/podman.md), NXTB_ENGINE=none (up: sshd only, no engine, no image:
# the scale benchmark's many hosts, benches/scale.rs; stop-engine/start-engine refuse it).
#
# Names are fixed, so there is one testbed per machine: namespaces nxtb-hK, bridge nxtb0, root-side
# veths nxtb-hK, user and group nxtb, cgroup parents nxtb-hK, addresses 10.200.0.0/24 (hK at
# 10.200.0.1K; beyond 99 hosts the prefix is /16 and hK from h100 on is at 10.200.K/100.1KK,
# e.g. h100 10.200.1.100, h250 10.200.2.150) and fd42:200::/64 (hK at fd42:200::1K). Nothing is
# ever sent beyond addresses the testbed made itself: the namespaces have no default route.
set -euo pipefail

SCRIPT=$(readlink -f "$0")
STATE=${NXTB_STATE:-/tmp/nxtb}
BRIDGE=nxtb0
TB_USER=nxtb
TB_GECOS="nxinfra testbed"
IMAGE=nxtb-busybox:1
NET4=10.200.0
NET6=fd42:200:
MARKER=.nxtb-state
ENGINE=${NXTB_ENGINE:-docker}
case $ENGINE in docker | podman | none) ;; *) echo "testbed: NXTB_ENGINE must be docker, podman or none" >&2; exit 2 ;; esac
case $ENGINE in
    docker) APT_PKGS="openssh-server docker.io busybox-static iproute2 sudo" ;;
    podman) APT_PKGS="openssh-server docker.io busybox-static iproute2 sudo podman containernetworking-plugins" ;;
    none) APT_PKGS="openssh-server iproute2 sudo" ;;
esac
# Hosts ssh'ed to at once by the login checks of up and status.
PROBE_PARALLEL=32
# nxinfra places system files with `sudo -n`: the test user may run anything as root, on the
# testbed only (this drop-in is made by up and removed by down).
SUDOERS=/etc/sudoers.d/nxtb-testbed
APT_LINE="apt-get install -y --no-install-recommends $APT_PKGS"
export LC_ALL=C

say() { printf 'testbed: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
now() { date +%s.%N; }
words() { echo "$1" | tr '\n' ' ' | sed 's/ *$//'; }
indent() { sed 's/^/  /'; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

check_state_path() {
    case $STATE in
        /*) ;;
        *) die "NXTB_STATE must be an absolute path (got '$STATE')" ;;
    esac
    case $STATE in
        *[[:space:]]* | *\'* | *\"* | *\\*) die "NXTB_STATE must not contain spaces or quotes" ;;
    esac
    STATE=${STATE%/}
    [ -n "$STATE" ] || die "NXTB_STATE must not be /"
    # Never rm -rf a folder the testbed did not make.
    if [ -d "$STATE" ] && [ ! -e "$STATE/$MARKER" ] && [ -n "$(ls -A "$STATE" 2>/dev/null)" ]; then
        die "$STATE exists, is not empty and is not a testbed state dir ($MARKER missing)"
    fi
}

# One testbed per machine: up, down and rekey take this lock (the script file itself). The
# daemons must not inherit fd 9, or they would hold the lock for ever (see close_fds).
take_lock() {
    exec 9<"$SCRIPT"
    flock -w 300 9 || die "another testbed.sh up/down is running"
}

# ---------------------------------------------------------------------------------------------
# prerequisites

# Prints "what:package" for every missing prerequisite.
missing_prereqs() {
    [ -x /usr/sbin/sshd ] || echo "sshd:openssh-server"
    local c
    for c in ssh ssh-keygen; do command -v $c >/dev/null 2>&1 || echo "$c:openssh-client"; done
    if [ "$ENGINE" != none ]; then
        for c in dockerd docker containerd runc iptables; do
            command -v $c >/dev/null 2>&1 || echo "$c:docker.io"
        done
        if ! c=$(command -v busybox 2>/dev/null); then
            echo "busybox:busybox-static"
        elif ldd "$c" >/dev/null 2>&1; then
            echo "busybox(static):busybox-static"   # the dynamic busybox cannot go into an image
        fi
    fi
    command -v ip >/dev/null 2>&1 || echo "ip:iproute2"
    for c in unshare nsenter flock setsid; do
        command -v $c >/dev/null 2>&1 || echo "$c:util-linux"
    done
    for c in useradd usermod userdel; do command -v $c >/dev/null 2>&1 || echo "$c:passwd"; done
    for c in pgrep ps; do command -v $c >/dev/null 2>&1 || echo "$c:procps"; done
    command -v sudo >/dev/null 2>&1 || echo "sudo:sudo"
    return 0
}

missing_packages() { missing_prereqs | cut -d: -f2 | sort -u | tr '\n' ' ' | sed 's/ $//'; }

# Exit code for "cannot run here": 1 under CI=true (never a skip), 77 ("skip") elsewhere.
unavailable() {
    if [ "${CI:-}" = true ]; then
        say "CI=true: a missing prerequisite is a failure"
        exit 1
    fi
    exit 77
}

install_prereqs() {
    local pkgs log rc=0 made_policy=
    pkgs=$(missing_packages)
    [ -n "$pkgs" ] || return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        return 0
    fi
    say "installing $pkgs (apt-get, --no-install-recommends)"
    log=$(mktemp)
    # The packages must not start their own sshd/dockerd in the root namespace.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $APT_PKGS \
        >"$log" 2>&1 || {
        DEBIAN_FRONTEND=noninteractive apt-get update >>"$log" 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $APT_PKGS \
                >>"$log" 2>&1
    } || rc=$?
    [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
    if [ "$rc" != 0 ]; then
        say "apt-get failed (exit $rc):"
        tail -n 20 "$log" >&2
    fi
    rm -f "$log"
}

cmd_check() {
    local missing ok=1
    missing=$(missing_prereqs)
    if [ -n "$missing" ]; then
        ok=
        say "missing:"
        echo "$missing" | awk -F: '{ printf "  %s (package %s)\n", $1, $2 }' >&2
        say "install with: $APT_LINE"
    elif [ "$ENGINE" = none ]; then
        say "packages: all present ($(/usr/sbin/sshd -V 2>&1 | head -n1 | cut -d, -f1); no engine)"
    else
        say "packages: all present ($(/usr/sbin/sshd -V 2>&1 | head -n1 | cut -d, -f1);" \
            "dockerd $(dockerd --version 2>/dev/null | sed 's/^Docker version \([^,]*\).*/\1/'))"
    fi
    if [ "$(id -u)" != 0 ]; then
        ok=
        say "not root: the testbed needs root (network namespaces, users, mounts)"
    elif command -v ip >/dev/null 2>&1; then
        if ip netns add nxtb-check 2>/dev/null; then
            ip netns del nxtb-check
            say "network namespaces: ok"
        else
            ok=
            say "cannot create network namespaces (ip netns add failed)"
        fi
    fi
    [ -n "$ok" ] || unavailable
    say "all prerequisites present"
}

ensure_prereqs() {
    [ "$(id -u)" = 0 ] || { say "the testbed needs root"; unavailable; }
    install_prereqs
    local missing
    missing=$(missing_prereqs)
    if [ -n "$missing" ]; then
        say "missing prerequisites: $(echo "$missing" | cut -d: -f1 | tr '\n' ' ')"
        say "install with: $APT_LINE"
        unavailable
    fi
}

# ---------------------------------------------------------------------------------------------
# processes

alive() { [ -n "${1:-}" ] && [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# Our own pid and every ancestor: never killed by the sweeps below.
protected_pids() {
    local p=$$
    while [ -n "$p" ] && [ "$p" != 0 ]; do
        echo "$p"
        p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
    done
    echo "${BASHPID:-$$}"
}

# Processes whose command line mentions the state dir $1 (default $STATE): daemons, ssh clients
# using its ssh_config.
pids_mentioning_state() {
    # Pure bash: a grep given "$STATE/" as its pattern would find itself.
    local dir=${1:-$STATE} prot f p a
    prot=" $(protected_pids | tr '\n' ' ') "
    for f in /proc/[0-9]*/cmdline; do
        p=${f#/proc/}
        p=${p%/cmdline}
        case $prot in *" $p "*) continue ;; esac
        while IFS= read -r -d '' a; do
            case $a in *"$dir/"*)
                echo "$p"
                break
                ;;
            esac
        done 2>/dev/null <"$f" || true
    done
}

# State dirs of a testbed brought up with another NXTB_STATE, found through the command lines of
# the daemons in the testbed's namespaces (names are global: one testbed per machine).
other_state_dirs() {
    local ns p a prev d
    for ns in $(testbed_netns); do
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            prev=
            while IFS= read -r -d '' a; do
                d=
                case $prev in --data-root) d=${a%/h[0-9]*/docker/root} ;; -f) d=${a%/h[0-9]*/sshd_config} ;; esac
                if [ -n "$d" ] && [ "$d" != "$a" ] && [ "$d" != "$STATE" ] && [ -e "$d/$MARKER" ]; then
                    echo "$d"
                fi
                prev=$a
            done 2>/dev/null </proc/"$p"/cmdline || true
        done
    done | sort -u
}

testbed_netns() { ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E '^nxtb-h[0-9]+$' || true; }

testbed_cgroups() { find /sys/fs/cgroup -depth -type d -path '*/nxtb-h[0-9]*' 2>/dev/null || true; }

# Processes in the engines' cgroups (the containers).
cgroup_pids() {
    local d
    for d in $(testbed_cgroups); do cat "$d/cgroup.procs" 2>/dev/null || true; done
}

# kill -SIG every pid given on stdin, except protected ones.
kill_all() {
    local sig=$1 p prot
    prot=" $(protected_pids | tr '\n' ' ') "
    while read -r p; do
        [ -n "$p" ] || continue
        case $prot in *" $p "*) continue ;; esac
        kill "-$sig" "$p" 2>/dev/null || true
    done
}

wait_gone() { # timeout_s pid...
    local deadline p left
    deadline=$(($(date +%s) + $1))
    shift
    while :; do
        left=
        for p in "$@"; do alive "$p" && left=1; done
        [ -n "$left" ] || return 0
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# ---------------------------------------------------------------------------------------------
# down

teardown() {
    local p d ns l pids=() stray st
    local nss states
    nss=$(testbed_netns)
    states=$(printf '%s\n' "$STATE" "$(other_state_dirs)" | sed '/^$/d' | sort -u)
    for st in $states; do [ "$st" = "$STATE" ] || say "also tearing down the testbed in $st"; done

    # 1. Stop the engines gracefully first: they stop their containers (--shutdown-timeout 1) and
    #    unmount their layers.
    for d in "$STATE"/h*/docker; do
        [ -d "$d" ] || continue
        # Podman's containers outlive its API service (each has its own conmon): remove them
        # through the service while it runs.
        if [ -f "$d/storage.conf" ] && [ -S "$d/../run/docker.sock" ]; then
            timeout 30 docker -H "unix://$d/../run/docker.sock" ps -aq 2>/dev/null |
                xargs -r timeout 30 docker -H "unix://$d/../run/docker.sock" rm -f >/dev/null 2>&1 || true
        fi
        p=$(cat "$d/engine.pid" 2>/dev/null || true)
        case $(cat "/proc/$p/comm" 2>/dev/null) in dockerd | podman) alive "$p" && pids+=("$p") ;; esac
    done
    for ns in $nss; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            [ "$(cat "/proc/$p/comm" 2>/dev/null)" = dockerd ] && pids+=("$p")
        done
    done
    if [ ${#pids[@]} -gt 0 ]; then
        printf '%s\n' "${pids[@]}" | sort -u | kill_all TERM
        # A container's own stop timeout (10 s by default; PID 1 ignores SIGTERM) would hold the
        # shutdown up: kill the containers' processes (their cgroups) while the engines stop.
        local deadline=$(($(date +%s) + 20))
        until wait_gone 0 "${pids[@]}"; do
            if [ "$(date +%s)" -ge "$deadline" ]; then
                say "dockerd did not stop within 20 s; killing it"
                break
            fi
            cgroup_pids | kill_all KILL
            sleep 0.2
        done
    fi

    # 2. Kill whatever is left, by PID: everything in the namespaces (sshd and its sessions,
    #    containerd, shims, host-network containers), everything in the containers' cgroups,
    #    everything that names the state dir, everything running as the test user.
    for _ in 1 2 3; do
        pids=()
        for ns in $nss; do
            while read -r p; do pids+=("$p"); done < <(ip netns pids "$ns" 2>/dev/null)
        done
        while read -r p; do pids+=("$p"); done < <(cgroup_pids)
        for st in $states; do
            while read -r p; do pids+=("$p"); done < <(pids_mentioning_state "$st")
        done
        if id -u "$TB_USER" >/dev/null 2>&1; then
            while read -r p; do pids+=("$p"); done < <(pgrep -u "$TB_USER" 2>/dev/null || true)
        fi
        stray=()
        for p in "${pids[@]}"; do alive "$p" && stray+=("$p"); done
        [ ${#stray[@]} -gt 0 ] || break
        printf '%s\n' "${stray[@]}" | sort -u | kill_all KILL
        wait_gone 5 "${stray[@]}" || true
    done

    # 3. Unmount what the engines left under the state dir (overlay layers, container netns).
    for st in $states; do
        [ -d "$st" ] || continue
        for _ in 1 2 3; do
            l=$(awk -v s="$st/" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
            [ -n "$l" ] || break
            for d in $l; do umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null || true; done
        done
    done

    # 4. Network: namespaces (their eth0 takes the veth pair with it), stray veths, the bridge.
    for ns in $nss; do ip netns del "$ns" 2>/dev/null || true; done
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | sed 's/@.*//' |
        grep -E '^nxtb-h[0-9]+$' || true); do
        ip link del "$l" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true

    # Every dockerd makes /run/docker/plugins whatever its exec-root; remove it when empty and
    # no other engine runs on this machine.
    local other=
    for p in $(pgrep -x dockerd 2>/dev/null || true); do alive "$p" && other=1; done
    [ -n "$other" ] || rmdir /run/docker/plugins /run/docker 2>/dev/null || true

    # 5. cgroup folders made by the engines (--cgroup-parent nxtb-hK), deepest first.
    for _ in 1 2 3 4 5; do
        l=$(testbed_cgroups)
        [ -n "$l" ] || break
        for d in $l; do rmdir "$d" 2>/dev/null || true; done
        [ -z "$(testbed_cgroups)" ] || sleep 0.2
    done

    rm -f "$SUDOERS"

    # 6. The user (never userdel -r: its home /srv/home is not a real folder) and its group.
    if getent passwd "$TB_USER" >/dev/null; then
        if [ "$(getent passwd "$TB_USER" | cut -d: -f5)" = "$TB_GECOS" ]; then
            userdel "$TB_USER" 2>/dev/null || say "warning: userdel $TB_USER failed"
        else
            say "warning: user $TB_USER exists but was not made by the testbed; left alone"
        fi
    fi
    if getent group "$TB_USER" >/dev/null && ! getent passwd "$TB_USER" >/dev/null; then
        groupdel "$TB_USER" 2>/dev/null || true
    fi

    # 7. The state dir(s).
    for st in $states; do
        [ -d "$st" ] || continue
        rm -rf --one-file-system "$st" 2>/dev/null || rm -rf --one-file-system "$st" ||
            say "warning: could not remove $st"
    done
}

leftovers() { # prints what is still there; empty when clean
    local x
    x=$(testbed_netns)
    [ -z "$x" ] || echo "namespaces: $(words "$x")"
    ip link show "$BRIDGE" >/dev/null 2>&1 && echo "bridge: $BRIDGE"
    x=$(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | sed 's/@.*//' |
        grep -E '^nxtb-h[0-9]+$' || true)
    [ -z "$x" ] || echo "links: $(words "$x")"
    x=$(testbed_cgroups)
    [ -z "$x" ] || echo "cgroups: $(echo "$x" | wc -l) folders"
    getent passwd "$TB_USER" >/dev/null && echo "user: $TB_USER"
    [ -e "$SUDOERS" ] && echo "sudoers: $SUDOERS"
    [ -e "$STATE" ] && echo "state dir: $STATE"
    x=$(pids_mentioning_state)
    [ -z "$x" ] || echo "processes: $(words "$x")"
    return 0
}

cmd_down() {
    check_state_path
    [ "$(id -u)" = 0 ] || die "down needs root"
    take_lock
    local t0 left
    t0=$(now)
    teardown
    left=$(leftovers)
    if [ -n "$left" ]; then
        say "down: left behind:"
        echo "$left" | indent >&2
        exit 1
    fi
    say "down: clean ($(elapsed "$t0") s)"
}

# ---------------------------------------------------------------------------------------------
# up

# h1..h99 at 10.200.0.1K (10.200.0.11 .. 10.200.0.199); h100..h999 at 10.200.K/100.(100 + K%100)
# (h100 10.200.1.100, h199 10.200.1.199, h200 10.200.2.100), reachable with the /16 that up uses
# beyond 99 hosts.
host_ip4() {
    if [ "$1" -lt 100 ]; then echo "$NET4.1$1"; else echo "10.200.$(($1 / 100)).$((100 + $1 % 100))"; fi
}
host_ip6() { echo "$NET6:1$1"; }
# The IPv4 prefix length of a testbed of N hosts: /24 up to 99 hosts, /16 beyond.
prefix4() { if [ "$1" -lt 100 ]; then echo 24; else echo 16; fi; }

write_sshd_config() { # K
    local k=$1 h="$STATE/h$1"
    cat >"$h/sshd_config" <<EOF
# sshd of testbed host h$k (written by testbed.sh up)
Port 22
ListenAddress 0.0.0.0
ListenAddress ::
HostKey $h/ssh/ssh_host_ed25519_key
PidFile $h/sshd.pid
AuthorizedKeysFile $STATE/client/authorized_keys
AllowUsers $TB_USER
PermitRootLogin no
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
StreamLocalBindUnlink yes
MaxStartups 100:30:200
MaxSessions 100
LogLevel INFO
Subsystem sftp internal-sftp
EOF
}

# In a daemon's subshell: close every fd but 0-2, so that no daemon holds our lock (fd 9) or a
# pipe of whoever ran us (a caller reading our output until EOF would wait for ever).
close_fds() {
    local f n
    for f in /proc/"$BASHPID"/fd/*; do
        n=${f##*/}
        [ "$n" -gt 2 ] 2>/dev/null || continue
        eval "exec $n>&-" 2>/dev/null || true
    done
}

start_sshd() { # K
    local k=$1 h="$STATE/h$1"
    # Own network namespace, own hostname (--uts), own /srv (ip netns exec runs in a private
    # mount namespace, so the bind mount stays there); runs in the foreground (-D), detached
    # from our session, tracked by its PidFile.
    # shellcheck disable=SC2016 # $1.. expand in the inner sh
    (
        close_fds
        exec setsid ip netns exec "nxtb-h$k" unshare --uts sh -c \
            'hostname "$1" && mount --bind "$2" /srv && exec /usr/sbin/sshd -D -f "$3" -E "$4"' \
            sh "h$k" "$h/srv" "$h/sshd_config" "$h/sshd.log"
    ) </dev/null >>"$h/sshd.out" 2>&1 &
    disown $! 2>/dev/null || true
}

start_dockerd() { # K
    local k=$1 h="$STATE/h$1" d="$STATE/h$1/docker"
    # The pull tests' registry (tests/common/registry.rs) serves plain HTTP on the bridge.
    echo "{\"insecure-registries\": [\"$NET4.1:5000\"]}" >"$d/daemon.json"
    # nsenter (not ip netns exec, which hides the cgroup mounts from dockerd).
    # shellcheck disable=SC2016 # $1.. expand in the inner sh
    (
        close_fds
        exec setsid nsenter --net="/run/netns/nxtb-h$k" unshare --uts \
            sh -c 'hostname "$1" && shift && exec "$@"' sh "h$k" \
            dockerd --config-file "$d/daemon.json" --data-root "$d/root" --exec-root "$d/exec" \
            --pidfile "$d/engine.pid" -H "unix://$h/run/docker.sock" -G "$TB_USER" \
            --cgroup-parent "nxtb-h$k" --shutdown-timeout 1
    ) </dev/null >>"$d/dockerd.log" 2>&1 &
    disown $! 2>/dev/null || true
}

start_podman() { # K
    local k=$1 h="$STATE/h$1" d="$STATE/h$1/docker"
    mkdir -p "$d/root" "$d/run" "$d/tmp" "$d/cni"
    # Everything of its own under d (storage, runtime state, CNI network configs); the ulimits
    # podman would otherwise take from its own (unraisable here) limits.
    cat >"$d/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$d/tmp"
[network]
network_backend = "cni"
network_config_dir = "$d/cni"
EOF
    cat >"$d/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$d/root"
runroot = "$d/run"
EOF
    # The pull tests' registry, plain HTTP on the bridge.
    cat >"$d/registries.conf" <<EOF
[[registry]]
location = "$NET4.1:5000"
insecure = true
EOF
    # shellcheck disable=SC2016 # $1.. expand in the inner sh
    (
        close_fds
        export CONTAINERS_CONF="$d/containers.conf" CONTAINERS_STORAGE_CONF="$d/storage.conf" \
            CONTAINERS_REGISTRIES_CONF="$d/registries.conf" TMPDIR="$d/tmp"
        exec setsid nsenter --net="/run/netns/nxtb-h$k" unshare --uts \
            sh -c 'hostname "$1" && shift && exec "$@"' sh "h$k" \
            podman --tmpdir "$d/tmp" system service --time=0 "unix://$h/run/docker.sock"
    ) </dev/null >>"$d/podman.log" 2>&1 &
    echo $! >"$d/engine.pid"
    disown $! 2>/dev/null || true
}

start_engine() { # K
    if [ "$ENGINE" = podman ]; then start_podman "$1"; else start_dockerd "$1"; fi
}

engine_ready() { # K: the engine answers (podman's socket made usable by the test user first)
    local s="$STATE/h$1/run/docker.sock"
    [ -S "$s" ] || return 1
    if [ "$ENGINE" = podman ]; then chgrp "$TB_USER" "$s" && chmod 0660 "$s" || return 1; fi
    docker -H "unix://$s" version >/dev/null 2>&1
}

build_rootfs() {
    local r="$STATE/image/rootfs" a
    mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root"
    cp "$(command -v busybox)" "$r/bin/busybox"
    for a in $("$r/bin/busybox" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
        >"$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
    chmod 1777 "$r/tmp"
    chmod 0700 "$r/root"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$r" \
        -cf "$STATE/image/rootfs.tar" .
    rm -rf "$r"
}

write_client_files() { # N
    local n=$1 k names all=""
    : >"$STATE/known_hosts"
    for k in $(seq 1 "$n"); do
        names="h$k,$(host_ip4 "$k"),$(host_ip6 "$k")"
        echo "$names $(cut -d' ' -f1,2 "$STATE/h$k/ssh/ssh_host_ed25519_key.pub")" >>"$STATE/known_hosts"
        all="$all h$k $(host_ip4 "$k") $(host_ip6 "$k")"
    done
    chmod 0644 "$STATE/known_hosts"

    {
        echo "# ssh client config of the nxinfra testbed (written by testbed.sh up)."
        echo "# Use: ssh -F $STATE/ssh_config h1 CMD   (host keys are always checked)"
        for k in $(seq 1 "$n"); do
            echo
            echo "Host h$k $(host_ip4 "$k") $(host_ip6 "$k")"
            echo "    HostName $(host_ip4 "$k")"
        done
        echo
        echo "Host$all"
        echo "    User $TB_USER"
        echo "    Port 22"
        echo "    IdentityFile $STATE/client/id_ed25519"
        echo "    IdentitiesOnly yes"
        echo "    UserKnownHostsFile $STATE/known_hosts"
        echo "    GlobalKnownHostsFile /dev/null"
        echo "    StrictHostKeyChecking yes"
        echo "    CheckHostIP no"
        echo "    UpdateHostKeys no"
        echo "    BatchMode yes"
        echo "    ConnectTimeout 5"
        echo "    KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org"
        echo "    ControlPath $STATE/cm/%C"
        echo "    LogLevel ERROR"
    } >"$STATE/ssh_config"
    chmod 0644 "$STATE/ssh_config"

    {
        echo "# nxinfra inventory of the testbed (written by testbed.sh up, $n hosts)"
        echo "testbed:"
        echo "  hosts:"
        for k in $(seq 1 "$n"); do
            echo "    h$k:"
            echo "      ansible_host: $(host_ip4 "$k")"
            echo "      nxinfra_base_dir: $STATE/h$k/home"
            echo "      nxinfra_docker_socket: $STATE/h$k/run/docker.sock"
            echo "      testbed_ipv6: \"$(host_ip6 "$k")\""
        done
        echo "  vars:"
        echo "    ansible_user: $TB_USER"
        echo "    ansible_port: 22"
        echo "    ansible_ssh_private_key_file: $STATE/client/id_ed25519"
    } >"$STATE/inventory.yml"
}

write_env() { # N
    local n=$1 k hosts
    hosts=$(for k in $(seq 1 "$n"); do printf 'h%s ' "$k"; done | sed 's/ $//')
    {
        echo "# nxinfra testbed (written by testbed.sh up). Source it: . $STATE/env"
        echo "NXTB_STATE='$STATE'"
        echo "NXTB_N='$n'"
        echo "NXTB_HOSTS='$hosts'"
        echo "NXTB_USER='$TB_USER'"
        echo "NXTB_IMAGE='$IMAGE'"
        echo "NXTB_ENGINE='$ENGINE'"
        echo "NXTB_BRIDGE='$BRIDGE'"
        echo "NXTB_SSH_CONFIG='$STATE/ssh_config'"
        echo "NXTB_KNOWN_HOSTS='$STATE/known_hosts'"
        echo "NXTB_IDENTITY='$STATE/client/id_ed25519'"
        echo "NXTB_INVENTORY='$STATE/inventory.yml'"
        for k in $(seq 1 "$n"); do
            echo "NXTB_H${k}_IP='$(host_ip4 "$k")'"
            echo "NXTB_H${k}_IP6='$(host_ip6 "$k")'"
            echo "NXTB_H${k}_NETNS='nxtb-h$k'"
            echo "NXTB_H${k}_BASE_DIR='$STATE/h$k/home'"
            echo "NXTB_H${k}_SRV='$STATE/h$k/srv'"
            echo "NXTB_H${k}_DOCKER_SOCKET='$STATE/h$k/run/docker.sock'"
            echo "NXTB_H${k}_DOCKER_HOST='unix://$STATE/h$k/run/docker.sock'"
        done
    } >"$STATE/env.tmp"
    mv "$STATE/env.tmp" "$STATE/env"
}

dump_logs() { # the error lines of the daemons' logs (the state dir goes away with teardown)
    local f l
    for f in "$STATE"/h*/sshd.log "$STATE"/h*/sshd.out "$STATE"/h*/docker/dockerd.log "$STATE"/h*/docker/podman.log \
        "$STATE"/h*/docker/import.log; do
        [ -s "$f" ] || continue
        l=$(grep -iE 'error|fatal|fail|denied|refused|cannot|unable' "$f" | tail -n 3 || true)
        [ -n "$l" ] || continue
        say "--- $f:"
        echo "$l" | indent >&2
    done
}

UP_DONE=
on_up_exit() {
    local rc=$?
    [ -z "$UP_DONE" ] || return 0
    trap - EXIT INT TERM
    [ "$rc" != 0 ] || rc=1
    say "up failed (exit $rc)"
    [ -d "$STATE" ] && dump_logs
    if [ "${NXTB_KEEP_ON_FAILURE:-}" = 1 ]; then
        say "NXTB_KEEP_ON_FAILURE=1: left in place; run '$SCRIPT down'"
    else
        say "tearing down"
        teardown || true
    fi
    exit "$rc"
}

# ssh to every host (PROBE_PARALLEL at a time); prints "hK ok" or "hK FAIL". $1 = N, rest =
# extra ssh args. With an engine, the host must also see its engine's socket.
probe_ssh() {
    local n=$1 k cmd want
    shift
    for k in $(seq 1 "$n"); do
        if [ "$ENGINE" = none ]; then
            cmd=hostname want="h$k"
        else
            cmd="hostname; test -r '$STATE/h$k/run/docker.sock' && test -w '$STATE/h$k/run/docker.sock' && echo sock-ok"
            want="h$k
sock-ok"
        fi
        (
            if out=$(ssh -F "$STATE/ssh_config" -o ControlPath=none "$@" "h$k" "$cmd" 2>&1) &&
                [ "$out" = "$want" ]; then
                echo "h$k ok"
            else
                echo "h$k FAIL $(echo "$out" | tr '\n' ' ')"
            fi
        ) &
        [ $((k % PROBE_PARALLEL)) != 0 ] || wait
    done
    wait
}

is_up() { # N: the testbed is up with N hosts and every host answers
    local n=$1 k
    [ -f "$STATE/env" ] || return 1
    [ "$(sed -n "s/^NXTB_N='\(.*\)'$/\1/p" "$STATE/env")" = "$n" ] || return 1
    [ "$(sed -n "s/^NXTB_ENGINE='\(.*\)'$/\1/p" "$STATE/env")" = "$ENGINE" ] || return 1
    ip link show "$BRIDGE" >/dev/null 2>&1 || return 1
    for k in $(seq 1 "$n"); do
        alive "$(cat "$STATE/h$k/sshd.pid" 2>/dev/null)" || return 1
        [ "$ENGINE" != none ] || continue
        alive "$(cat "$STATE/h$k/docker/engine.pid" 2>/dev/null)" || return 1
        docker -H "unix://$STATE/h$k/run/docker.sock" image inspect "$IMAGE" >/dev/null 2>&1 || return 1
    done
    ! probe_ssh "$n" | grep -q FAIL
}

cmd_up() {
    local n=${1:-6} k t0 t p fail pfx note=
    case $n in '' | *[!0-9]*) die "usage: testbed.sh up [N]  (N = 1..999)" ;; esac
    n=$((10#$n))
    if [ "$n" -lt 1 ] || [ "$n" -gt 999 ]; then die "N must be 1..999"; fi
    check_state_path
    t0=$(now)
    ensure_prereqs
    take_lock
    if is_up "$n"; then
        say "already up with $n hosts: reusing it ($(elapsed "$t0") s); env: $STATE/env"
        return 0
    fi
    if [ -e "$STATE" ] || [ -n "$(testbed_netns)" ] || ip link show "$BRIDGE" >/dev/null 2>&1 ||
        getent passwd "$TB_USER" >/dev/null; then
        say "cleaning up an earlier testbed"
        teardown
    fi
    trap on_up_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    mkdir -p "$STATE"
    chmod 0755 "$STATE"
    touch "$STATE/$MARKER"
    mkdir -p "$STATE/client" "$STATE/image" "$STATE/cm"
    chmod 0755 "$STATE/client" "$STATE/image"
    chmod 0700 "$STATE/cm"

    # The login user; its home /srv/home resolves, on each host, to that host's base dir.
    useradd -M -d /srv/home -s /bin/sh -c "$TB_GECOS" -U "$TB_USER"
    usermod -p '*' "$TB_USER"
    printf '# made by nxinfra tests/testbed/testbed.sh up; removed by down\n%s ALL=(ALL:ALL) NOPASSWD: ALL\n' \
        "$TB_USER" > "$SUDOERS.tmp"
    chmod 0440 "$SUDOERS.tmp"
    visudo -cqf "$SUDOERS.tmp" || die "visudo rejected $SUDOERS.tmp"
    mv "$SUDOERS.tmp" "$SUDOERS"

    ssh-keygen -q -t ed25519 -N '' -C "nxtb-client" -f "$STATE/client/id_ed25519"
    cp "$STATE/client/id_ed25519.pub" "$STATE/client/authorized_keys"
    chmod 0644 "$STATE/client/authorized_keys"

    # Network: one bridge, one namespace + veth pair per host, no default route anywhere.
    pfx=$(prefix4 "$n")
    ip link add "$BRIDGE" type bridge
    ip addr add "$NET4.1/$pfx" dev "$BRIDGE"
    ip -6 addr add "$NET6:1/64" dev "$BRIDGE" nodad
    ip link set "$BRIDGE" up
    for k in $(seq 1 "$n"); do
        ip netns add "nxtb-h$k"
        ip link add "nxtb-h$k" type veth peer name eth0 netns "nxtb-h$k"
        ip link set "nxtb-h$k" master "$BRIDGE" up
        ip -n "nxtb-h$k" link set lo up
        ip -n "nxtb-h$k" addr add "$(host_ip4 "$k")/$pfx" dev eth0
        ip -n "nxtb-h$k" -6 addr add "$(host_ip6 "$k")/64" dev eth0 nodad
        ip -n "nxtb-h$k" link set eth0 up
    done

    # Per-host folders, keys and configs, then the daemons (all started before any is awaited).
    mkdir -p /run/sshd
    for k in $(seq 1 "$n"); do
        p="$STATE/h$k"
        mkdir -p "$p/ssh" "$p/srv" "$p/home" "$p/run" "$p/docker"
        chmod 0755 "$p" "$p/ssh" "$p/srv" "$p/home" "$p/run" "$p/docker"
        chown "$TB_USER:$TB_USER" "$p/srv" "$p/home"
        ln -s "$p/home" "$p/srv/home"
        ssh-keygen -q -t ed25519 -N '' -C "h$k" -f "$p/ssh/ssh_host_ed25519_key"
        write_sshd_config "$k"
        /usr/sbin/sshd -t -f "$p/sshd_config" || die "sshd -t rejected $p/sshd_config"
        start_sshd "$k"
        [ "$ENGINE" = none ] || start_engine "$k"
    done
    write_client_files "$n"
    [ "$ENGINE" = none ] || build_rootfs

    # Wait for the daemons.
    t=$(($(date +%s) + 60))
    for k in $(seq 1 "$n"); do
        p="$STATE/h$k"
        until { [ "$ENGINE" = none ] || engine_ready "$k"; } && wait_sshd "$k" 0; do
            [ "$(date +%s)" -lt "$t" ] || die "h$k: sshd or $ENGINE not ready after 60 s"
            sleep 0.2
        done
    done

    # One image tarball, imported into every engine in parallel.
    local pids=()
    for k in $(seq 1 "$n"); do
        [ "$ENGINE" != none ] || break
        docker -H "unix://$STATE/h$k/run/docker.sock" import -m "nxinfra testbed busybox" \
            -c 'ENV PATH=/bin' -c 'CMD ["sh"]' "$STATE/image/rootfs.tar" "$IMAGE" \
            >"$STATE/h$k/docker/import.log" 2>&1 &
        pids+=($!)
    done
    fail=
    for k in $(seq 1 "${#pids[@]}"); do
        wait "${pids[$((k - 1))]}" || { fail=1; say "h$k: docker import failed:"; cat "$STATE/h$k/docker/import.log" >&2; }
    done
    [ -z "$fail" ] || die "image import failed"

    # Log in to every host once, through the config and known_hosts the tests will use.
    fail=$(probe_ssh "$n" | grep FAIL || true)
    [ -z "$fail" ] || die "ssh check failed: $fail"

    write_env "$n"
    UP_DONE=1
    trap - EXIT INT TERM
    [ "$ENGINE" != none ] || note=" (sshd only, no engine)"
    say "up: $n hosts$note in $(elapsed "$t0") s; . $STATE/env ; ssh -F $STATE/ssh_config h1"
}

# ---------------------------------------------------------------------------------------------
# status

cmd_status() {
    check_state_path
    if [ ! -f "$STATE/env" ]; then
        say "not up (no $STATE/env)"
        exit 1
    fi
    local n k tmp bad=0 s d ver
    n=$(sed -n "s/^NXTB_N='\(.*\)'$/\1/p" "$STATE/env")
    ENGINE=$(sed -n "s/^NXTB_ENGINE='\(.*\)'$/\1/p" "$STATE/env")
    tmp=$(mktemp -d)
    probe_ssh "$n" -o ConnectTimeout=3 >"$tmp/ssh" 2>&1 &
    for k in $(seq 1 "$n"); do
        if [ "$ENGINE" = none ]; then
            echo NONE >"$tmp/d$k"
            continue
        fi
        (timeout 10 docker -H "unix://$STATE/h$k/run/docker.sock" version \
            --format '{{.Server.Version}} (API {{.Server.APIVersion}})' >"$tmp/d$k" 2>/dev/null ||
            echo FAIL >"$tmp/d$k") &
    done
    wait
    printf '%-4s %-12s %-15s %-5s %s\n' host ipv4 ipv6 ssh docker
    for k in $(seq 1 "$n"); do
        s=$(awk -v h="h$k" '$1 == h { print $2 }' "$tmp/ssh")
        [ "$s" = ok ] || { s=FAIL; bad=1; }
        ver=$(cat "$tmp/d$k")
        if [ "$ver" = NONE ]; then
            d="- (NXTB_ENGINE=none)"
        elif [ "$ver" = FAIL ] || [ -z "$ver" ]; then
            d=FAIL
            bad=1
        else
            d="ok $ver"
        fi
        printf '%-4s %-12s %-15s %-5s %s\n' "h$k" "$(host_ip4 "$k")" "$(host_ip6 "$k")" "$s" "$d"
    done
    rm -rf "$tmp"
    return $bad
}

# ---------------------------------------------------------------------------------------------
# rekey: give one host a new host key (known_hosts is NOT updated: ssh to it must now fail)

wait_sshd() { # K timeout_s
    local k=$1 t
    t=$(($(date +%s) + $2))
    until [ -s "$STATE/h$k/sshd.pid" ] && alive "$(cat "$STATE/h$k/sshd.pid")" &&
        (exec 3<>"/dev/tcp/$(host_ip4 "$k")/22") 2>/dev/null; do
        [ "$(date +%s)" -lt "$t" ] || return 1
        sleep 0.1
    done
}

cmd_rekey() {
    local h=${1:-} k p
    case $h in h[1-9] | h[1-9][0-9] | h[1-9][0-9][0-9]) k=${h#h} ;; *) die "usage: testbed.sh rekey hK" ;; esac
    check_state_path
    if [ ! -f "$STATE/env" ] || [ ! -d "$STATE/h$k" ]; then die "$h is not up"; fi
    take_lock
    p=$(cat "$STATE/h$k/sshd.pid" 2>/dev/null || true)
    if [ -n "$p" ] && alive "$p" && grep -qF "$STATE/h$k/sshd_config" "/proc/$p/cmdline"; then
        kill -TERM "$p"
        wait_gone 10 "$p" || die "$h: sshd $p did not stop"
    fi
    rm -f "$STATE/h$k/sshd.pid" "$STATE/h$k/ssh/ssh_host_ed25519_key" "$STATE/h$k/ssh/ssh_host_ed25519_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "$h-rekeyed" -f "$STATE/h$k/ssh/ssh_host_ed25519_key"
    start_sshd "$k"
    wait_sshd "$k" 20 || die "$h: sshd did not come back"
    say "$h: new host key $(ssh-keygen -lf "$STATE/h$k/ssh/ssh_host_ed25519_key.pub" | cut -d' ' -f2)" \
        "(not in $STATE/known_hosts)"
}

# stop-sshd / start-sshd: one host's sshd down and up again (a host that crashed or rebooted)

sshd_usage() { die "usage: testbed.sh $1 hK"; }

cmd_stop_sshd() {
    local h=${1:-} k p pids=()
    case $h in h[1-9] | h[1-9][0-9] | h[1-9][0-9][0-9]) k=${h#h} ;; *) sshd_usage stop-sshd ;; esac
    check_state_path
    if [ ! -f "$STATE/env" ] || [ ! -d "$STATE/h$k" ]; then die "$h is not up"; fi
    take_lock
    # The listener (PID file) and every session: each is an sshd in the host's namespace.
    p=$(cat "$STATE/h$k/sshd.pid" 2>/dev/null || true)
    if [ -n "$p" ] && alive "$p" && grep -qF "$STATE/h$k/sshd_config" "/proc/$p/cmdline"; then
        pids+=("$p")
    fi
    for p in $(ip netns pids "nxtb-h$k" 2>/dev/null); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sshd ] && pids+=("$p")
    done
    if [ ${#pids[@]} -gt 0 ]; then
        printf '%s\n' "${pids[@]}" | sort -u | kill_all KILL
        wait_gone 10 "${pids[@]}" || die "$h: sshd did not stop"
    fi
    rm -f "$STATE/h$k/sshd.pid"
    say "$h: sshd stopped ($(printf '%s\n' "${pids[@]}" | sed '/^$/d' | sort -u | wc -l) processes)"
}

cmd_start_sshd() {
    local h=${1:-} k p
    case $h in h[1-9] | h[1-9][0-9] | h[1-9][0-9][0-9]) k=${h#h} ;; *) sshd_usage start-sshd ;; esac
    check_state_path
    if [ ! -f "$STATE/env" ] || [ ! -d "$STATE/h$k" ]; then die "$h is not up"; fi
    take_lock
    p=$(cat "$STATE/h$k/sshd.pid" 2>/dev/null || true)
    if [ -n "$p" ] && alive "$p" && grep -qF "$STATE/h$k/sshd_config" "/proc/$p/cmdline"; then
        wait_sshd "$k" 20 || die "$h: sshd $p runs but does not answer"
        say "$h: sshd already running"
        return 0
    fi
    rm -f "$STATE/h$k/sshd.pid"
    start_sshd "$k"
    wait_sshd "$k" 20 || die "$h: sshd did not start"
    say "$h: sshd started"
}

# stop-engine / start-engine: one host's engine down and up again

cmd_stop_engine() {
    local h=${1:-} k p
    case $h in h[1-9] | h[1-9][0-9] | h[1-9][0-9][0-9]) k=${h#h} ;; *) die "usage: testbed.sh stop-engine hK" ;; esac
    check_state_path
    if [ ! -f "$STATE/env" ] || [ ! -d "$STATE/h$k" ]; then die "$h is not up"; fi
    [ "$(sed -n "s/^NXTB_ENGINE='\(.*\)'$/\1/p" "$STATE/env")" != none ] ||
        die "this testbed has no engine (NXTB_ENGINE=none)"
    take_lock
    p=$(cat "$STATE/h$k/docker/engine.pid" 2>/dev/null || true)
    case $(cat "/proc/$p/comm" 2>/dev/null) in
        dockerd | podman)
            kill -TERM "$p"
            wait_gone 30 "$p" || die "$h: engine $p did not stop"
            ;;
    esac
    rm -f "$STATE/h$k/docker/engine.pid" "$STATE/h$k/run/docker.sock"
    say "$h: engine stopped"
}

cmd_start_engine() {
    local h=${1:-} k p t
    case $h in h[1-9] | h[1-9][0-9] | h[1-9][0-9][0-9]) k=${h#h} ;; *) die "usage: testbed.sh start-engine hK" ;; esac
    check_state_path
    if [ ! -f "$STATE/env" ] || [ ! -d "$STATE/h$k" ]; then die "$h is not up"; fi
    ENGINE=$(sed -n "s/^NXTB_ENGINE='\(.*\)'$/\1/p" "$STATE/env")
    [ "$ENGINE" != none ] || die "this testbed has no engine (NXTB_ENGINE=none)"
    take_lock
    p=$(cat "$STATE/h$k/docker/engine.pid" 2>/dev/null || true)
    if ! { [ -n "$p" ] && alive "$p"; }; then
        start_engine "$k"
    fi
    t=$(($(date +%s) + 60))
    until engine_ready "$k"; do
        [ "$(date +%s)" -lt "$t" ] || die "$h: $ENGINE not ready after 60 s"
        sleep 0.2
    done
    say "$h: $ENGINE running"
}

usage() {
    sed -n '2,/^set -euo/p' "$SCRIPT" | grep '^#' | sed 's/^# \{0,1\}//'
}

case ${1:-} in
    up) shift; cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    check) cmd_check ;;
    rekey) shift; cmd_rekey "$@" ;;
    stop-sshd) shift; cmd_stop_sshd "$@" ;;
    start-sshd) shift; cmd_start_sshd "$@" ;;
    stop-engine) shift; cmd_stop_engine "$@" ;;
    start-engine) shift; cmd_start_engine "$@" ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
esac
