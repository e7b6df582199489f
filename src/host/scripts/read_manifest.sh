# Prints the host's manifest, if any, and nothing else: no lock, no folder made
# (remote::read_manifest).
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values.
m=@BASE_DIR@/@STATE_DIR@/manifest
if [ -f "$m" ]; then cat "$m"; fi
