//! `warren route`: `add|replace|del [TYPE] [default|PREFIX] [via GW] [dev IF] [metric N]
//! [table N] [src IP] [proto P] [scope S] [nexthop via GW dev IF weight N ...]`,
//! `show [PREFIX|default] [dev IF] [table N|all] [-6]` and `get ADDR [from A] [iif IF] [oif IF] [mark M]`, in ip's words.
//! Parsing is pure ([`parse()`]); [`run`] resolves interface names and talks to the kernel.

mod parse;
mod show;

use parse::{Cmd, Op, parse};
use show::{names, route_json, route_line};

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;
use warren_kernel::route::{self, RouteFilter, RouteQuery};

use super::{handle, take_json};
use crate::{CliError, Global};

/// Arguments of `warren route`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Subcommand and its arguments, in ip's syntax.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Run `warren route`.
pub fn run(args: Args, global: &Global) -> Result<ExitCode, CliError> {
    let (words, json) = take_json(&args.args, global);
    let cmd = parse(&words)?;
    let h = handle(global)?;
    let mut out = String::new();
    match cmd {
        Cmd::Modify(op, words) => {
            let spec = words.to_spec(&mut |name| Ok(h.link_index(name)?))?;
            match op {
                Op::Add => h.route_add(&spec)?,
                Op::Replace => h.route_replace(&spec)?,
                Op::Del => h.route_del(&spec)?,
            }
        }
        Cmd::Show {
            table,
            family,
            dst,
            dev,
        } => {
            let dev = dev.as_deref().map(|d| h.link_index(d)).transpose()?;
            let mut routes = h.routes(RouteFilter {
                table,
                family: Some(family),
            })?;
            routes
                .retain(|r| dst.is_none_or(|d| r.dst == d) && dev.is_none_or(|i| r.oif == Some(i)));
            let names = names(&h)?;
            let all = table == Some(route::ALL);
            if json {
                let v: Vec<Value> = routes.iter().map(|r| route_json(r, &names)).collect();
                out = Value::Array(v).to_string() + "\n";
            } else {
                for r in &routes {
                    out.push_str(&route_line(r, &names, all));
                    out.push('\n');
                }
            }
        }
        Cmd::Get {
            dst,
            from,
            iif,
            oif,
            mark,
        } => {
            let q = RouteQuery {
                from,
                iif: iif.as_deref().map(|n| h.link_index(n)).transpose()?,
                oif: oif.as_deref().map(|n| h.link_index(n)).transpose()?,
                mark,
            };
            let r = h.route_get(dst, q)?;
            let names = names(&h)?;
            out = if json {
                Value::Array(vec![route_json(&r, &names)]).to_string() + "\n"
            } else {
                route_line(&r, &names, true) + "\n"
            };
        }
    }
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
