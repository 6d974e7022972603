//! Which container or pod a process belongs to, guessed from its `/proc/PID/cgroup`. Pure:
//! the input is the file's text.
//!
//! Recognised layouts (cgroup v1 and v2, systemd and cgroupfs drivers):
//! `docker-ID.scope`, `/docker/ID`, `libpod-ID.scope`, `libpod_parent/libpod-ID`,
//! `libpod-conmon-ID.scope`, `cri-containerd-ID.scope`, `crio-ID.scope`, `crio-conmon-ID.scope`,
//! `kubepods…pod<UID>…` (with the container ID after it for cgroupfs), `/lxc/NAME`,
//! `lxc.payload.NAME`, `machine-NAME.scope` and `systemd-nspawn@NAME.service`.

use std::fmt;

use serde::Serialize;

/// A container or pod hint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hint {
    /// `docker`, `podman`, `containerd`, `cri-o`, `kubernetes`, `lxc` or `nspawn`.
    pub runtime: &'static str,
    /// The container ID (or name, for lxc and nspawn), when the cgroup path carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The Kubernetes pod UID, for processes under `kubepods`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.runtime)?;
        if let Some(id) = &self.id {
            let short: String = if is_hex_id(id) {
                id.chars().take(12).collect()
            } else {
                id.clone()
            };
            write!(f, " {short}")?;
        }
        if let Some(pod) = &self.pod {
            write!(f, " pod {pod}")?;
        }
        Ok(())
    }
}

/// The hint for a process from the text of its `/proc/PID/cgroup`, if any line says.
/// A line naming a pod wins over one naming only a container.
pub fn from_cgroup(text: &str) -> Option<Hint> {
    let mut best: Option<Hint> = None;
    for line in text.lines() {
        // hierarchy-ID:controllers:path; the path may itself contain ':'.
        let Some(path) = line.splitn(3, ':').nth(2) else {
            continue;
        };
        if let Some(h) = from_path(path) {
            let better = best
                .as_ref()
                .is_none_or(|b| b.pod.is_none() && h.pod.is_some());
            if better {
                best = Some(h);
            }
        }
    }
    best
}

fn is_hex_id(s: &str) -> bool {
    s.len() >= 12 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn strip_affix<'a>(s: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let inner = s.strip_prefix(prefix)?;
    Some(inner.strip_suffix(suffix).unwrap_or(inner)).filter(|i| !i.is_empty())
}

/// One cgroup path.
fn from_path(path: &str) -> Option<Hint> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut runtime: Option<&'static str> = None;
    let mut id: Option<String> = None;
    let mut pod: Option<String> = None;
    let mut prev = "";
    for part in &parts {
        let part = *part;
        if let Some(p) = pod_uid(part) {
            pod = Some(p);
        } else if let Some(c) = strip_affix(part, "cri-containerd-", ".scope") {
            (runtime, id) = (Some("containerd"), Some(c.to_owned()));
        } else if let Some(c) = strip_affix(part, "crio-conmon-", ".scope") {
            (runtime, id) = (Some("cri-o"), Some(c.to_owned()));
        } else if let Some(c) = strip_affix(part, "crio-", ".scope") {
            (runtime, id) = (Some("cri-o"), Some(c.to_owned()));
        } else if let Some(c) = strip_affix(part, "docker-", ".scope") {
            (runtime, id) = (Some("docker"), Some(c.to_owned()));
        } else if let Some(c) = strip_affix(part, "libpod-conmon-", ".scope") {
            (runtime, id) = (Some("podman"), Some(c.to_owned()));
        } else if let Some(c) = strip_affix(part, "libpod-", ".scope") {
            (runtime, id) = (Some("podman"), Some(c.to_owned()));
        } else if let Some(n) = strip_affix(part, "lxc.payload.", "") {
            (runtime, id) = (Some("lxc"), Some(n.to_owned()));
        } else if let Some(n) = strip_affix(part, "systemd-nspawn@", ".service") {
            (runtime, id) = (Some("nspawn"), Some(n.to_owned()));
        } else if let Some(n) =
            strip_affix(part, "machine-", ".scope").filter(|_| prev == "machine.slice")
        {
            (runtime, id) = (Some("nspawn"), Some(n.replace("\\x2d", "-")));
        } else if prev == "docker" && is_hex_id(part) {
            (runtime, id) = (Some("docker"), Some(part.to_owned()));
        } else if prev == "lxc" && runtime.is_none() {
            (runtime, id) = (Some("lxc"), Some(part.to_owned()));
        } else if pod.is_some() && id.is_none() && is_hex_id(part) {
            // cgroupfs driver: /kubepods/QOS/pod<UID>/<container ID>.
            id = Some(part.to_owned());
        }
        prev = part;
    }
    if pod.is_some() {
        return Some(Hint {
            runtime: runtime.unwrap_or("kubernetes"),
            id,
            pod,
        });
    }
    runtime.map(|runtime| Hint { runtime, id, pod })
}

