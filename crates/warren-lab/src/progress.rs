//! A progress bar on stderr for long builds: drawn only when asked for, stderr is a
//! terminal, and the work has already taken more than half a second.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How long work runs before the bar appears.
const QUIET: Duration = Duration::from_millis(500);

/// A progress bar over `total` units.
#[derive(Debug)]
pub struct Progress {
    on: bool,
    start: Instant,
    total: usize,
    done: usize,
    drawn: bool,
}

impl Progress {
    /// A bar over `total` units; `wanted` false (or stderr not a terminal) keeps it silent.
    pub fn new(total: usize, wanted: bool) -> Progress {
        Progress {
            on: wanted && std::io::stderr().is_terminal(),
            start: Instant::now(),
            total: total.max(1),
            done: 0,
            drawn: false,
        }
    }

    /// `n` more units done, now doing `what`.
    pub fn advance(&mut self, n: usize, what: &str) {
        self.done = (self.done + n).min(self.total);
        if !self.on || self.start.elapsed() < QUIET {
            return;
        }
        let width = 30;
        let filled = self.done * width / self.total;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r[{}{}] {:3}% {what:<24}",
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.done * 100 / self.total
        );
        let _ = err.flush();
        self.drawn = true;
    }

    /// Clear the bar's line if it was drawn.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r{:72}\r", "");
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
