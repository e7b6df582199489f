//! Plans: pure functions from what is observed and what is desired to what will be done, with
//! the reason of every change, computed as data before anything is done. No I/O.
//!
//! [`files`] (a host's files: upload, chmod, remove, system files, reloads); [`textdiff`]
//! (their unified diffs, secrets redacted); [`identity`] (what a container is, as hashes);
//! [`containers`] (a host's images, networks and containers: where containers are
//! compared); [`recover`] (what an interrupted apply left, completed or undone);
//! [`restore`] (the files a failed service's rollback puts back); [`journal`] (pins applied,
//! a deploy's record, a rollback's choice).

pub mod backup;
pub mod checks;
pub mod cluster;
pub mod containers;
pub mod drift;
pub mod files;
pub mod identity;
pub mod journal;
pub mod recover;
pub mod restore;
pub mod stack;
pub mod status;
pub mod textdiff;
