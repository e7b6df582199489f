# Applies one plan in the base dir (remote::upload_tar puts it in the tar stream, as
# .nxinfra/apply.sh). lock_and_read.sh runs it, sourced, once the stream is unpacked in the
# staging folder: every file is renamed into place from there (same filesystem: atomic), and
# the manifest is written last (then the record of the files' state), so that an interrupted apply is redone by the next sync.
# Placeholders (a name in capitals between two @) are filled by remote.rs with shell-quoted
# values; one alone on its line, with lines of shell built from the plan.
set -e
cd @BASE_DIR@
# Removals, their emptied folders, the moves and the chmods.
@PLACE_FILES@
# The system files and their reloads (system.sh), when the plan has any.
@PLACE_SYSTEM_FILES@
mv -f @STAGING@/@TAR_MANIFEST@ @STATE_DIR@/manifest
mv -f @STAGING@/@TAR_STAT_SCRIPT@ @STATE_DIR@/stat.sh
# The record of the placed files' state, which later runs compare with (placed.sh).
record_placed
