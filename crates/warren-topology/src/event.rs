//! Events as `warren monitor` prints them: a time, the namespace, what happened, as one JSON
//! object or one line of text in the manner of `ip monitor`. Pure.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use warren_kernel::events::Notification;
use warren_kernel::link::format_mac;

/// One event in one namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it was read.
    pub time: SystemTime,
    /// The namespace's label.
    pub netns: String,
    /// The namespace's inode.
    pub netns_ino: u64,
    /// `link`, `addr`, `route`, `neigh`, `nsid`, `netns` or `overrun`.
    pub event: &'static str,
    /// `new` or `del`.
    pub action: &'static str,
    /// The rest, by name (`ifname`, `ifindex`, `address`, `dst`, `gateway`, ...).
    pub fields: Map<String, Value>,
    /// The text after the prefix, as `ip monitor` would say it.
    pub text: String,
}

impl Event {
    /// A namespace appeared (`new`) or went away (`del`).
    pub fn netns(time: SystemTime, label: &str, ino: u64, new: bool) -> Event {
        let mut fields = Map::new();
        fields.insert("name".into(), json!(label));
        Event {
            time,
            netns: label.to_owned(),
            netns_ino: ino,
            event: "netns",
            action: if new { "new" } else { "del" },
            text: format!("{} {label}", if new { "add" } else { "delete" }),
            fields,
        }
    }

    /// The event of a kernel notification in namespace `label`; `names` maps its interface
    /// indexes to names (kept up to date by the caller from link events).
    pub fn from_notification(
        time: SystemTime,
        label: &str,
        ino: u64,
        n: &Notification,
        names: &HashMap<u32, String>,
    ) -> Event {
        let mut f = Map::new();
        let ifname = |f: &mut Map<String, Value>, index: u32| {
            f.insert("ifindex".into(), json!(index));
            if let Some(n) = names.get(&index) {
                f.insert("ifname".into(), json!(n));
            }
        };
        let dev = |index: u32| {
            names
                .get(&index)
                .map_or_else(|| format!("if{index}"), Clone::clone)
        };
        let (event, new, text) = match n {
            Notification::NewLink(l) | Notification::DelLink(l) => {
                f.insert("ifindex".into(), json!(l.index));
                f.insert("ifname".into(), json!(l.name));
                f.insert("kind".into(), json!(l.kind));
                f.insert("up".into(), json!(l.up));
                f.insert("operstate".into(), json!(l.operstate));
                f.insert("master".into(), json!(l.master.map(dev)));
                f.insert("mac".into(), json!(l.mac.map(|m| format_mac(&m))));
                let mut t = format!("{}: {}: <{}>", l.index, l.name, l.flags.join(","));
                if let Some(k) = &l.kind {
                    t.push_str(&format!(" {k}"));
                }
                if let Some(m) = l.master {
                    t.push_str(&format!(" master {}", dev(m)));
                }
                t.push_str(&format!(" state {}", l.operstate.to_uppercase()));
                ("link", matches!(n, Notification::NewLink(_)), t)
            }
            Notification::NewAddr(a) | Notification::DelAddr(a) => {
                ifname(&mut f, a.index);
                f.insert("family".into(), json!(a.family.name()));
                f.insert("address".into(), json!(a.net().to_string()));
                let t = format!(
                    "{}: {} {} {}",
                    a.index,
                    dev(a.index),
                    a.family.name(),
                    a.net()
                );
                ("addr", matches!(n, Notification::NewAddr(_)), t)
            }
            Notification::NewRoute(r) | Notification::DelRoute(r) => {
                if let Some(o) = r.oif {
                    ifname(&mut f, o);
                }
                f.insert("dst".into(), json!(r.dst.to_string()));
                f.insert("gateway".into(), json!(r.gateway.map(|g| g.to_string())));
                f.insert("table".into(), json!(r.table));
                f.insert("type".into(), json!(r.kind.to_string()));
                let mut t = if r.dst.prefix == 0 {
                    "default".to_owned()
                } else {
                    r.dst.to_string()
                };
                if let Some(g) = r.gateway {
                    t.push_str(&format!(" via {g}"));
                }
                if let Some(o) = r.oif {
                    t.push_str(&format!(" dev {}", dev(o)));
                }
                t.push_str(&format!(" table {}", r.table));
                ("route", matches!(n, Notification::NewRoute(_)), t)
            }
            Notification::NewNeigh(ne) | Notification::DelNeigh(ne) => {
                ifname(&mut f, ne.index);
                f.insert("dst".into(), json!(ne.ip.to_string()));
                f.insert("lladdr".into(), json!(ne.mac.map(|m| format_mac(&m))));
                f.insert("state".into(), json!(ne.state.to_string()));
                let mut t = format!("{} dev {}", ne.ip, dev(ne.index));
                if let Some(m) = ne.mac {
                    t.push_str(&format!(" lladdr {}", format_mac(&m)));
                }
                t.push_str(&format!(" {}", ne.state));
                ("neigh", matches!(n, Notification::NewNeigh(_)), t)
            }
            Notification::NewNsid(e) | Notification::DelNsid(e) => {
                f.insert("nsid".into(), json!(e.nsid));
                (
                    "nsid",
                    matches!(n, Notification::NewNsid(_)),
                    format!("nsid {}", e.nsid),
                )
            }
            Notification::Overrun => (
                "overrun",
                true,
                "notifications lost (socket buffer overflow)".to_owned(),
            ),
        };
        Event {
            time,
            netns: label.to_owned(),
            netns_ino: ino,
            event,
            action: if new { "new" } else { "del" },
            fields: f,
            text,
        }
    }

    /// The event as one JSON object: `time`, `netns`, `netns_ino`, `event`, `action`, then
    /// the event's own fields.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("time".into(), json!(rfc3339(self.time)));
        m.insert("netns".into(), json!(self.netns));
        m.insert("netns_ino".into(), json!(self.netns_ino));
        m.insert("event".into(), json!(self.event));
        m.insert("action".into(), json!(self.action));
        for (k, v) in &self.fields {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(m)
    }

    /// The event as one line: `[TIME] [NETNS] [EVENT] TEXT`, `Deleted ` before deletions as
    /// `ip monitor` writes them.
    pub fn to_line(&self) -> String {
        let deleted = if self.action == "del" && self.event != "netns" {
            "Deleted "
        } else {
            ""
        };
        format!(
            "[{}] [{}] [{}] {deleted}{}",
            rfc3339(self.time),
            self.netns,
            self.event.to_uppercase(),
            self.text
        )
    }
}

/// A time as RFC 3339 in UTC with milliseconds: `2026-11-22T21:50:00.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_rfc3339_utc() {
        for (secs, millis, want) in [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.005Z"),
            (1_795_384_200, 123, "2026-11-22T21:50:00.123Z"),
            (4_102_444_799, 999, "2099-12-31T23:59:59.999Z"),
        ] {
            let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis);
            assert_eq!(rfc3339(t), want, "{secs}");
        }
    }

    #[test]
    fn netns_events_read_like_ip_netns_monitor() {
        let e = Event::netns(UNIX_EPOCH, "red", 7, true);
        assert_eq!(
            e.to_line(),
            "[1970-01-01T00:00:00.000Z] [red] [NETNS] add red"
        );
        let j = Event::netns(UNIX_EPOCH, "red", 7, false).to_json();
        assert_eq!(
            (
                j["event"].as_str(),
                j["action"].as_str(),
                j["netns_ino"].as_u64()
            ),
            (Some("netns"), Some("del"), Some(7))
        );
    }
}
