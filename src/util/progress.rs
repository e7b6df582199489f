//! Per-host progress of long work (sync, apply, backup): a line per host that says what it is
//! doing, drawn with indicatif on a terminal; on anything else (CI logs, pipes) one plain line
//! per host as it finishes. Messages are nxinfra's own words, never file contents; whatever
//! they quote (a failed command's output) goes through the secrets' redactor here, the one
//! place every progress line passes.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use std::sync::Arc;

use crate::util::redact::Redactor;

pub struct Progress {
    kind: Kind,
    /// Every line passes it.
    redactor: Arc<Redactor>,
    hosts: Vec<String>,
    finished: AtomicUsize,
}

enum Kind {
    /// A spinner per host on stderr (a terminal).
    Bars(Vec<ProgressBar>),
    /// `[3/6] h2: unchanged` on stderr as each host finishes.
    Lines,
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bars on a terminal, lines elsewhere.
    Auto,
    /// Bars on a terminal, nothing elsewhere (for `--json`).
    TerminalOnly,
    Quiet,
}

impl Progress {
    pub fn new(hosts: &[String], mode: Mode, redactor: Arc<Redactor>) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let kind = match mode {
            Mode::Quiet => Kind::Quiet,
            _ if terminal => Kind::Bars(bars(hosts)),
            Mode::Auto => Kind::Lines,
            Mode::TerminalOnly => Kind::Quiet,
        };
        Progress {
            kind,
            redactor,
            hosts: hosts.to_vec(),
            finished: AtomicUsize::new(0),
        }
    }

    /// Host `i` is now doing `what` ("connecting", "uploading 3 files").
    pub fn phase(&self, i: usize, what: &str) {
        if let Kind::Bars(bars) = &self.kind
            && let Some(bar) = bars.get(i)
        {
            bar.set_message(self.redactor.redact(what).into_owned());
        }
    }

    /// Host `i` is done: `result` is its one-line outcome.
    pub fn finish(&self, i: usize, result: &str) {
        let result = self.redactor.redact(result);
        let n = self.finished.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.kind {
            Kind::Bars(bars) => {
                if let Some(bar) = bars.get(i) {
                    bar.finish_with_message(result.to_string());
                }
            }
            Kind::Lines => {
                let host = self.hosts.get(i).map(String::as_str).unwrap_or("?");
                eprintln!("[{n}/{}] {host}: {result}", self.hosts.len());
            }
            Kind::Quiet => {}
        }
    }

    /// Removes the bars (before the summary is printed).
    pub fn clear(&self) {
        if let Kind::Bars(bars) = &self.kind {
            for bar in bars {
                bar.finish_and_clear();
            }
        }
    }
}

fn bars(hosts: &[String]) -> Vec<ProgressBar> {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let width = hosts.iter().map(String::len).max().unwrap_or(8);
    let style = ProgressStyle::with_template(&format!("{{spinner}} {{prefix:{width}}}  {{msg}}"))
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    hosts
        .iter()
        .map(|h| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(h.clone());
            bar.set_message("waiting");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_finished_hosts_whatever_the_mode() {
        let hosts = vec!["h1".to_string(), "h2".to_string()];
        let p = Progress::new(&hosts, Mode::Quiet, Default::default());
        p.phase(0, "connecting");
        p.finish(1, "unchanged");
        p.finish(0, "2 files changed");
        p.phase(7, "out of range is ignored");
        assert_eq!(p.finished.load(Ordering::Relaxed), 2);
        p.clear();
    }
}
