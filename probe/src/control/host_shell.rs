//! A shell on the probe's host in a pseudo-terminal, only with `--host-shell`.
//!
//! The terminal's master side is read and written without blocking through
//! tokio's `AsyncFd`, so a shell left open holds no thread of the blocking
//! pool the collectors run on.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::Mutex;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The host's shell, started interactive.
const SHELL: &str = "/bin/sh";

pub struct HostShell {
    master: AsyncFd<OwnedFd>,
    child: Mutex<std::process::Child>,
}

fn winsize(cols: u16, rows: u16) -> Winsize {
    Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 }
}

/// A new pseudo-terminal, as openpty(3) makes it: the master (close-on-exec, non-blocking)
/// and its slave (close-on-exec, not made the probe's controlling terminal).
fn open_pty() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    // TIOCGPTPEER (Linux 4.13) opens the slave without a path lookup; older kernels, by name.
    let slave =
        match rustix::pty::ioctl_tiocgptpeer(&master, OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC) {
            Ok(slave) => slave,
            Err(_) => {
                let name = rustix::pty::ptsname(&master, Vec::new())?;
                rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())?
            }
        };
    let flags = rustix::fs::fcntl_getfl(&master)?;
    rustix::fs::fcntl_setfl(&master, flags | OFlags::NONBLOCK)?;
    Ok((master, slave))
}

impl HostShell {
    /// Opens a terminal of `cols` × `rows` and starts the shell on it, in its own session.
    pub fn spawn(cols: u16, rows: u16) -> std::io::Result<HostShell> {
        let (master, slave) = open_pty()?;
        rustix::termios::tcsetwinsize(&master, winsize(cols.max(1), rows.max(1)))?;
        let mut command = std::process::Command::new(SHELL);
        command
            .arg("-i")
            .env("TERM", "xterm-256color")
            .current_dir("/")
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // `pre_exec` is unsafe by signature, and unavoidable here: the shell must be a
        // session leader with the terminal as its controlling terminal (job control, ^C, SIGHUP
        // on close), and setsid + TIOCSCTTY can only be done by the child itself, between fork and
        // exec; std's Command has no safe option for either.
        // SAFETY: the closure makes only two system calls (rustix's direct ones: async-signal-safe,
        // no allocation, no locks; an error becomes an io::Error by its code, unallocated): a new session, then the terminal (already on fd 0) becomes its
        // controlling terminal.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
                Ok(())
            });
        }
        let child = command.spawn()?;
        // tokio's register is unsafe by signature (it cannot check I/O safety for any AsRawFd).
        // SAFETY: `master` is an OwnedFd: open, and its raw descriptor never changes while it is held.
        let master = unsafe { AsyncFd::register_with_interest(master, Interest::READABLE | Interest::WRITABLE) }
            .map_err(std::io::Error::from)?;
        Ok(HostShell { master, child: Mutex::new(child) })
    }

    /// The next output; `None` once the shell has gone (the terminal reads EIO then).
    pub async fn read(&self) -> std::io::Result<Option<Vec<u8>>> {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let mut guard = self.master.readable().await?;
            match guard.try_io(|fd| Ok(rustix::io::read(fd, &mut buffer[..])?)) {
                Ok(Ok(0)) => return Ok(None),
                Ok(Ok(read)) => {
                    buffer.truncate(read);
                    return Ok(Some(buffer));
                }
                Ok(Err(error)) if error.raw_os_error() == Some(Errno::IO.raw_os_error()) => return Ok(None),
                Ok(Err(error)) => return Err(error),
                Err(_would_block) => continue,
            }
        }
    }

    pub async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.master.writable().await?;
            match guard.try_io(|fd| Ok(rustix::io::write(fd, data)?)) {
                Ok(Ok(written)) => data = &data[written..],
                Ok(Err(error)) => return Err(error),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    pub fn resize(&self, cols: u16, rows: u16) -> std::io::Result<()> {
        Ok(rustix::termios::tcsetwinsize(self.master.get_ref(), winsize(cols, rows))?)
    }

    /// The shell's exit code once it has exited.
    pub fn exit_code(&self) -> Option<i32> {
        let mut child = self.child.lock().ok()?;
        child.try_wait().ok().flatten().and_then(|status| status.code())
    }

    /// The exit code, waiting up to `patience` for it: the terminal reports
    /// its end (EIO) as the shell exits, a moment before the shell can be reaped.
    pub async fn exit_code_within(&self, patience: std::time::Duration) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(code) = self.exit_code() {
                return Some(code);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

impl Drop for HostShell {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            // The shell may have exited already; either way it is reaped here.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::HostShell;

    /// Reads the shell's output until it contains `text`; everything read so far.
    async fn read_until(shell: &HostShell, seen: &mut String, text: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !seen.contains(text) {
            let output = tokio::time::timeout_at(deadline, shell.read())
                .await
                .unwrap_or_else(|_| panic!("no {text:?} in {seen:?}"))
                .unwrap()
                .unwrap_or_else(|| panic!("the shell closed before {text:?}: {seen:?}"));
            seen.push_str(&String::from_utf8_lossy(&output));
        }
    }

    #[tokio::test]
    async fn the_shell_gets_a_tty_of_the_size_asked_and_resized_and_its_exit_closes_it() {
        let shell = HostShell::spawn(90, 20).unwrap();
        let mut seen = String::new();
        shell.write_all(b"tty; echo at-$((6*7)) $(stty size)\n").await.unwrap();
        read_until(&shell, &mut seen, "at-42 20 90").await;
        assert!(seen.contains("/dev/pts/"), "{seen}");

        // The shell is its session's leader and the terminal its controlling one.
        seen.clear();
        shell
            .write_all(
                b"[ \"$(ps -o sid= -p $$ | tr -d ' ')\" = $$ ] && echo leader-$((1+1)) ctty-$(ps -o tty= -p $$)\n",
            )
            .await
            .unwrap();
        read_until(&shell, &mut seen, "leader-2 ctty-pts/").await;

        shell.resize(120, 40).unwrap();
        seen.clear();
        shell.write_all(b"echo now-$(stty size | tr ' ' x)\n").await.unwrap();
        read_until(&shell, &mut seen, "now-40x120").await;

        shell.write_all(b"exit 3\n").await.unwrap();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), async { while shell.read().await.unwrap().is_some() {} })
                .await;
        assert!(closed.is_ok(), "the terminal did not close after exit");
        let code = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(code) = shell.exit_code() {
                    return code;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the shell exited");
        assert_eq!(code, 3);
    }
}
