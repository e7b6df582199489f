# The state of the files nxinfra placed, for drift (remote::placed, included by
# lock_and_read.sh and read_manifest.sh, and so run by apply.sh; they set D, the state folder,
# an absolute path).
# placed_now prints one `stat` line (STAT_FORMAT) per file of the manifest as it is now, a
# missing one none: the base dir's (relative to it: it changes into it), then the system files
# (absolute), seen through sudo when the login user cannot see one of them. Few processes: the
# manifest is read by the shell itself, and one `stat` covers the base dir's files (one more
# for the system files, if any). record_placed writes that to the record later runs compare
# with (`stat`, 0600).
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
placed_now() {
    [ -f "$D/manifest" ] || return 0
    cd @BASE_DIR@ || return 0
    set --
    sys=
    # `SHA MODE PATH`, `system SHA MODE OWNER FLAG DEST`, `container ...`, the header.
    while read -r first rest; do
        case $first in
            "#"* | container) ;;
            system) sys="$sys${rest#* * * * }
" ;;
            *) set -- "$@" "${rest#* }" ;;
        esac
    done < "$D/manifest"
    if [ $# -gt 0 ]; then stat --printf=@STAT_FORMAT@ -- "$@" 2>/dev/null || true; fi
    [ -n "$sys" ] || return 0
    set --
    while IFS= read -r p; do [ -z "$p" ] || set -- "$@" "$p"; done <<END
$sys
END
    if ! seen=$(stat --printf=@STAT_FORMAT@ -- "$@" 2>/dev/null); then
        # One is missing, or hidden from the login user: root's view, when sudo allows it.
        root=$(as_root stat --printf=@STAT_FORMAT@ -- "$@" 2>/dev/null) || true
        [ -z "$root" ] || seen=$root
    fi
    [ -z "$seen" ] || printf '%s\n' "$seen"
}
record_placed() {
    (umask 077; placed_now > "$D/stat.new") 9>&-
    mv -f "$D/stat.new" "$D/stat"
}
