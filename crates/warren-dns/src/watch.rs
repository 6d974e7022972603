//! A watch on the `include` directory (inotify): the server learns which fragment files a
//! writer replaced or removed, and reads only those.
//!
//! A small thread blocks in `read` on the inotify instance and hands each batch of events to
//! the server's task over a channel (tokio offers no safe way to poll an inotify descriptor).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};
use tokio::sync::mpsc::{UnboundedReceiver, error::TryRecvError, unbounded_channel};

/// What a watch saw since it was last asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// File names in the directory that were written, renamed into place, or removed.
    pub(crate) names: BTreeSet<OsString>,
    /// Events were lost (queue overflow) or the directory itself went away: read it all again.
    pub(crate) rescan: bool,
}

impl Changes {
    /// Everything is to be read again.
    pub(crate) fn rescan() -> Changes {
        Changes {
            rescan: true,
            ..Changes::default()
        }
    }
}

/// An inotify instance watching at most one directory.
pub(crate) struct Watch {
    inotify: Arc<Inotify>,
    current: Option<(WatchDescriptor, PathBuf)>,
    events: UnboundedReceiver<Result<Vec<InotifyEvent>, Errno>>,
}

impl Watch {
    /// A watch on nothing yet, and its reader thread.
    pub(crate) fn new() -> io::Result<Watch> {
        let inotify = Arc::new(Inotify::init(InitFlags::IN_CLOEXEC)?);
        let (tx, rx) = unbounded_channel();
        let reader = Arc::clone(&inotify);
        std::thread::Builder::new()
            .name("watch".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                loop {
                    let r = match reader.read_events() {
                        Err(Errno::EINTR) => continue,
                        r => r,
                    };
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Watch {
            inotify,
            current: None,
            events: rx,
        })
    }

    /// Watch `dir` (created if missing) instead of the directory watched so far; `None`:
    /// nothing. With `again`, watch it anew even if it is the directory watched so far (after
    /// it was removed or moved, which ends a watch). Start watching *before* reading the
    /// directory, so no change falls in between.
    pub(crate) fn follow(&mut self, dir: Option<&Path>, again: bool) -> io::Result<()> {
        if !again && self.current.as_ref().map(|(_, d)| d.as_path()) == dir {
            return Ok(());
        }
        if let Some((wd, _)) = self.current.take() {
            // Fails only if the directory is gone, which removed the watch already.
            let _ = self.inotify.rm_watch(wd);
        }
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)?;
            let wd = self.inotify.add_watch(
                dir,
                AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF
                    | AddWatchFlags::IN_ONLYDIR,
            )?;
            self.current = Some((wd, dir.to_owned()));
        }
        Ok(())
    }

    /// Wait until something changed in the watched directory, then take every change queued.
    pub(crate) async fn changed(&mut self) -> io::Result<Changes> {
        loop {
            let Some(first) = self.events.recv().await else {
                return Err(io::Error::other("the watch's reader stopped"));
            };
            let mut changes = Changes::default();
            self.add(&mut changes, first)?;
            self.drain(&mut changes)?;
            if changes != Changes::default() {
                return Ok(changes);
            }
        }
    }

    /// Every change the reader has handed over, without waiting.
    pub(crate) fn take(&mut self) -> io::Result<Changes> {
        let mut changes = Changes::default();
        self.drain(&mut changes)?;
        Ok(changes)
    }

    fn drain(&mut self, changes: &mut Changes) -> io::Result<()> {
        loop {
            match self.events.try_recv() {
                Ok(batch) => self.add(changes, batch)?,
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Disconnected) => {
                    return Err(io::Error::other("the watch's reader stopped"));
                }
            }
        }
    }

    fn add(
        &self,
        changes: &mut Changes,
        batch: Result<Vec<InotifyEvent>, Errno>,
    ) -> io::Result<()> {
        for ev in batch? {
            if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                changes.rescan = true;
                continue;
            }
            if self.current.as_ref().is_none_or(|(wd, _)| *wd != ev.wd) {
                // A watch given up since (a directory the config no longer names).
                continue;
            }
            if ev.mask.intersects(
                AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF
                    | AddWatchFlags::IN_IGNORED,
            ) {
                changes.rescan = true;
            } else if let Some(name) = ev.name {
                changes.names.insert(name);
            }
        }
        Ok(())
    }
}
