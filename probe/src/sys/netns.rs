//! Running a little work inside another network namespace.
//!
//! A netlink socket answers for the namespace it was opened in, for as long
//! as it lives. So a socket for a foreign namespace is opened on a
//! short-lived thread that has `setns`-ed into it; the thread exits
//! afterwards, so no thread of the probe is ever left in a foreign namespace.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::sys::proc_root::ProcRoot;

/// Runs `work` on a thread inside the network namespace of `pid`.
pub fn run_in<T: Send + 'static>(
    proc: &ProcRoot,
    pid: u32,
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    run_in_file(&proc.pid_file(pid, "ns/net"), work)
}

/// Like [`run_in`], but only if `pid` is still in the namespace `inode` (a
/// pid reused since it was listed would lead elsewhere).
pub fn run_in_netns<T: Send + 'static>(
    proc: &ProcRoot,
    pid: u32,
    inode: u64,
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let namespace = File::open(proc.pid_file(pid, "ns/net"))?;
    if namespace.metadata()?.ino() != inode {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("pid {pid} left network namespace {inode}")));
    }
    run_on_thread_in(namespace, work)
}

/// Runs `work` on a thread inside the network namespace that `path` (an `ns/net` link) names.
pub fn run_in_file<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    run_on_thread_in(File::open(path)?, work)
}

fn run_on_thread_in<T: Send + 'static>(
    namespace: File,
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let worker = std::thread::Builder::new().name("periscope-setns".into()).spawn(move || {
        rustix::thread::move_into_link_name_space(namespace.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))?;
        work()
    })?;
    worker.join().map_err(|_| io::Error::other("setns thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_and_its_outcome_comes_back() {
        let proc = ProcRoot::default();
        match run_in(&proc, std::process::id(), || Ok(7)) {
            Ok(value) => assert_eq!(value, 7),
            // Without CAP_SYS_ADMIN even the own namespace is refused.
            Err(error) => assert_eq!(error.kind(), io::ErrorKind::PermissionDenied, "{error}"),
        }
        assert!(run_in(&proc, u32::MAX, || Ok(())).is_err(), "no such process");
        let own = std::fs::metadata(proc.pid_file(std::process::id(), "ns/net")).unwrap().ino();
        let moved = run_in_netns(&proc, std::process::id(), own + 1, || Ok(())).unwrap_err();
        assert_eq!(moved.kind(), io::ErrorKind::NotFound, "another namespace than listed");
    }
}
