//! The host layer: every effect on a host goes through here. [`session`] (one SSH
//! connection per host, the lock, the remote commands), [`control`] (where the control
//! sockets live), [`remote`] (the scripts the hosts run, and the tar streams they unpack),
//! [`engine`] (the Docker engine's API over the forwarded socket, every call counted) and
//! [`convert`] (compose services as the engine's create requests), [`runner`] (many hosts at
//! once, one's failure never stopping the others).

pub mod control;
pub mod convert;
pub mod engine;
pub mod files;
pub mod remote;
pub mod runner;
pub mod session;
