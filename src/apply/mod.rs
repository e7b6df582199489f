//! Apply: the desired containers of each host, from its rendered `compose.yml`.
//!
//! [`compose`] loads and checks the file (pure logic: no Docker, no network).

pub mod compose;
pub mod convert;
pub mod engine;
pub mod execute;
pub mod hash;
pub mod observe;
pub mod plan;
pub mod recover;
pub mod restore;
pub mod run;
