# The state of the files nxinfra placed, for drift (remote::placed, included by
# lock_and_read.sh, read_manifest.sh and so apply.sh; they set D, the state folder).
# placed_now prints one `stat` line (STAT_FORMAT) per file of the manifest as it is now, a
# missing one none: the base dir's, relative to it, then the system files (absolute), seen
# through sudo when the login user cannot see one of them. record_placed writes them to the
# record that later runs compare with (`stat`, 0600).
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
placed_now() {
    [ -f "$D/manifest" ] || return 0
    base=$(sed -n '1d; /^system /d; /^container /d; s/^[^ ]* [^ ]* //p' "$D/manifest")
    sys=$(sed -n 's/^system [^ ]* [^ ]* [^ ]* [^ ]* //p' "$D/manifest")
    if [ -n "$base" ]; then
        (cd @BASE_DIR@ && printf '%s\n' "$base" | xargs -d '\n' stat --printf=@STAT_FORMAT@ -- 2>/dev/null) || true
    fi
    if [ -n "$sys" ]; then
        if ! seen=$(printf '%s\n' "$sys" | xargs -d '\n' stat --printf=@STAT_FORMAT@ -- 2>/dev/null); then
            # One is missing, or hidden from the login user: root's view, when sudo allows it.
            root=$(printf '%s\n' "$sys" | as_root xargs -d '\n' stat --printf=@STAT_FORMAT@ -- 2>/dev/null) || true
            [ -z "$root" ] || seen=$root
        fi
        [ -z "$seen" ] || printf '%s\n' "$seen"
    fi
}
record_placed() {
    (umask 077; placed_now > "$D/stat.new") 9>&-
    mv -f "$D/stat.new" "$D/stat"
}
