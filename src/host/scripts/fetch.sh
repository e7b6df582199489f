# Prints a tar stream of PATHS (relative to the base dir) as they are on the host, then one of
# the SYSTEM files (absolute, read as root); files that are missing or unreadable are skipped
# (remote::fetch, for --diff only).
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values; PATHS and SYSTEM with as many words as files (none: `set --`).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
set -- @PATHS@
if [ $# -gt 0 ]; then
    (cd @BASE_DIR@ && tar -c --ignore-failed-read -f - -- "$@") 2>/dev/null || true
fi
set -- @SYSTEM@
if [ $# -gt 0 ]; then
    as_root tar -c -P --ignore-failed-read -f - -- "$@" 2>/dev/null || true
fi
