//! `nxinfra backup`: what each host declares in `nxinfra_backups` ([`spec`]) is dumped by a
//! command in one of its containers, streamed through the host's SSH connection (the engine's
//! exec API over the forwarded socket), compressed and age-encrypted into local files with
//! retention ([`store`]), verified, and restorable ([`run`]).

pub mod run;
pub mod spec;
pub mod store;
