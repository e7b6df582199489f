# The state of the files nxinfra placed, for drift (remote::placed, included by
# lock_and_read.sh and read_manifest.sh, and so run by apply.sh; they set D, the state folder,
# an absolute path).
# placed_now prints one `stat` line per file of the manifest as it is now, a missing one none:
# the base dir's (relative to it: it changes into it; owner by number, not compared), then the
# system files (absolute; owner by name), seen through sudo when the login user cannot see
# one of them. It runs the folder's stat.sh, which the upload that wrote the manifest wrote
# beside it (remote::stat_script: `stat_placed PATH...` and `stat_system DEST...` lines), so
# that a run costs one `stat`, the shell reading nothing. record_placed writes that to the
# record later runs compare with (`stat`, 0600).
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
stat_placed() { stat --printf=@STAT_FORMAT_BASE@ -- "$@" 2>/dev/null || true; }
stat_system() {
    if ! seen=$(stat --printf=@STAT_FORMAT@ -- "$@" 2>/dev/null); then
        # One is missing, or hidden from the login user: root's view, when sudo allows it.
        root=$(as_root stat --printf=@STAT_FORMAT@ -- "$@" 2>/dev/null) || true
        [ -z "$root" ] || seen=$root
    fi
    [ -z "$seen" ] || printf '%s\n' "$seen"
}
placed_now() {
    [ -f "$D/stat.sh" ] || return 0
    cd @BASE_DIR@ || return 0
    # shellcheck source=/dev/null  # written by nxinfra with the manifest
    . "$D/stat.sh"
}
record_placed() {
    (umask 077; placed_now > "$D/stat.new") 9>&-
    mv -f "$D/stat.new" "$D/stat"
}
