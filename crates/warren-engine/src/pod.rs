//! Pods: a namespace that outlives its members, held by a bind mount (no pause process).
//! Members join it and restart freely; its addresses and ports stay; ports can be added
//! while it lives.

use warren_store::{Container, ContainerState, Kind};

use crate::Engine;
use crate::container::RunSpec;
use crate::error::{Error, Result};
use crate::spec::PortSpec;

impl Engine {
    /// Create a pod: its namespace, endpoints and ports, with no process.
    pub fn pod_create(&mut self, spec: &RunSpec) -> Result<Container> {
        if spec.name.is_none() {
            return Err(Error::invalid("pod name", "", "a pod needs a name"));
        }
        let p = self.create(spec, Kind::Pod)?;
        self.started(&p.id, None, None)?;
        // What `started` wrote, without reading it all back.
        Ok(Container {
            state: ContainerState::Running,
            pid: None,
            pid_start: None,
            owner_pid: None,
            owner_start: None,
            exit_code: None,
            ..p.record
        })
    }

    /// The pod `key`.
    pub fn pod(&mut self, key: &str) -> Result<Container> {
        let c = self
            .store
            .read(|tx| warren_store::find_container(tx, key))?
            .filter(|c| c.kind == Kind::Pod)
            .ok_or_else(|| {
                Error::Store(warren_store::Error::NotFound {
                    what: "pod",
                    name: key.into(),
                })
            })?;
        if c.state != ContainerState::Running {
            return Err(Error::State(format!("pod {} is not running", c.name)));
        }
        Ok(c)
    }

    /// The pod's members.
    pub fn pod_members(&mut self, key: &str) -> Result<Vec<Container>> {
        let p = self.pod(key)?;
        Ok(self.store.read(|tx| warren_store::pod_members(tx, &p.id))?)
    }

    /// Publish more ports on a live pod (one atomic change of the port map).
    pub fn pod_publish(&mut self, key: &str, specs: &[PortSpec]) -> Result<Container> {
        let p = self.pod(key)?;
        let id = p.id.clone();
        let before = p.ports.clone();
        let specs = specs.to_vec();
        self.store.write(|tx| {
            let ports = crate::container::expand_ports(tx, &specs)?;
            warren_store::insert_ports(tx, &id, &ports)?;
            Ok::<_, Error>(())
        })?;
        let after = self.container(&id)?;
        let nets = self.networks()?;
        let added: Vec<_> = {
            let mut only_new = after.clone();
            only_new.ports.retain(|x| !before.contains(x));
            crate::firewall::port_rules(&only_new, &nets)
        }
        .inspect_err(|_| {
            let _ = self.rollback_ports(&id, &before);
        })?;
        if let Err(e) = self.fw_publish(&added) {
            self.rollback_ports(&id, &before)?;
            return Err(e);
        }
        Ok(after)
    }

    fn rollback_ports(&mut self, id: &str, keep: &[warren_store::Port]) -> Result<()> {
        let now = self.container(id)?;
        let extra: Vec<_> = now
            .ports
            .into_iter()
            .filter(|p| !keep.contains(p))
            .collect();
        self.store
            .write(|tx| warren_store::delete_ports(tx, id, &extra))?;
        Ok(())
    }

    /// Remove a pod. With running members this is refused unless `force`, which stops them.
    pub fn pod_remove(&mut self, key: &str, force: bool) -> Result<()> {
        let p = self
            .store
            .read(|tx| warren_store::find_container(tx, key))?
            .filter(|c| c.kind == Kind::Pod)
            .ok_or_else(|| {
                Error::Store(warren_store::Error::NotFound {
                    what: "pod",
                    name: key.into(),
                })
            })?;
        let members = self.store.read(|tx| warren_store::pod_members(tx, &p.id))?;
        let running: Vec<&Container> = members
            .iter()
            .filter(|m| m.state != ContainerState::Exited)
            .collect();
        if !running.is_empty() && !force {
            let names: Vec<&str> = running.iter().map(|m| m.name.as_str()).collect();
            return Err(Error::State(format!(
                "pod {} has running members: {} (use -f)",
                p.name,
                names.join(", ")
            )));
        }
        let mut errors = Vec::new();
        for m in &members {
            if let Err(e) = self.remove(&m.id, true) {
                errors.push(e);
            }
        }
        errors.extend(self.teardown(&p));
        if let Err(e) = self
            .store
            .write(|tx| warren_store::delete_container(tx, &p.id))
        {
            errors.push(e.into());
        }
        if let Err(e) = self.dns_update(&p) {
            errors.push(e);
        }
        crate::failpoint("pod-removed");
        Error::teardown(format!("pod {}", p.name), errors)
    }
}
