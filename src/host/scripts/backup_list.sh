# Prints "SIZE FILE" for each copy in DIR (the folder of one backup at a host destination);
# nothing when there is none. `.partial-*` files are never listed.
if [ -d @DIR@ ]; then
    for f in @DIR@/*.gz.age; do
        [ -f "$f" ] || continue
        printf '%s %s\n' "$(wc -c < "$f" | tr -d ' ')" "${f##*/}"
    done
fi
