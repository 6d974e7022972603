//! `warren monitor [-j]`: link, address, route, neighbour, nsid and namespace events from
//! every namespace of the host, one line (or one JSON object) per event.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use crate::Global;
use crate::cmd::veths::topology_error;
use crate::exit::CliError;

/// `warren monitor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Stop after N events.
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// Stop after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub duration: Option<Duration>,
    /// How often to look for namespaces that no name under /run/netns announces, in seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "1")]
    pub rescan: Duration,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    Duration::try_from_secs_f64(v).map_err(|_| format!("'{s}' is not a duration in seconds"))
}

/// Run it.
pub fn run(args: Args, global: &Global) -> Result<ExitCode, CliError> {
    let opts = warren_topology::monitor::Options {
        count: args.count,
        duration: args.duration,
        rescan: args.rescan.max(Duration::from_millis(50)),
    };
    let mut out = std::io::stdout().lock();
    let json = global.json;
    warren_topology::monitor::run(&opts, |e| {
        let line = if json {
            e.to_json().to_string()
        } else {
            e.to_line()
        };
        // A closed pipe (`| head`) ends the monitor quietly.
        writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
    })
    .map_err(|e| topology_error(&e))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_secs("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_secs("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["", "x", "-1", "1s", "inf"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
