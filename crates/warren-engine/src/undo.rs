//! The undo log of a setup: each kernel step done is recorded, and a failure undoes them all
//! in reverse, going on past errors.

use std::path::PathBuf;

use warren_kernel::nft::PortRule;

use crate::Engine;
use crate::error::Error;

/// One thing a setup did.
#[derive(Debug)]
pub(crate) enum Step {
    /// Created the named namespace.
    Netns(String),
    /// Created a link in the host namespace (a bridge or a veth's host side).
    HostLink(String),
    /// Created a link inside a container's namespace (a macvlan).
    InnerLink {
        /// The namespace.
        ns: warren_kernel::NetNs,
        /// The link's name there.
        ifname: String,
    },
    /// Published these ports.
    Ports(Vec<PortRule>),
    /// Wrote this directory.
    Dir(PathBuf),
    /// Recorded this container (or pod) in the store.
    Row(String),
    /// Added this network to the firewall's sets.
    FwNetwork(String),
    /// Recorded this network in the store.
    NetworkRow(String),
}

/// Steps done so far, undone in reverse by [`Engine::undo`].
#[derive(Debug, Default)]
pub(crate) struct Undo {
    steps: Vec<Step>,
}

impl Undo {
    pub(crate) fn push(&mut self, s: Step) {
        self.steps.push(s);
    }

    /// Keep everything: the setup succeeded.
    pub(crate) fn commit(mut self) {
        self.steps.clear();
    }
}

impl Engine {
    /// Undo `log` in reverse, returning every error met.
    pub(crate) fn undo(&mut self, mut log: Undo) -> Vec<Error> {
        let mut errors = Vec::new();
        while let Some(step) = log.steps.pop() {
            if let Err(e) = self.undo_step(step) {
                errors.push(e);
            }
        }
        errors
    }

    fn undo_step(&mut self, step: Step) -> crate::Result<()> {
        match step {
            Step::Netns(name) => crate::wire::delete_netns(&name),
            Step::HostLink(name) => crate::wire::delete_host_link(self.host(), &name),
            Step::InnerLink { ns, ifname } => crate::wire::delete_link_in(ns, &ifname),
            Step::Ports(rules) => self.fw_unpublish(&rules),
            Step::Dir(dir) => match std::fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io("remove", dir)(e)),
            },
            Step::Row(id) => {
                self.store
                    .write(|tx| warren_store::delete_container(tx, &id))?;
                Ok(())
            }
            Step::NetworkRow(name) => {
                self.store
                    .write(|tx| warren_store::delete_network(tx, &name))?;
                self.forwarding_update()
            }
            Step::FwNetwork(name) => {
                let net = self.store.read(|tx| warren_store::get_network(tx, &name))?;
                match net {
                    Some(n) => self.fw_remove_network(&n),
                    None => Ok(()),
                }
            }
        }
    }

    /// Run `f` with an undo log; on error undo what it logged and return
    /// [`Error::Setup`] carrying the cause and any undo errors.
    pub(crate) fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Engine, &mut Undo) -> crate::Result<T>,
    ) -> crate::Result<T> {
        let mut log = Undo::default();
        match f(self, &mut log) {
            Ok(t) => {
                log.commit();
                Ok(t)
            }
            Err(cause) => {
                let undo = self.undo(log);
                if undo.is_empty() {
                    Err(cause)
                } else {
                    Err(Error::Setup {
                        cause: Box::new(cause),
                        undo,
                    })
                }
            }
        }
    }
}
