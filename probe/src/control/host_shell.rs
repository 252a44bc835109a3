//! A shell on the probe's host in a pseudo-terminal, only with `--host-shell`.
//!
//! The terminal's master side is read and written without blocking through
//! tokio's `AsyncFd`, so a shell left open holds no thread of the blocking
//! pool the collectors run on.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::Mutex;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The host's shell, started interactive.
const SHELL: &str = "/bin/sh";

pub struct HostShell {
    master: AsyncFd<OwnedFd>,
    child: Mutex<std::process::Child>,
}

fn check(result: libc::c_int) -> std::io::Result<libc::c_int> {
    if result < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

impl HostShell {
    /// Opens a terminal of `cols` × `rows` and starts the shell on it, in its own session.
    pub fn spawn(cols: u16, rows: u16) -> std::io::Result<HostShell> {
        let size = libc::winsize { ws_row: rows.max(1), ws_col: cols.max(1), ws_xpixel: 0, ws_ypixel: 0 };
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two descriptors into the ints we pass; name and termios may be null.
        check(unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) })?;
        // SAFETY: openpty succeeded, so both are open descriptors that we now own.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        // SAFETY: plain fcntl calls on a descriptor we own.
        unsafe {
            check(libc::fcntl(master.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC))?;
            let flags = check(libc::fcntl(master.as_raw_fd(), libc::F_GETFL))?;
            check(libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK))?;
        }
        let mut command = std::process::Command::new(SHELL);
        command
            .arg("-i")
            .env("TERM", "xterm-256color")
            .current_dir("/")
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec: a new session, then the
        // terminal (already on fd 0) becomes its controlling terminal.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                check(libc::setsid())?;
                check(libc::ioctl(0, libc::TIOCSCTTY, 0))?;
                Ok(())
            });
        }
        let child = command.spawn()?;
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
            let result = guard.try_io(|fd| {
                // SAFETY: reads into a buffer valid for its length.
                let read = unsafe { libc::read(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
                if read < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(read as usize)
                }
            });
            match result {
                Ok(Ok(0)) => return Ok(None),
                Ok(Ok(read)) => {
                    buffer.truncate(read);
                    return Ok(Some(buffer));
                }
                Ok(Err(error)) if error.raw_os_error() == Some(libc::EIO) => return Ok(None),
                Ok(Err(error)) => return Err(error),
                Err(_would_block) => continue,
            }
        }
    }

    pub async fn write_all(&self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.master.writable().await?;
            let result = guard.try_io(|fd| {
                // SAFETY: writes from a slice valid for its length.
                let written = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
                if written < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(written as usize)
                }
            });
            match result {
                Ok(Ok(written)) => data = &data[written..],
                Ok(Err(error)) => return Err(error),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    pub fn resize(&self, cols: u16, rows: u16) -> std::io::Result<()> {
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer we pass.
        check(unsafe { libc::ioctl(self.master.get_ref().as_raw_fd(), libc::TIOCSWINSZ, &size) }).map(drop)
    }

    /// The shell's exit code once it has exited.
    pub fn exit_code(&self) -> Option<i32> {
        let mut child = self.child.lock().ok()?;
        child.try_wait().ok().flatten().and_then(|status| status.code())
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
