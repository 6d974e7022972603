//! Network namespaces: named ones under `/run/netns` made exactly as iproute2 makes them,
//! anonymous ones held by a file descriptor, opening by name, path or PID, and running code on
//! a thread inside a namespace.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::stat::Mode;

use crate::error::{Error, Result};

mod group;
pub use group::Group;

/// iproute2's `NETNS_RUN_DIR`.
pub const RUN_DIR: &str = "/run/netns";
/// iproute2's `NETNS_ETC_DIR`.
pub const ETC_DIR: &str = "/etc/netns";
/// `ioctl_ns(2)`'s NS_GET_NSTYPE: `_IO(0xb7, 0x3)`, the `CLONE_NEW*` type of a namespace fd.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
/// iproute2's limit on a name (NAME_MAX).
pub const NAME_MAX: usize = 255;

/// The identity of a namespace: device and inode of its nsfs file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId {
    /// `st_dev` of the nsfs inode.
    pub dev: u64,
    /// `st_ino` of the nsfs inode (what `/proc/PID/ns/net` shows as `net:[INO]`).
    pub ino: u64,
}

impl NsId {
    /// The identity of whatever namespace file `path` is (without following a held fd).
    pub fn of_path(path: &Path) -> Result<NsId> {
        let md = std::fs::metadata(path).map_err(|e| {
            Error::os(
                "stat",
                path,
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        })?;
        Ok(NsId {
            dev: md.dev(),
            ino: md.ino(),
        })
    }
}

/// An open network namespace: a file descriptor that keeps it alive, and a label for errors.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
    label: String,
    id: NsId,
}

impl NetNs {
    pub(crate) fn from_file(file: File, label: String) -> Result<NetNs> {
        let md = file
            .metadata()
            .map_err(|e| Error::os("fstat", &label, io_errno(&e)))?;
        let id = NsId {
            dev: md.dev(),
            ino: md.ino(),
        };
        Ok(NetNs {
            fd: file.into(),
            label,
            id,
        })
    }

    /// The namespace of the calling thread.
    pub fn current() -> Result<NetNs> {
        NetNs::open_path_labeled(Path::new("/proc/thread-self/ns/net"), "current".into())
    }

    /// Open a namespace by the path of a namespace file (a bind mount, or `/proc/PID/ns/net`).
    pub fn open_path(path: &Path) -> Result<NetNs> {
        NetNs::open_path_labeled(path, path.display().to_string())
    }

    fn open_path_labeled(path: &Path, label: String) -> Result<NetNs> {
        let file = File::open(path).map_err(|e| Error::os("open netns", path, io_errno(&e)))?;
        let ns = NetNs::from_file(file, label)?;
        ns.check_is_netns(path)?;
        Ok(ns)
    }

    fn check_is_netns(&self, path: &Path) -> Result<()> {
        // Plain files first, without a syscall: nsfs inodes live on the nsfs device, which a
        // regular file never shares with /proc. Then the namespace's type (NS_GET_NSTYPE):
        // another kind of namespace file would only fail later, at setns, with EINVAL.
        let not_net = |what: String| {
            Err(Error::invalid(
                "network namespace",
                path.display().to_string(),
                what,
            ))
        };
        if self.id.dev != nsfs_dev()? {
            return not_net("not a network namespace file".into());
        }
        // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd, which `self` owns
        // and keeps open for the call.
        let kind = unsafe { libc::ioctl(self.fd.as_raw_fd(), NS_GET_NSTYPE as _) };
        if kind < 0 {
            return Err(Error::os("ioctl(NS_GET_NSTYPE)", path, Errno::last()));
        }
        if kind != libc::CLONE_NEWNET {
            let name = match kind {
                libc::CLONE_NEWNS => "mount",
                libc::CLONE_NEWUTS => "UTS",
                libc::CLONE_NEWIPC => "IPC",
                libc::CLONE_NEWUSER => "user",
                libc::CLONE_NEWPID => "PID",
                libc::CLONE_NEWCGROUP => "cgroup",
                libc::CLONE_NEWTIME => "time",
                _ => "other",
            };
            return not_net(format!("a {name} namespace, not a network namespace"));
        }
        Ok(())
    }

    /// Open a named namespace (`/run/netns/NAME`).
    pub fn open_named(name: &str) -> Result<NetNs> {
        validate_name(name)?;
        let path = Path::new(RUN_DIR).join(name);
        NetNs::open_path_labeled(&path, name.to_owned())
    }

