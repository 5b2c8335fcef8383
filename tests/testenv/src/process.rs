//! Child processes that cannot outlive the test process, and cleanup of what
//! dead test processes left behind.

use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc;

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` so that the kernel kills it with SIGKILL when the test process
/// dies, however it dies (panic, SIGKILL, Ctrl-C).
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not
/// the process. Tokio runtimes and test threads come and go, so every child is
/// forked from one thread that lives as long as the process.
pub(crate) fn spawn_tied(mut cmd: Command) -> io::Result<Child> {
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec and only calls
    // async-signal-safe functions (prctl, getppid) without allocating.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::other("parent exited before exec"));
            }
            Ok(())
        });
    }
    match spawner() {
        Some(tx) => {
            let (reply_tx, reply_rx) = mpsc::channel();
            match tx.send((cmd, reply_tx)) {
                Ok(()) => reply_rx
                    .recv()
                    .unwrap_or_else(|_| Err(io::Error::other("spawner thread is gone"))),
                // The spawner thread is gone: fork from this thread instead.
                Err(mpsc::SendError((mut cmd, _))) => cmd.spawn(),
            }
        }
        None => cmd.spawn(),
    }
}

fn spawner() -> Option<&'static mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<SpawnRequest>();
            std::thread::Builder::new()
                .name("testenv-spawner".into())
                .spawn(move || {
                    for (mut cmd, reply) in rx {
                        let _ = reply.send(cmd.spawn());
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Kills and reaps a child, ignoring "already gone".
pub(crate) fn kill_and_wait(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The start time of a process (field 22 of `/proc/<pid>/stat`, in clock
/// ticks since boot). With the PID it names a process unambiguously, even
/// after the PID has been reused.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Name prefix of control plane directories: `cp-<pid>-<start time>-...`.
pub(crate) const DIR_PREFIX: &str = "cp-";

/// File in a control plane directory listing the PIDs of its processes.
pub(crate) const PIDS_FILE: &str = "pids";

/// Removes the directories (and kills the processes) of control planes whose
/// owning test process no longer exists. Best effort: errors are ignored, and
/// another test process doing the same at the same time is harmless.
pub(crate) fn clean_stale(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(DIR_PREFIX) else {
            continue;
        };
        let mut parts = rest.split('-');
        let (Some(Ok(pid)), Some(Ok(start))) = (
            parts.next().map(str::parse::<u32>),
            parts.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        if start_time(pid) == Some(start) {
            continue; // owner alive
        }
        let dir = entry.path();
        kill_listed(&dir);
        let _ = fs::remove_dir_all(&dir);
    }
}

/// Kills the processes listed in `dir/pids` that still run with `dir` on
/// their command line (so a reused PID is never hit).
fn kill_listed(dir: &Path) {
    let Ok(pids) = fs::read_to_string(dir.join(PIDS_FILE)) else {
        return;
    };
    let needle = dir.as_os_str().as_encoded_bytes();
    for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if cmdline.windows(needle.len()).any(|w| w == needle) {
            // SAFETY: plain syscall on a PID we just checked belongs to us.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}
