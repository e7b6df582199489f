# Run as root by system.sh: installs the system files, removes the ones no longer listed, then
# runs each reload once; a failed reload exits RELOAD_FAILED with its command and output on
# stderr.
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values; one alone on its line, with lines of shell built from the plan
# (calls to the functions below, and `rm -f`).
set -e
# place SOURCE OWNER GROUP MODE DEST: mode and owner set on a temporary file beside DEST, then
# an atomic rename.
place() {
    dir=${5%/*}
    [ -n "$dir" ] || dir=/
    tmp=$dir/.${5##*/}.nxinfra-new
    mkdir -p "$dir"
    install -o "$2" -g "$3" -m "$4" "$1" "$tmp"
    mv -f "$tmp" "$5"
}
# reload COMMAND
reload() {
    if ! out=$(sh -c "$1" 2>&1); then
        # shellcheck disable=SC2016  # the backquotes are text
        printf 'reload `%s` failed: %s\n' "$1" "$out" >&2
        # shellcheck disable=SC2242  # a number, once filled
        exit @RELOAD_FAILED@
    fi
}
@COMMANDS@