    /// Open the namespace of a process.
    pub fn open_pid(pid: i32) -> Result<NetNs> {
        if pid <= 0 {
            return Err(Error::invalid(
                "PID",
                pid.to_string(),
                "must be a positive number",
            ));
        }
        let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
        NetNs::open_path_labeled(&path, format!("pid:{pid}"))
    }

    /// A new anonymous namespace, alive for as long as this value (or anything else holding
    /// it) lives. Nothing is mounted.
    pub fn new_anonymous(label: impl Into<String>) -> Result<NetNs> {
        let label = label.into();
        in_new_thread(|| {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::Sys {
                op: "unshare(CLONE_NEWNET)",
                ns: label.clone(),
                source: e,
            })?;
            let ns = NetNs::current()?;
            Ok(NetNs { label, ..ns })
        })
    }

    /// The label used in errors: the name, path or `pid:N` it was opened by.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The namespace's identity (nsfs device and inode).
    pub fn id(&self) -> NsId {
        self.id
    }

    /// Another handle on the same namespace.
    pub fn try_clone(&self) -> Result<NetNs> {
        let fd = self.fd.try_clone().map_err(|e| Error::Sys {
            op: "dup",
            ns: self.label.clone(),
            source: io_errno(&e),
        })?;
        Ok(NetNs {
            fd,
            label: self.label.clone(),
            id: self.id,
        })
    }

    /// Move the calling thread into this namespace. Prefer [`NetNs::run`], which leaves the
    /// caller where it was.
    pub fn enter(&self) -> Result<()> {
        setns(&self.fd, CloneFlags::CLONE_NEWNET).map_err(|e| Error::Sys {
            op: "setns",
            ns: self.label.clone(),
            source: e,
        })
    }

    /// Run `f` on a new thread that has entered this namespace, and return its result. The
    /// calling thread's namespace is untouched. When the calling thread already is in this
    /// namespace, `f` simply runs here (no thread is spawned): `f` must not change namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        if NsId::of_path(Path::new("/proc/thread-self/ns/net")).is_ok_and(|id| id == self.id) {
            return f();
        }
        in_new_thread(|| {
            self.enter()?;
            f()
        })
    }

    /// Run `f` on the calling thread, entered into this namespace, and put the thread back
    /// into the namespace it was in afterwards, also when `f` fails or panics. Two `setns`
    /// calls (about 10 µs here) instead of a thread's start and end for [`NetNs::run`]
    /// (100–250 µs on these machines: the stack's mapping and unmapping).
    ///
    /// `f` must only do what the switch scopes (open sockets, use `/proc/sys/net`) and must
    /// not change namespaces itself. If the thread cannot be put back, the process aborts
    /// rather than go on acting in the wrong namespace.
    pub fn run_here<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let here = NetNs::current()?;
        if here.id == self.id {
            return f();
        }
        /// Puts the thread back into `.0` when dropped.
        struct Back(NetNs);
        impl Drop for Back {
            fn drop(&mut self) {
                if let Err(e) = self.0.enter() {
                    eprintln!("warren: cannot return to the thread's namespace: {e}");
                    std::process::abort();
                }
            }
        }
        self.enter()?;
        let _back = Back(here);
        f()
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for NetNs {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// Run `f` on a fresh scoped thread, so per-thread namespace changes die with it.
pub(crate) fn in_new_thread<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

pub(crate) fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// iproute2's `invalid_name()`: empty, longer than NAME_MAX, containing `/`, or `.`/`..`.
pub fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > NAME_MAX {
        "longer than 255 bytes"
    } else if name.contains('/') {
        "contains '/'"
    } else if name == "." || name == ".." {
        "is '.' or '..'"
    } else if name.contains('\0') {
        "contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(Error::invalid("netns name", name, reason))
}

/// The path of a named namespace.
pub fn named_path(name: &str) -> PathBuf {
    Path::new(RUN_DIR).join(name)
}

/// Make `/run/netns` exist and be a shared mount in a peer group of its own, exactly as
/// `ip netns add` does (bind onto itself, make private, then shared), so that namespace mounts
/// propagate to mount namespaces made later but are not copied into every sharer of `/run`.
/// Returns the lock on the directory, held while namespaces are being mounted.
pub fn prepare_run_dir() -> Result<Flock<File>> {
    match nix::unistd::mkdir(RUN_DIR, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(Error::os("mkdir", RUN_DIR, e)),
    }
    shared_mount_dir(Path::new(RUN_DIR), Fresh::Bind)
}

/// What [`shared_mount_dir`] mounts on a directory that is not a mount yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fresh {
    /// The directory itself, bound onto itself (as ip does for `/run/netns`).
    Bind,
    /// A new tmpfs of its own (whose files all go with one unmount).
    Tmpfs,
}

