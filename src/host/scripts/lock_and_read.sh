# The one command of a sync (remote::lock_and_read). Takes the host's lock, prints the manifest
# (and, as read_manifest.sh does, the record of the placed files' state and their state now,
# the deploy journal's last record and the pins) and END_MARKER, then reads messages from
# stdin until it ends:
#   apply N     N bytes of tar follow: unpacked into the staging folder, whose apply.sh is
#               run (sourced); then APPLIED_MARKER is printed and it reads again;
#   journal N K N bytes follow: one record, added to the deploy journal, of which the last K
#               records are kept;
#   pins N      N bytes follow: they replace the pins (none: the pins go);
#   manifest N  N bytes follow: they replace the manifest, the record of the placed files'
#               state is made again, and the command ends.
# Every file is replaced by a rename: interrupted, each is its old or its new version.
# The lock is held on fd 9 by this shell alone, from start to end; its children run with fd 9
# closed, so that --force-unlock (force_unlock.sh) frees it by ending this shell.
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values.
set -e
D=@BASE_DIR@/@STATE_DIR@
# Private (the manifest has the hash of every file); the base dir's own folders are not.
# shellcheck disable=SC2174
[ -d "$D" ] || mkdir -p -m 700 "$D"
exec 9>>"$D/lock"
if ! flock -w @TIMEOUT_SECS@ 9; then
    h=$(cat "$D/lock.holder" 2>/dev/null || true)
    echo "locked by ${h:-an unknown holder}" >&2
    # shellcheck disable=SC2242  # a number, once filled
    exit @LOCKED_EXIT@
fi
S="$D/staging"
# On every exit, errors and signals too: no staging folder left, and no holder named.
trap '[ ! -e "$S" ] || rm -rf "$S"; : > "$D/lock.holder"' EXIT
trap 'exit 1' HUP INT TERM PIPE
printf '%s (remote pid %s)\n' @HOLDER@ "$$" > "$D/lock.holder"
@PLACED@
if [ -f "$D/manifest" ]; then
    # One `cat`: the manifest, the marker (its stdin), the record (none before a first record).
    cat "$D/manifest" - "$D/stat" 2>/dev/null 9>&- <<END || true
@STAT_MARKER@
END
    echo @NOW_MARKER@
    placed_now 9>&-
fi
echo @JOURNAL_MARKER@
tail -n 1 "$D/history" 2>/dev/null 9>&- || true
echo @PINS_MARKER@
cat "$D/pins" 2>/dev/null 9>&- || true
echo @END_MARKER@
while read -r action size keep; do
    if [ "$action" = apply ]; then
        [ ! -e "$S" ] || rm -rf "$S"
        mkdir -m 700 "$S"
        # head passes exactly the tar's bytes, so that more messages can follow on stdin.
        head -c "$size" | tar -x -p -f - -C "$S" 9>&- >/dev/null
        # shellcheck source=/dev/null  # apply.sh, built per plan
        . "$S"/@TAR_SCRIPT@ >/dev/null
        echo @APPLIED_MARKER@
    elif [ "$action" = journal ]; then
        # The last K-1 records and the new one.
        (umask 077; { tail -n "$((keep - 1))" "$D/history" 2>/dev/null || true; head -c "$size"; } > "$D/history.new") 9>&-
        mv -f "$D/history.new" "$D/history"
    elif [ "$action" = pins ]; then
        if [ "$size" = 0 ]; then
            rm -f "$D/pins"
        else
            (umask 077; head -c "$size" > "$D/pins.new") 9>&-
            mv -f "$D/pins.new" "$D/pins"
        fi
    elif [ "$action" = manifest ]; then
        (umask 077; head -c "$size" > "$D/manifest.new") 9>&-
        mv -f "$D/manifest.new" "$D/manifest"
        record_placed
        exit 0
    else
        exit 1
    fi
done
