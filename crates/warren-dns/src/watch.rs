//! A watch on the `include` directory (inotify): the server learns which fragment files a
//! writer replaced or removed, and reads only those.
//!
//! A small thread waits on the inotify instance and hands each batch of events to the server's
//! task over a channel (tokio offers no safe way to poll an inotify descriptor).
//!
//! A SIGHUP is a writer saying "I am done": whatever it changed before must be seen by the
//! reload it asks for, also the events the thread has not read yet. So the thread reads only
//! while holding a lock, and [`Watch::take`] takes the lock and reads what is left itself (the
//! instance is non-blocking): every event queued before the call is in the channel or read
//! there, none in between.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
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
    /// Held by whoever reads the instance (the thread, or [`Watch::take`]).
    reading: Arc<Mutex<()>>,
    current: Option<(WatchDescriptor, PathBuf)>,
    events: UnboundedReceiver<Result<Vec<InotifyEvent>, Errno>>,
}

impl Watch {
    /// A watch on nothing yet, and its reader thread.
    pub(crate) fn new() -> io::Result<Watch> {
        let inotify = Arc::new(Inotify::init(
            InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK,
        )?);
        let reading = Arc::new(Mutex::new(()));
        let (tx, rx) = unbounded_channel();
        let (reader, lock) = (Arc::clone(&inotify), Arc::clone(&reading));
        std::thread::Builder::new()
            .name("watch".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                loop {
                    let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
                    match poll(&mut fds, PollTimeout::NONE) {
                        Ok(_) | Err(Errno::EINTR) => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                    let _held = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    let r = match reader.read_events() {
                        // Taken by `take` meanwhile, or a signal: wait again.
                        Err(Errno::EAGAIN | Errno::EINTR) => continue,
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
            reading,
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

    /// Every change queued so far, without waiting: those the thread handed over, and those
    /// still in the instance (read here, under the thread's lock).
    pub(crate) fn take(&mut self) -> io::Result<Changes> {
        let mut changes = Changes::default();
        let reading = Arc::clone(&self.reading);
        let _held = reading.lock().unwrap_or_else(PoisonError::into_inner);
        self.drain(&mut changes)?;
        loop {
            match self.inotify.read_events() {
                Ok(batch) => self.add(&mut changes, Ok(batch))?,
                Err(Errno::EAGAIN) => return Ok(changes),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a SIGHUP relies on: a change made before `take` is in what it returns, whether or
    /// not the thread has read it yet.
    #[test]
    fn take_returns_every_change_made_before_it() {
        let dir = std::env::temp_dir().join(format!("warren-dns-watch-{}", std::process::id()));
        let mut w = Watch::new().unwrap();
        w.follow(Some(&dir), false).unwrap();
        for i in 0..200 {
            let name = format!("f{i}.json");
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, "{}").unwrap();
            std::fs::rename(&tmp, dir.join(&name)).unwrap();
            let changes = w.take().unwrap();
            assert!(
                changes.names.contains(&OsString::from(&name)),
                "{name} not seen: {changes:?}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
