# The system part of apply.sh: runs system_root.sh (ROOT_SCRIPT) through one sudo (each sudo
# costs a PAM session on the host), none when the login user is root.
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
rc=0; as_root sh -c @ROOT_SCRIPT@ || rc=$?
if [ $rc = @RELOAD_FAILED@ ]; then exit 1; fi
if [ $rc != 0 ]; then echo 'placing the system files failed (they need root: passwordless sudo for this user)' >&2; exit 1; fi