/// Lock the existing directory `dir` and make it a shared mount in a peer group of its own (as
/// ip does for `/run/netns`), mounting `fresh` first if it is not a mount; the lock is
/// returned.
pub(crate) fn shared_mount_dir(dir: &Path, fresh: Fresh) -> Result<Flock<File>> {
    let fd = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::os("open namespace directory", dir, e))?;
    let lock = match Flock::lock(File::from(fd), FlockArg::LockExclusive) {
        Ok(l) => l,
        Err((_, e)) => return Err(Error::os("flock", dir, e)),
    };
    let mut bound = false;
    loop {
        match mount(
            None::<&str>,
            dir,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        ) {
            Ok(()) => return Ok(lock),
            Err(Errno::EINVAL) if !bound => {
                match fresh {
                    Fresh::Bind => mount(
                        Some(dir),
                        dir,
                        Some("none"),
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None::<&str>,
                    )
                    .map_err(|e| Error::os("mount --bind", dir, e))?,
                    Fresh::Tmpfs => mount(
                        Some("tmpfs"),
                        dir,
                        Some("tmpfs"),
                        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                        Some("mode=0755"),
                    )
                    .map_err(|e| Error::os("mount tmpfs", dir, e))?,
                }
                mount(
                    None::<&str>,
                    dir,
                    Some("none"),
                    MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| Error::os("mount --make-private", dir, e))?;
                bound = true;
            }
            Err(e) => return Err(Error::os("mount --make-shared", dir, e)),
        }
    }
}

/// What to bind at a name: a new namespace, or the one a process is in.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// `unshare(CLONE_NEWNET)` a fresh namespace.
    New,
    /// `/proc/PID/ns/net` (iproute2's `attach`).
    Pid(i32),
}

/// Create the placeholder file of a named namespace; fails with EEXIST like ip.
fn create_placeholder(path: &Path) -> Result<()> {
    let fd = open(
        path,
        OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::os("create namespace file", path, e))?;
    drop(fd);
    Ok(())
}

/// Bind the calling thread's namespace (or a process's) at `path`; on failure remove the file.
fn bind_at(path: &Path, source: Source) -> Result<()> {
    let from = match source {
        Source::New => PathBuf::from("/proc/thread-self/ns/net"),
        Source::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
    };
    if let Err(e) = mount(
        Some(&from),
        path,
        Some("none"),
        MsFlags::MS_BIND,
        None::<&str>,
    ) {
        let _ = umount2(path, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(path);
        return Err(Error::Os {
            op: "bind mount namespace",
            path: path.to_owned(),
            source: e,
        });
    }
    Ok(())
}

/// Create (or attach) one named namespace, as `ip netns add NAME` / `ip netns attach NAME PID`.
/// The namespace is returned open. `lo` stays down, as with ip.
pub fn add_named(name: &str, source: Source) -> Result<NetNs> {
    let mut out = add_named_many(&[name], source, |_| Ok(()));
    out.pop()
        .unwrap_or_else(|| Err(Error::invalid("netns name", name, "nothing created")))
        .map(|(ns, ())| ns)
}

/// Create many named namespaces from a few throwaway worker threads (up to 8, at least four
/// namespaces each), under one lock of `/run/netns`. `inside` runs on the creating thread while
/// it is inside each new namespace (e.g. to bring `lo` up or open a netlink socket there). Results are per name, in order; one failing does not stop the
/// others. A name whose `inside` step fails is removed again.
pub fn add_named_many<N: AsRef<str> + Sync, T: Send>(
    names: &[N],
    source: Source,
    inside: impl Fn(&NetNs) -> Result<T> + Sync,
) -> Vec<Result<(NetNs, T)>> {
    add_many_at(names, Place::Direct, source, &inside)
}

/// Where a named namespace's file is.
#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    /// `/run/netns/NAME` itself, as ip makes it.
    Direct,
    /// A file of `Group`, linked from `/run/netns/NAME`.
    Grouped(&'a Group),
}

impl Place<'_> {
    /// The file the namespace is bound at.
    fn file(self, name: &str) -> PathBuf {
        match self {
            Place::Direct => named_path(name),
            Place::Grouped(g) => g.file(name),
        }
    }

    /// Give back the name claimed for a grouped namespace whose file is not there (the file
    /// of a direct one is its claim, and is removed with it).
    fn unclaim(self, name: &str) {
        if let Place::Grouped(g) = self {
            g.unclaim(name);
        }
    }

    /// Undo a made namespace: unmount, unlink.
    fn remove(self, name: &str) -> Result<()> {
        match self {
            Place::Direct => delete_named(name),
            Place::Grouped(g) => g.delete(name),
        }
    }
}

