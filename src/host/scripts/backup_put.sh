# Stores a backup's copy at a host destination: stdin is written to a temporary name in DIR
# (0600 in 0700 folders), checked (SIZE bytes, SHA256), synced and renamed to FILE: a copy is
# complete or absent, never partial under its name. Then prints the folder's copies
# (backup_list.sh) for the retention.
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values.
umask 077
set -u
mkdir -p @DIR@ && chmod 700 @PARENT@ @DIR@ || exit 1
# What a run cut off outright left (older than a day: never one being written now).
find @DIR@ -maxdepth 1 -name '.partial-*' -mmin +1440 -exec rm -f {} + 2>/dev/null || true
tmp=@DIR@/.partial-$$-@FILE@
trap 'rm -f "$tmp"' EXIT
trap 'rm -f "$tmp"; exit 1' HUP INT TERM PIPE
cat > "$tmp" || exit 1
size=$(wc -c < "$tmp" | tr -d ' ')
if [ "$size" != @SIZE@ ]; then
    echo "received $size bytes of @SIZE@: the copy was cut short" >&2
    exit 1
fi
sum=$(sha256sum < "$tmp" | cut -d ' ' -f 1)
if [ "$sum" != @SHA256@ ]; then
    echo "the received copy is not the one sent (sha256 $sum)" >&2
    exit 1
fi
sync "$tmp" 2>/dev/null || sync
mv -f "$tmp" @DIR@/@FILE@ || exit 1
@LIST@
