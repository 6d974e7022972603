//! Starting processes inside a node: its namespace, its `/etc` view, its environment.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use warren_kernel::NetNs;
use warren_kernel::process::{NodeSpawn, descendants, signal_if_same};

use super::{Dirs, RuntimeError};
use crate::model::{Lab, Node};

/// How a command with a deadline ended: its status (`None`: killed at the deadline), stdout
/// and stderr.
pub(crate) type Finished = (Option<i32>, Vec<u8>, Vec<u8>);

/// An opened node: its namespace and where its `/etc` files are.
pub(crate) struct NodeCtx<'a> {
    pub lab: &'a Lab,
    pub node: &'a Node,
    pub netns: NetNs,
    pub etc: Option<std::path::PathBuf>,
}

impl<'a> NodeCtx<'a> {
    /// Open `node` of `lab`: its named namespace must exist.
    pub fn open(lab: &'a Lab, node: &'a Node, dirs: &Dirs) -> Result<NodeCtx<'a>, RuntimeError> {
        let netns = NetNs::open_named(&node.netns).map_err(|source| RuntimeError::Kernel {
            lab: lab.name.clone(),
            node: node.name.clone(),
            source: Box::new(source),
        })?;
        let etc = dirs.node_etc(&lab.name, &node.name);
        Ok(NodeCtx {
            lab,
            node,
            netns,
            etc: etc.is_dir().then_some(etc),
        })
    }

    /// A command for `argv` with the node's environment (on top of ours) and `/` as its
    /// directory; stdio is the caller's to set.
    pub fn command(&self, argv: &[String]) -> Command {
        let mut cmd = Command::new(argv.first().map_or("", String::as_str));
        cmd.args(argv.iter().skip(1))
            .current_dir("/")
            .env("WARREN_LAB", &self.lab.name)
            .env("WARREN_NODE", &self.node.name)
            .envs(&self.node.env);
        cmd
    }

    /// Spawn `cmd` inside the node (`own_group` for daemons).
    pub fn spawn(&self, cmd: &mut Command, own_group: bool) -> Result<Child, RuntimeError> {
        NodeSpawn {
            netns: &self.netns,
            etc: self.etc.as_deref(),
            hostname: Some(&self.node.name),
            own_group,
        }
        .spawn(cmd)
        .map_err(|source| self.kernel(source))
    }

    pub fn kernel(&self, source: warren_kernel::Error) -> RuntimeError {
        RuntimeError::Kernel {
            lab: self.lab.name.clone(),
            node: self.node.name.clone(),
            source: Box::new(source),
        }
    }

    /// Run `argv` to completion, capturing its output: `(status, stdout, stderr)`.
    pub fn run_captured(&self, argv: &[String]) -> Result<(i32, Vec<u8>, Vec<u8>), RuntimeError> {
        let mut cmd = self.command(argv);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = self.spawn(&mut cmd, false)?;
        let out = child
            .wait_with_output()
            .map_err(|source| RuntimeError::Io {
                lab: self.lab.name.clone(),
                op: "wait for command in node",
                path: self.node.netns.clone().into(),
                source,
            })?;
        Ok((shell_code(out.status), out.stdout, out.stderr))
    }

    /// Like [`NodeCtx::run_captured`], but the command (and whatever it forked) is killed at
    /// `deadline`: then the status is `None` (and its output is not waited for).
    pub fn run_captured_until(
        &self,
        argv: &[String],
        deadline: Instant,
    ) -> Result<Finished, RuntimeError> {
        let mut cmd = self.command(argv);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.spawn(&mut cmd, false)?;
        let reader = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut v);
                }
                v
            })
        };
        let out = reader(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = reader(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        loop {
            let waited = child.try_wait().map_err(|source| RuntimeError::Io {
                lab: self.lab.name.clone(),
                op: "wait for command in node",
                path: self.node.netns.clone().into(),
                source,
            })?;
            if let Some(status) = waited {
                let stdout = out.join().unwrap_or_default();
                let stderr = err.join().unwrap_or_default();
                return Ok((Some(shell_code(status)), stdout, stderr));
            }
            if Instant::now() >= deadline {
                let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
                for (p, start) in descendants(pid) {
                    let _ = signal_if_same(p, start, 9);
                }
                let _ = child.kill();
                let _ = child.wait();
                return Ok((None, Vec::new(), Vec::new()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The exit as a shell reports it.
pub(crate) fn shell_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255)
}

/// How a command is shown in messages: its words, quoted where needed.
pub(crate) fn show(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run `argv` inside `node` with this process's terminal (stdin, stdout, stderr), as `ip
/// netns exec` would but with the node's `/etc` files, hostname and environment. Signals
/// this process receives (INT, TERM, HUP, QUIT, USR1, USR2, WINCH) are forwarded to it;
/// returns its exit status as a shell would (128 + signal when killed).
pub fn exec(lab: &Lab, node: &str, argv: &[String], dirs: &Dirs) -> Result<i32, RuntimeError> {
    let n = lab.node(node).ok_or_else(|| RuntimeError::NoSuchNode {
        lab: lab.name.clone(),
        node: node.to_owned(),
    })?;
    if argv.is_empty() || argv[0].is_empty() {
        return Err(RuntimeError::Invalid {
            lab: lab.name.clone(),
            node: node.to_owned(),
            what: "command",
            value: String::new(),
            reason: "is empty",
        });
    }
    let ctx = NodeCtx::open(lab, n, dirs)?;
    let mut cmd = ctx.command(argv);
    let mut child = ctx.spawn(&mut cmd, false)?;
    warren_kernel::process::wait_forwarding(&mut child).map_err(|e| ctx.kernel(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_shown_quoted() {
        let w = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        for (argv, want) in [
            (w(&["ip", "-br", "addr"]), "ip -br addr"),
            (w(&["/bin/sh", "-c", "exit 3"]), "/bin/sh -c 'exit 3'"),
            (w(&["echo", "it's"]), r"echo 'it'\''s'"),
            (w(&["x", ""]), "x ''"),
        ] {
            assert_eq!(show(&argv), want);
        }
    }
}