fn add_many_at<N: AsRef<str> + Sync, T: Send>(
    names: &[N],
    place: Place<'_>,
    source: Source,
    inside: &(dyn Fn(&NetNs) -> Result<T> + Sync),
) -> Vec<Result<(NetNs, T)>> {
    for n in names {
        if let Err(e) = validate_name(n.as_ref()) {
            // Validate everything before touching anything.
            let mut v: Vec<Result<(NetNs, T)>> = Vec::with_capacity(names.len());
            v.push(Err(e));
            return v;
        }
    }
    let lock = match prepare_run_dir() {
        Ok(l) => l,
        Err(e) => return vec![Err(e)],
    };
    let group_lock = match place {
        Place::Direct => None,
        Place::Grouped(g) => match g.prepare() {
            Ok(l) => Some(l),
            Err(e) => return vec![Err(e)],
        },
    };
    // Creating a namespace is mostly the kernel's work, much of it waiting (RCU grace
    // periods, per-namespace setup of every subsystem), so several throwaway threads, each
    // making a share in order, finish sooner than one, also on two cores.
    let out = fan_out(names, many_threads(names.len(), 2), |name| {
        add_one(name.as_ref(), place, source, inside)
    });
    drop(group_lock);
    drop(lock);
    out
}

/// How many threads to spread `n` namespace creations or deletions over, at least `each` per
/// thread: each thread spends much of its time waiting in the kernel (grace periods), so more
/// threads than cores help; below a few namespaces per thread, spawning costs more than it
/// saves.
fn many_threads(n: usize, each: usize) -> usize {
    const MAX: usize = 8;
    n.div_ceil(each.max(1)).clamp(1, MAX)
}

