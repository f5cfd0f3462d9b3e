//! Child `weir` processes started by a supervising `weir` (`weir cluster --local`, and `weir run`'s crash
//! supervisor): tying a child's life to its parent's, and a finished child's status in words and as an exit
//! code.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};

/// Makes the child started by `command` receive `signal` when this process dies (even by SIGKILL); a child
/// whose parent died before that was arranged exits at once.
pub(crate) fn dies_with_parent(command: &mut Command, signal: libc::c_int) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the child between fork and exec and calls only prctl(2), getppid(2) and
    // _exit(2), which are async-signal-safe; it touches no memory of the parent's.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// The parent this process had when it started (see [`supervisor_gone`]).
static PARENT: std::sync::OnceLock<libc::pid_t> = std::sync::OnceLock::new();

/// Notes this process's parent; call once at start.
pub(crate) fn note_parent() {
    // SAFETY: getppid(2) takes no arguments and cannot fail.
    let _ = PARENT.set(unsafe { libc::getppid() });
}

/// Whether the process that started this one has died (a supervisor killed, even by SIGKILL): this process
/// has been handed to another parent, and the pipes the supervisor read its output from are closed.
pub(crate) fn supervisor_gone() -> bool {
    // SAFETY: getppid(2) takes no arguments and cannot fail.
    PARENT.get().is_some_and(|p| *p != unsafe { libc::getppid() })
}

/// Points standard output and error at /dev/null, so that what the process still prints while it stops
/// cannot fail (`eprintln!` panics on a closed pipe, and a panicking thread would leave the stop hanging).
pub(crate) fn silence_output() {
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    use std::os::fd::AsRawFd;
    for fd in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
        // SAFETY: dup2(2) of an open descriptor (`null`, alive for the call) onto 1 or 2; it replaces
        // what they pointed at atomically, and no Rust object owns descriptors 1 and 2.
        unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
}

/// A failed process's end in words: its exit status, or the signal that killed it.
pub(crate) fn how_it_ended(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig} ({})", signal_name(sig)),
        (None, None) => "ended without a status".to_string(),
    }
}

/// The supervisor's own exit code for a failed process: its exit code, or 128 + the signal that killed it
/// (as a shell reports it).
pub(crate) fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code.clamp(0, 255) as u8,
        (None, Some(sig)) => (128 + sig).clamp(1, 255) as u8,
        (None, None) => 1,
    }
}

/// A signal's name, for the common ones.
pub(crate) fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        _ => "a signal",
    }
}

/// Sends `signal` to a child this process started and has not reaped.
pub(crate) fn signal_child(child: &std::process::Child, signal: libc::c_int) {
    // SAFETY: kill(2) with the pid of a child this process started and has not reaped (so the pid cannot have
    // been reused); no memory is passed.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
}
