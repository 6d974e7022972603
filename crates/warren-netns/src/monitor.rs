//! Watching `/run/netns` for namespaces being added and deleted (`ip netns monitor`).

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::stat::Mode;
use warren_kernel::netns::RUN_DIR;

use crate::error::{Error, Result};

/// A change in `/run/netns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An entry appeared (`add NAME`).
    Add(String),
    /// An entry went away (`delete NAME`).
    Delete(String),
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Add(n) => write!(f, "add {n}"),
            Event::Delete(n) => write!(f, "delete {n}"),
        }
    }
}

/// An inotify watch on `/run/netns` (created if missing, as ip does).
#[derive(Debug)]
pub struct Monitor {
    inotify: Inotify,
}

impl Monitor {
    /// Start watching.
    pub fn new() -> Result<Monitor> {
        match nix::unistd::mkdir(RUN_DIR, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(source) => {
                return Err(Error::RunDir {
                    what: format!("mkdir {RUN_DIR} failed"),
                    source,
                });
            }
        }
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC).map_err(|source| Error::Watch {
            op: "inotify_init",
            source,
        })?;
        inotify
            .add_watch(RUN_DIR, AddWatchFlags::IN_CREATE | AddWatchFlags::IN_DELETE)
            .map_err(|source| Error::Watch {
                op: "inotify_add_watch",
                source,
            })?;
        Ok(Monitor { inotify })
    }

    /// Block until something changes; the changes, in order.
    pub fn next_events(&self) -> Result<Vec<Event>> {
        loop {
            match self.inotify.read_events() {
                Ok(evs) => {
                    let out: Vec<Event> = evs
                        .into_iter()
                        .filter_map(|e| {
                            let name = e.name?.to_string_lossy().into_owned();
                            if e.mask.contains(AddWatchFlags::IN_CREATE) {
                                Some(Event::Add(name))
                            } else if e.mask.contains(AddWatchFlags::IN_DELETE) {
                                Some(Event::Delete(name))
                            } else {
                                None
                            }
                        })
                        .collect();
                    if !out.is_empty() {
                        return Ok(out);
                    }
                }
                Err(Errno::EINTR) => {}
                Err(source) => {
                    return Err(Error::Watch {
                        op: "read inotify",
                        source,
                    });
                }
            }
        }
    }
}