/// `f` over `items` on `threads` throwaway threads, each taking a consecutive share in order;
/// the results in the order of `items`. A panic on a thread is resumed on the caller's.
fn fan_out<N: Sync, R: Send>(items: &[N], threads: usize, f: impl Fn(&N) -> R + Sync) -> Vec<R> {
    let per = items.len().div_ceil(threads.max(1)).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let workers: Vec<_> = items
            .chunks(per)
            .map(|chunk| s.spawn(move || chunk.iter().map(f).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for w in workers {
            match w.join() {
                Ok(v) => out.extend(v),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Remove the named namespaces as [`delete_named`] does, several at a time: each unmount
/// waits for an RCU grace period, and waits issued together share one. Results are in the
/// order of `names`.
pub fn delete_named_many<N: AsRef<str> + Sync>(names: &[N]) -> Vec<Result<()>> {
    // Unmounting is nearly all waiting: twice as many threads as for creating.
    fan_out(names, many_threads(names.len(), 4) * 2, |n| {
        delete_named(n.as_ref())
    })
}

fn add_one<T>(
    name: &str,
    place: Place<'_>,
    source: Source,
    inside: &dyn Fn(&NetNs) -> Result<T>,
) -> Result<(NetNs, T)> {
    let path = place.file(name);
    if let Place::Grouped(g) = place {
        g.claim(name)?;
    }
    if let Err(e) = create_placeholder(&path) {
        place.unclaim(name);
        return Err(e);
    }
    if let Source::New = source
        && let Err(e) = unshare(CloneFlags::CLONE_NEWNET)
    {
        let _ = place.remove(name);
        return Err(Error::Sys {
            op: "unshare(CLONE_NEWNET)",
            ns: name.to_owned(),
            source: e,
        });
    }
    if let Err(e) = bind_at(&path, source) {
        // bind_at removed the file.
        place.unclaim(name);
        return Err(e);
    }
    let opened = NetNs::open_path_labeled(&path, name.to_owned());
    let ns = match opened {
        Ok(ns) => ns,
        Err(e) => {
            let _ = place.remove(name);
            return Err(e);
        }
    };
    // The worker thread is throwaway: for an attached namespace it simply enters it.
    let extra = match source {
        Source::New => inside(&ns),
        Source::Pid(_) => ns.enter().and_then(|()| inside(&ns)),
    };
    match extra {
        Ok(t) => Ok((ns, t)),
        Err(e) => {
            let _ = place.remove(name);
            Err(e)
        }
    }
}

/// Remove a named namespace as `ip netns delete` does: lazy unmount (result ignored), then
/// unlink. The namespace itself lives on while processes or descriptors hold it.
pub fn delete_named(name: &str) -> Result<()> {
    validate_name(name)?;
    let path = named_path(name);
    let _ = umount2(&path, MntFlags::MNT_DETACH);
    std::fs::remove_file(&path).map_err(|e| Error::os("remove namespace file", path, io_errno(&e)))
}

/// Whether the namespace file at `path` is still a live namespace mount (not a leftover
/// placeholder or a dangling link).
pub fn is_live_mount(path: &Path) -> bool {
    let Ok(md) = std::fs::metadata(path) else {
        return false;
    };
    nsfs_dev().is_ok_and(|dev| md.dev() == dev)
}

/// The device of nsfs, the kernel's one internal mount that every namespace file lives on:
/// read once (it cannot change while we run), then answered from memory.
fn nsfs_dev() -> Result<u64> {
    static DEV: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    if let Some(dev) = DEV.get() {
        return Ok(*dev);
    }
    let dev = NsId::of_path(Path::new("/proc/thread-self/ns/net"))?.dev;
    Ok(*DEV.get_or_init(|| dev))
}

/// How [`switch_for_exec`] went: what could not be bound from `/etc/netns/NAME` (ip warns and
/// goes on).
#[derive(Debug, Default)]
pub struct SwitchReport {
    /// Warnings, one per failed `/etc` bind, in ip's wording.
    pub warnings: Vec<String>,
}

/// Prepare the *calling thread* to exec a program inside `ns`, as `ip netns exec` does: enter
/// the namespace, unshare the mount namespace, make `/` a slave, remount `/sys` for the new
/// namespace (read-only if it was), and bind every entry of `/etc/netns/NAME` over `/etc`.
///
/// Meant for a single-threaded caller about to `execvp`: it changes the caller for good.
pub fn switch_for_exec(ns: &NetNs, etc_name: Option<&str>) -> Result<SwitchReport> {
    let label = ns.label().to_owned();
    ns.enter()?;
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| Error::Sys {
        op: "unshare(CLONE_NEWNS)",
        ns: label.clone(),
        source: e,
    })?;
    mount(
        None::<&str>,
        "/",
        Some("none"),
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| Error::os("mount --make-rslave", "/", e))?;
    let mut flags = MsFlags::empty();
    if umount2("/sys", MntFlags::MNT_DETACH).is_err()
        && let Ok(st) = nix::sys::statvfs::statvfs("/sys")
        && st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY)
    {
        flags |= MsFlags::MS_RDONLY;
    }
    let source = etc_name.unwrap_or(&label);
    mount(Some(source), "/sys", Some("sysfs"), flags, None::<&str>)
        .map_err(|e| Error::os("mount sysfs", "/sys", e))?;
    let mut report = SwitchReport::default();
    if let Some(name) = etc_name
        && name.len() < NAME_MAX
    {
        bind_etc(name, &mut report);
    }
    Ok(report)
}

fn bind_etc(name: &str, report: &mut SwitchReport) {
    let dir = Path::new(ETC_DIR).join(name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let fname = entry.file_name();
        if fname == "." || fname == ".." {
            continue;
        }
        let from = dir.join(&fname);
        let to = Path::new("/etc").join(&fname);
        if let Err(e) = mount(
            Some(&from),
            &to,
            Some("none"),
            MsFlags::MS_BIND,
            None::<&str>,
        ) {
            report.warnings.push(format!(
                "Bind {} -> {} failed: {}",
                from.display(),
                to.display(),
                e.desc()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_iproute2() {
        for ok in ["a", "red-1", "x.y", "...", &"n".repeat(255)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [("", "empty"), ("a/b", "'/'"), (".", "'.'"), ("..", "'..'")] {
            let e = validate_name(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(validate_name(&"n".repeat(256)).is_err());
    }
}
