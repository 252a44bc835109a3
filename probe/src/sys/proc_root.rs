//! Where the probe reads procfs: `/proc` unless told otherwise
//! (`--proc-root`, e.g. the host's /proc mounted into a container, or a
//! captured tree in a test).

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The procfs root every collector reads under; cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcRoot(Arc<Path>);

impl ProcRoot {
    pub fn new(path: impl Into<PathBuf>) -> ProcRoot {
        ProcRoot(Arc::from(path.into()))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `<root>/<name>`, e.g. `stat` or `self/mountinfo`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `<root>/<pid>/<name>`, e.g. `stat`, `net/tcp` or `ns/net`.
    pub fn pid_file(&self, pid: u32, name: &str) -> PathBuf {
        let mut path = self.0.join(pid.to_string());
        path.push(name);
        path
    }

    /// `<root>/<pid>`.
    pub fn pid_dir(&self, pid: u32) -> PathBuf {
        self.0.join(pid.to_string())
    }
}

impl Default for ProcRoot {
    fn default() -> Self {
        ProcRoot::new("/proc")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_the_root() {
        let root = ProcRoot::new("/host/proc");
        assert_eq!(root.file("self/mountinfo"), Path::new("/host/proc/self/mountinfo"));
        assert_eq!(root.pid_file(42, "net/tcp6"), Path::new("/host/proc/42/net/tcp6"));
        assert_eq!(root.pid_dir(7), Path::new("/host/proc/7"));
        assert_eq!(ProcRoot::default().pid_file(1, "stat"), Path::new("/proc/1/stat"));
    }
}