/// The pod UID in `pod<UID>` (cgroupfs) or `kubepods[-QOS]-pod<UID_with_underscores>.slice`.
fn pod_uid(part: &str) -> Option<String> {
    let raw = if part.starts_with("kubepods") {
        let i = part.find("-pod")?;
        part[i + 4..].strip_suffix(".slice")?
    } else {
        part.strip_prefix("pod")?
    };
    let uid = raw.replace('_', "-");
    let ok = uid.len() >= 8 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    ok.then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "4f3b8d0c2a1e9f7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b";
    const P: &str = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b";
    const UID: &str = "5e0f8c4a-3b2d-4e1f-9a8b-7c6d5e4f3a2b";

    fn h(runtime: &'static str, id: Option<&str>, pod: Option<&str>) -> Option<Hint> {
        Some(Hint {
            runtime,
            id: id.map(str::to_owned),
            pod: pod.map(str::to_owned),
        })
    }

    #[test]
    fn real_looking_cgroup_files() {
        let uid_ = UID.replace('-', "_");
        let cases: Vec<(String, Option<Hint>)> = vec![
            // Docker, cgroup v2 with the systemd driver.
            (
                format!("0::/system.slice/docker-{D}.scope\n"),
                h("docker", Some(D), None),
            ),
            // Docker, cgroup v1 with the cgroupfs driver.
            (
                format!(
                    "12:pids:/docker/{D}\n11:memory:/docker/{D}\n1:name=systemd:/docker/{D}\n0::/\n"
                ),
                h("docker", Some(D), None),
            ),
            // Rootless Docker.
            (
                format!(
                    "0::/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{D}.scope\n"
                ),
                h("docker", Some(D), None),
            ),
            // Podman, systemd driver, rootful (crun puts the payload in /container).
            (
                format!("0::/machine.slice/libpod-{P}.scope/container\n"),
                h("podman", Some(P), None),
            ),
            // Podman, cgroupfs driver.
            (
                format!("0::/libpod_parent/libpod-{P}\n"),
                h("podman", Some(P), None),
            ),
            // Podman's conmon.
            (
                format!("0::/machine.slice/libpod-conmon-{P}.scope\n"),
                h("podman", Some(P), None),
            ),
            // Kubernetes with containerd and the systemd driver.
            (
                format!(
                    "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/cri-containerd-{D}.scope\n"
                ),
                h("containerd", Some(D), Some(UID)),
            ),
            // Kubernetes with CRI-O.
            (
                format!(
                    "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/crio-{P}.scope\n"
                ),
                h("cri-o", Some(P), Some(UID)),
            ),
            // Guaranteed QoS has no QoS level in the slice name.
            (
                format!("0::/kubepods.slice/kubepods-pod{uid_}.slice/cri-containerd-{D}.scope\n"),
                h("containerd", Some(D), Some(UID)),
            ),
            // Kubernetes, cgroup v1, cgroupfs driver.
            (
                format!("11:cpu,cpuacct:/kubepods/besteffort/pod{UID}/{D}\n"),
                h("kubernetes", Some(D), Some(UID)),
            ),
            // CRI-O's conmon outside a pod.
            (
                format!("0::/system.slice/crio-conmon-{P}.scope\n"),
                h("cri-o", Some(P), None),
            ),
            // LXC.
            (
                "0::/lxc.payload.web1\n".into(),
                h("lxc", Some("web1"), None),
            ),
            ("4:memory:/lxc/web2\n".into(), h("lxc", Some("web2"), None)),
            // systemd-nspawn.
            (
                "0::/machine.slice/systemd-nspawn@deb12.service/payload\n".into(),
                h("nspawn", Some("deb12"), None),
            ),
            (
                "0::/machine.slice/machine-deb\\x2d12.scope\n".into(),
                h("nspawn", Some("deb-12"), None),
            ),
            // Not containers.
            (
                "0::/user.slice/user-1000.slice/session-3.scope\n".into(),
                None,
            ),
            ("0::/system.slice/docker.service\n".into(), None),
            ("0::/\n".into(), None),
            (
                "9:name=systemd:/\n4:memory:/process_api/0a89fcdf1a0059c777cdc49498b3bb4e\n0::/\n"
                    .into(),
                None,
            ),
            ("".into(), None),
        ];
        for (text, want) in cases {
            assert_eq!(from_cgroup(&text), want, "{text}");
        }
    }

    #[test]
    fn display_is_short() {
        let hint = h("docker", Some(D), None).unwrap();
        assert_eq!(hint.to_string(), "docker 4f3b8d0c2a1e");
        let pod = h("containerd", Some(D), Some(UID)).unwrap();
        assert_eq!(
            pod.to_string(),
            format!("containerd 4f3b8d0c2a1e pod {UID}")
        );
        assert_eq!(
            h("lxc", Some("web1"), None).unwrap().to_string(),
            "lxc web1"
        );
    }
}
