# --force-unlock (remote::force_unlock): ends the remote shell that holds the host's lock (the
# pid lock_and_read.sh recorded in lock.holder), and prints who held it. Only that shell holds
# the lock's file descriptor, so the lock is free once it is gone.
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values.
f=@BASE_DIR@/@STATE_DIR@/lock.holder
if [ -s "$f" ]; then
    cat "$f"
    pid=$(sed -n 's/.*(remote pid \([0-9]*\)).*/\1/p' "$f")
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    : > "$f"
fi
