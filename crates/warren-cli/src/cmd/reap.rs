//! The slow endings of a command, left to a detached child: the veths its teardowns retired
//! (deleting a veth waits for RCU grace periods) and the last close of its nf_tables socket
//! after deletions (which waits for the kernel's deferred frees). See
//! [`warren_engine::Engine::hand_off`].

use std::ops::{Deref, DerefMut};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};

use warren_engine::Engine;
use warren_engine::attach::{self, Retired};

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
        let spawned = std::env::current_exe().and_then(|exe| {
            Command::new(exe)
                .arg("__reap")
                .args(h.veths.iter().map(Retired::to_arg))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
        });
        if spawned.is_err() {
            for r in &h.veths {
                let _ = attach::delete_retired(self.0.host(), r);
            }
        }
    }
}

/// `warren __reap INDEX:NAME...`: delete the retired veths, then wait for an RCU grace
/// period before the inherited nf_tables socket (if any) closes.
pub fn run(args: &[String]) -> ExitCode {
    // `ps` and the kernel's traces tell the deleter from the command that started it.
    let _ = nix::sys::prctl::set_name(c"warren-reap");
    ExitCode::from(attach::reap("warren: __reap", args))
}
