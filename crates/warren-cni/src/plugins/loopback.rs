//! `warren-loopback`: `lo` up in the container's namespace (down again on DEL).

use super::{Answer, Ctx, internal};
use crate::proto::{CniResult, Command, Interface, IpConfig};

/// `warren-loopback`.
pub fn run(ctx: &mut Ctx, cmd: Command) -> Answer {
    match cmd {
        Command::Add => {
            let inner = ctx.open_netns()?;
            inner.link_set_up("lo").map_err(internal)?;
            let mut ips = vec![IpConfig {
                address: "127.0.0.1/8".parse().expect("loopback"),
                gateway: None,
                interface: Some(0),
            }];
            if inner
                .addrs(Some(inner.link_index("lo").map_err(internal)?))
                .map_err(internal)?
                .iter()
                .any(|a| a.net().addr.is_ipv6())
            {
                ips.push(IpConfig {
                    address: "::1/128".parse().expect("loopback"),
                    gateway: None,
                    interface: Some(0),
                });
            }
            Ok(Some(CniResult {
                interfaces: vec![Interface {
                    name: "lo".into(),
                    mac: Some("00:00:00:00:00:00".into()),
                    sandbox: ctx.netns_str(),
                    ..Interface::default()
                }],
                ips,
                ..CniResult::default()
            }))
        }
        Command::Del => {
            // The namespace may be gone already: nothing to do then.
            if let Some(inner) = ctx.netns_if_any() {
                let _ = inner.link_set_down("lo");
            }
            Ok(None)
        }
        Command::Check => {
            let inner = ctx.open_netns()?;
            let lo = inner.link_get("lo").map_err(internal)?;
            if !lo.up {
                return Err(internal(format!("lo is down in {}", inner.ns().label())));
            }
            Ok(None)
        }
        Command::Gc | Command::Status | Command::Version => Ok(None),
    }
}
