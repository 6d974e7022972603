//! `warren inspect [TARGET] [-j] [--section LIST]`: everything about one network namespace
//! (links with their peers, addresses, routes of all tables, policy rules, neighbours,
//! bridge FDB, sockets with their processes, conntrack, the nftables ruleset, forwarding and
//! rp_filter sysctls), read from the outside, so containers without any tools in their image
//! can be inspected. TARGET is a namespace name or path, `pid:N`, a warren container or pod
//! (name or id), or a lab node `LAB/NODE`; without one, the namespace warren runs in (so
//! `warren -n NS inspect` works too).

use std::io::Write;
use std::process::ExitCode;

use warren_inspect::{SectionName, Target, render, resolve, snapshot};

use crate::exit::chain;
use crate::{CliError, Global};

/// Arguments of `warren inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A namespace (name under /run/netns, or a path), pid:N, a container or pod, or LAB/NODE.
    pub target: Option<String>,
    /// Only these sections, comma-separated: links, addrs, routes, rules, neigh, fdb,
    /// sockets, conntrack, nft, sysctls.
    #[arg(long = "section", short = 's', value_name = "LIST")]
    pub section: Option<String>,
}

/// The sections asked for (pure).
pub fn sections(list: Option<&str>) -> Result<Vec<SectionName>, CliError> {
    match list {
        None => Ok(SectionName::ALL.to_vec()),
        Some(l) => SectionName::parse_list(l).map_err(|e| CliError::fail(chain(&e))),
    }
}

/// Run `warren inspect`.
pub fn run(a: Args, g: &Global) -> Result<ExitCode, CliError> {
    let wanted = sections(a.section.as_deref())?;
    let target = Target::parse(a.target.as_deref()).map_err(|e| CliError::fail(chain(&e)))?;
    let resolved = resolve(&target).map_err(|e| CliError::fail(chain(&e)))?;
    let inspection = snapshot(&resolved, &wanted);
    let mut out = std::io::stdout().lock();
    if g.json {
        let v = serde_json::to_string_pretty(&inspection)
            .map_err(|e| CliError::fail(format!("encode JSON: {e}")))?;
        writeln!(out, "{v}")?;
    } else {
        out.write_all(render::text(&inspection).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_lists() {
        assert_eq!(sections(None).unwrap().len(), SectionName::ALL.len());
        assert_eq!(
            sections(Some("links,nft")).unwrap(),
            [SectionName::Links, SectionName::Nft]
        );
        let e = sections(Some("links,bogus")).unwrap_err();
        assert!(e.message.contains("\"bogus\""), "{}", e.message);
    }
}
