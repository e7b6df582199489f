//! Ctrl-C, SIGTERM and SIGHUP: host work is never cut off halfway.
//!
//! Outside host work a signal ends nxinfra at once, as it would without a handler (a render is
//! staged: nothing half-written). While hosts are worked on ([`Shield`]), the first signal is
//! recorded instead: every host finishes or undoes the step in flight (a health gate being
//! waited for is given up and the previous container restored), starts nothing new, releases
//! its lock, and nxinfra exits with 128 + the signal's number (130 for SIGINT, 143 for
//! SIGTERM, 129 for SIGHUP). A second signal exits at once; what was in flight is then
//! completed or undone by the next apply (see `apply::recover`).
//!
//! `secrets edit` catches the same signals itself while an editor holds the plaintext
//! (`secrets::edit::Signals`, which passes them on to the editor), and puts these handlers
//! back afterwards.

use std::io::Write;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static SHIELDS: AtomicUsize = AtomicUsize::new(0);
static NOTIFY: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Installs the handlers (once, at start-up): a thread that waits for the signals.
pub fn install() {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        // Without handlers the signals keep their default action: nxinfra ends at once.
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                on_signal(signal);
            }
        });
    drop(spawned);
}

fn on_signal(signal: i32) {
    let first = RECEIVED
        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    // Not eprintln!: after SIGHUP the terminal may be gone.
    let mut err = std::io::stderr();
    if !first || SHIELDS.load(Ordering::SeqCst) == 0 {
        if !first {
            let _ = writeln!(
                err,
                "\n{}: exiting now; the next apply completes or undoes the steps that were in \
                 flight",
                name(signal)
            );
        }
        std::process::exit(128 + signal);
    }
    let _ = writeln!(
        err,
        "\n{}: finishing or undoing the step in flight on each host, then stopping \
         (again to exit at once)",
        name(signal)
    );
    NOTIFY.notify_waiters();
}

/// `SIGINT`, `SIGTERM`, `SIGHUP`.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// The signal received during host work, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Whether a signal asked host work to stop.
pub fn requested() -> bool {
    received().is_some()
}

/// Resolves once a signal has asked host work to stop (at once if one already did).
pub async fn stopped() {
    loop {
        let notified = NOTIFY.notified();
        if requested() {
            return;
        }
        notified.await;
    }
}

/// Resolves, once a signal has asked host work to stop, to the error that says so: the other
/// branch of a `select!` on work that may be given up.
pub async fn interrupted() -> Interrupted {
    stopped().await;
    Interrupted(received().unwrap_or(SIGINT))
}

/// The exit status after signal `signal`: 128 + its number, as a shell reports it.
pub fn exit_status(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}

/// While one lives, a signal is recorded for the host work to act on instead of ending
/// nxinfra.
pub struct Shield(());

impl Shield {
    pub fn new() -> Shield {
        SHIELDS.fetch_add(1, Ordering::SeqCst);
        Shield(())
    }
}

impl Default for Shield {
    fn default() -> Self {
        Shield::new()
    }
}

impl Drop for Shield {
    fn drop(&mut self) {
        SHIELDS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a step was not started: a signal asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not done: interrupted by {} before it started", name(self.0))]
pub struct Interrupted(pub i32);

/// `Err` once a signal asked host work to stop: checked before each step starts.
pub fn check() -> Result<(), Interrupted> {
    match received() {
        Some(s) => Err(Interrupted(s)),
        None => Ok(()),
    }
}
