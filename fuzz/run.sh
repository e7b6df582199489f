#!/bin/sh
# Builds the fuzz targets once (cargo-fuzz, nightly) and runs each for SECONDS, one at a time
# (FUZZ_JOBS=N: N at a time).
#
#   fuzz/run.sh SECONDS [TARGET...]     (default: every target, template last)
#   fuzz/run.sh build                   (only the build: a later run finds it done)
#
# Each target runs with libFuzzer's -timeout=1 (an input taking more than 1 s is a hang),
# -rss_limit_mb=2048 and -max_len=65536, one job, on fuzz/corpus/TARGET and the inputs of past
# findings in fuzz/regressions/TARGET (replayed first, like the corpus). New inputs are
# added to that corpus (minimise it with `cargo +nightly fuzz cmin TARGET` before committing);
# with FUZZ_SCRATCH=1 they go to fuzz/target/scratch/TARGET instead and the committed corpus is
# only read (the smoke run of `make test`). A crash, timeout or OOM leaves its input in
# fuzz/artifacts/TARGET/ and makes the script exit 1 once every target has run; libFuzzer's
# log of each run is fuzz/artifacts/TARGET/log. With FUZZ_KEEP_GOING=1 (libFuzzer's fork mode)
# a target goes on after a crash, timeout or OOM until SECONDS are up. Exit 2: the build or the
# arguments failed.
#
# One line per target:
#   TARGET  SECONDS s  EXECS execs  cov COV  ft FT  corpus FILES  ok|CRASH|TIMEOUT|OOM|LEAK|FAILED
set -u

usage() {
    echo "usage: $0 SECONDS [TARGET...] | $0 build" >&2
    exit 2
}

[ $# -ge 1 ] || usage
build_only=0
if [ "$1" = build ] && [ $# -eq 1 ]; then
    build_only=1
    set -- 1
fi
seconds=$1
shift
case $seconds in
    '' | *[!0-9]*) usage ;;
esac
[ "$seconds" -ge 1 ] || usage
# FUZZ_JOBS=N: N targets at a time (the smoke run of `make test` takes one per core), each a
# subshell of its own; one at a time by default.
jobs=${FUZZ_JOBS:-1}
case $jobs in
    '' | *[!0-9]* | 0) usage ;;
esac

dir=$(cd "$(dirname "$0")" && pwd) || exit 2
cd "$dir" || exit 2

all="vault age inventory_yaml inventory_ini compose stack manifest remote_lines template"
if [ $# -eq 0 ]; then
    # shellcheck disable=SC2086  # a list of words
    set -- $all
fi
for target in "$@"; do
    case " $all " in
        *" $target "*) ;;
        *)
            echo "$0: unknown target $target (targets: $all)" >&2
            exit 2
            ;;
    esac
done

cargo=${CARGO:-cargo}
echo "building the fuzz targets (cargo +nightly fuzz build)" >&2
if ! "$cargo" +nightly fuzz build >&2; then
    echo "$0: the build failed" >&2
    exit 2
fi
[ "$build_only" = 0 ] || exit 0
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin="$dir/target/$triple/release"

# FUZZ_KEEP_GOING=1: libFuzzer's fork mode, which records a crash, timeout or OOM and goes on
# fuzzing until SECONDS are up (the script still fails at the end).
keep_going=
if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    keep_going="-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1"
fi

# Runs one target and prints its line; fails if it found something or did not run.
fuzz_one() {
    target=$1
    corpus="corpus/$target"
    artifacts="artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    log="$artifacts/log"
    # The inputs found by earlier runs, to tell this run's from theirs.
    known="$artifacts/.known"
    find "$artifacts" -type f ! -name log ! -name .known | sort >"$known"
    scratch=
    if [ "${FUZZ_SCRATCH:-0}" = 1 ]; then
        scratch="target/scratch/$target"
        rm -rf "$scratch"
        mkdir -p "$scratch"
    fi
    start=$(date +%s)
    # The inputs of past findings (regressions/TARGET/), replayed on every run.
    regressions=
    if [ -d "regressions/$target" ]; then
        regressions="regressions/$target"
    fi
    # libFuzzer adds new inputs to the first corpus folder and only reads the others.
    # shellcheck disable=SC2086  # $keep_going: flags, split on purpose
    "$bin/$target" ${scratch:+"$scratch"} "$corpus" ${regressions:+"$regressions"} $keep_going \
        -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1
    rc=$?
    elapsed=$(($(date +%s) - start))

    # `Done N runs in S second(s)`, else (a crash, or fork mode) the last `#N` status line.
    execs=$(sed -n 's/^Done \([0-9][0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    if [ -z "$execs" ]; then
        execs=$(sed -n 's/^#\([0-9][0-9]*\)[:[:space:]].*/\1/p' "$log" | tail -n 1)
    fi
    stats=$(grep '^#[0-9][0-9]*[:[:space:]].* cov: ' "$log" | tail -n 1)
    cov=$(printf '%s\n' "$stats" | sed -n 's/.* cov: \([0-9][0-9]*\).*/\1/p')
    ft=$(printf '%s\n' "$stats" | sed -n 's/.* ft: \([0-9][0-9]*\).*/\1/p')
    files=$(find "$corpus" -type f | wc -l)
    if [ -n "$scratch" ]; then
        files="$files+$(find "$scratch" -type f | wc -l)"
    fi

    found=$(find "$artifacts" -type f ! -name log ! -name .known | sort | comm -13 "$known" -)
    rm -f "$known"
    verdict=
    for kind in crash timeout oom leak; do
        if printf '%s\n' "$found" | grep -q "/$kind-"; then
            verdict="$verdict${verdict:+,}$(echo "$kind" | tr '[:lower:]' '[:upper:]')"
        fi
    done
    if [ -z "$verdict" ] && [ "$rc" -ne 0 ]; then
        verdict="FAILED (exit $rc)"
    fi
    if [ -n "$verdict" ]; then
        {
            echo "--- $target: $verdict; the end of $dir/$log:"
            tail -n 40 "$log"
            echo "--- new inputs:"
            printf '%s\n' "$found"
        } >&2
    fi
    printf '%-15s %5s s  %10s execs  cov %6s  ft %6s  corpus %8s  %s\n' \
        "$target" "$elapsed" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$files" "${verdict:-ok}"
    [ -z "$verdict" ]
}

status=0
pids=
running=0
for target in "$@"; do
    if [ "$jobs" = 1 ]; then
        fuzz_one "$target" || status=1
        continue
    fi
    fuzz_one "$target" &
    pids="$pids $!"
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        for pid in $pids; do
            wait "$pid" || status=1
        done
        pids=
        running=0
    fi
done
for pid in $pids; do
    wait "$pid" || status=1
done
exit "$status"
