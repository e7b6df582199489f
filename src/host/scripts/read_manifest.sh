# Prints the host's manifest, if any, then STAT_MARKER, the record of the placed files' state
# when they were placed, NOW_MARKER and their state now (placed.sh); then JOURNAL_MARKER, the
# deploy journal's last record, PINS_MARKER and the pins; and nothing else: no lock, no folder
# made, nothing written (remote::read_manifest: plan, status).
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values.
D=@BASE_DIR@/@STATE_DIR@
@PLACED@
if [ -f "$D/manifest" ]; then
    # One `cat`: the manifest, the marker (its stdin), the record (none before a first record).
    cat "$D/manifest" - "$D/stat" 2>/dev/null <<END || true
@STAT_MARKER@
END
    echo @NOW_MARKER@
    placed_now
fi
echo @JOURNAL_MARKER@
tail -n 1 "$D/history" 2>/dev/null || true
echo @PINS_MARKER@
cat "$D/pins" 2>/dev/null || true
