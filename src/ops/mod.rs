//! Operations: what a command does across the fleet, orchestrating plans and the host layer.
//!
//! [`sync`] (rendered trees placed on hosts over SSH, under each host's lock); [`apply`]
//! (sync, then each host's containers reconciled with its compose.yml, health-gated);
//! [`cluster`] (a swarm's membership: init, joins, node labels and roles);
//! [`backup`] (what hosts declare dumped, encrypted, kept, verified, restored); [`diff`]
//! (what a change does to the rendered fleet, offline); [`status`] (each host's services,
//! drift and facts, read-only); [`journal`] (a host's deploys read, its pins dropped, its
//! images pruned; a rollback is an apply).

pub mod apply;
pub mod backup;
pub mod cluster;
pub mod diff;
pub mod journal;
pub mod status;
pub mod sync;
