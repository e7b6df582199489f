# Prints the host's facts for `nxinfra status` (remote::facts): the filesystem of the base
# dir (or of its nearest existing parent), as `df -P -k` has it, then /proc/loadavg. Reads
# only.
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values.
d=@BASE_DIR@
while [ ! -e "$d" ] && [ "$d" != / ] && [ "$d" != . ]; do d=$(dirname "$d"); done
df -P -k "$d" 2>/dev/null | tail -n 1 || true
cat /proc/loadavg 2>/dev/null || true
