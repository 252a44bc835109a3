//! Files read again and again: a small-file reader without the syscalls
//! `read_to_end` adds, and [`Held`], a file kept open and re-read from offset
//! 0 every tick.

use std::io::Read;
use std::path::Path;

/// Reads a small /proc, /sys or /etc file; `None` when it is missing or unreadable
/// (a vanished pid is an outcome, not an error).
pub fn read_small(path: impl AsRef<Path>) -> Option<String> {
    let mut buffer = Vec::new();
    read_into(path, &mut buffer).ok()?;
    String::from_utf8(buffer).ok()
}

/// Reads a whole file into `buffer` (cleared first) with plain `read`s:
/// unlike `read_to_end`, no `statx`/`lseek` for a size hint, and no final
/// empty read after a short one (a /proc file's content is generated whole,
/// so a read shorter than asked is the end). The probe reads hundreds of
/// these a tick, so the saved syscalls matter.
pub fn read_into(path: impl AsRef<Path>, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    buffer.clear();
    let mut len = 0;
    buffer.resize(4096, 0);
    loop {
        if len == buffer.len() {
            buffer.resize(len * 2, 0);
        }
        let asked = buffer.len() - len;
        let read = file.read(&mut buffer[len..])?;
        len += read;
        if read == 0 || read < asked {
            break;
        }
    }
    buffer.truncate(len);
    Ok(())
}

/// A file re-read every tick, kept open and re-read from offset 0 (`pread`).
///
/// Opening a /proc or cgroup file walks its path each time (dentry lookups,
/// pid revalidation), which was a fifth of the probe's CPU; a seq_file read
/// again from offset 0 regenerates its content, so the open is paid once. A
/// held /proc/<pid> file keeps naming that process even if the pid is
/// reused: once the process is gone reads fail, and the next read reopens by
/// path. At most a quarter of the open-file limit is held; past that, files
/// are opened per read as before.
pub struct Held {
    file: Option<std::fs::File>,
}

static HELD_FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn held_file_limit() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
        usize::try_from(soft / 4).unwrap_or(256)
    })
}

impl Held {
    pub fn new() -> Held {
        Held { file: None }
    }

    /// Reads the whole file into `buffer`, opening `path()` when not held (or when the held one fails).
    pub fn read(&mut self, path: impl FnOnce() -> std::path::PathBuf, buffer: &mut Vec<u8>) -> std::io::Result<()> {
        if let Some(file) = &self.file {
            if pread_all(file, buffer).is_ok() && !buffer.is_empty() {
                return Ok(());
            }
            self.release();
        }
        let path = path();
        let held = HELD_FILES.load(std::sync::atomic::Ordering::Relaxed);
        if held >= held_file_limit() {
            return read_into(path, buffer);
        }
        let file = std::fs::File::open(path)?;
        pread_all(&file, buffer)?;
        HELD_FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.file = Some(file);
        Ok(())
    }

    /// [`Held::read`], then the content as text borrowed from `buffer`, to parse
    /// where it lies; `None` when the file cannot be read or is not UTF-8.
    pub fn read_text<'b>(
        &mut self,
        path: impl FnOnce() -> std::path::PathBuf,
        buffer: &'b mut Vec<u8>,
    ) -> Option<&'b str> {
        self.read(path, buffer).ok()?;
        std::str::from_utf8(buffer).ok()
    }

    fn release(&mut self) {
        if self.file.take().is_some() {
            HELD_FILES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl Default for Held {
    fn default() -> Self {
        Held::new()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.release();
    }
}

fn pread_all(file: &std::fs::File, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    buffer.clear();
    buffer.resize(4096, 0);
    let mut len = 0;
    loop {
        if len == buffer.len() {
            buffer.resize(len * 2, 0);
        }
        let asked = buffer.len() - len;
        let read = file.read_at(&mut buffer[len..], len as u64)?;
        len += read;
        if read == 0 || read < asked {
            break;
        }
    }
    buffer.truncate(len);
    Ok(())
}
