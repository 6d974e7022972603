//! The slow endings of a command, left to a detached child: the veths its teardowns retired
//! (deleting a veth waits for RCU grace periods) and the last close of its nf_tables socket
//! after deletions (which waits for the kernel's deferred frees). See
//! [`warren_engine::Engine::hand_off`].

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use warren_engine::Engine;
use warren_engine::attach;

use crate::CliError;

/// An engine that hands its slow endings to `warren __reap` when dropped.
pub struct Opened(Engine);

impl Opened {
    /// [`Engine::open`].
    pub fn open() -> Result<Opened, CliError> {
        Ok(Opened(Engine::open()?))
    }
}

impl Deref for Opened {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.0
    }
}

impl DerefMut for Opened {
    fn deref_mut(&mut self) -> &mut Engine {
        &mut self.0
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        let h = self.0.hand_off();
        if h.is_empty() {
            return;
        }
        let mut cmd = Command::new(
            std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
        );
        cmd.arg("__reap");
        h.start(cmd, || Some(self.0.host()));
    }
}

/// `warren __reap INDEX:NAME...`: delete the retired veths, then wait for an RCU grace
/// period before the inherited nf_tables socket (if any) closes.
pub fn run(args: &[String]) -> ExitCode {
    // `ps` and the kernel's traces tell the deleter from the command that started it.
    let _ = nix::sys::prctl::set_name(c"warren-reap");
    ExitCode::from(attach::reap("warren: __reap", args))
}
