//! A wall clock a test sets for one process: Debian's libfaketime preloaded into it, reading
//! its offset from a file the test may rewrite while the process runs (to step the clock).
//! The monotonic clock is left alone (`FAKETIME_DONT_FAKE_MONOTONIC=1`), so only what the
//! process reads as the time of day is off, as on a node whose NTP is broken.
//!
//! ```no_run
//! # async fn f(bin: &std::path::Path, dir: &std::path::Path) -> testenv::Result<()> {
//! use testenv::clock::FakeClock;
//! use testenv::controller::Launch;
//! let mut clock = FakeClock::new(&dir.join("clock"), 300)?; // five minutes ahead
//! let _controller = clock.apply(Launch::new(bin).args(["run"])).start().await?;
//! clock.set(-300)?; // now five minutes behind, within a second
//! # Ok(()) }
//! ```
//!
//! What it cannot fake: a process that reads the time through the vDSO without calling
//! libc (Go binaries do; Rust's `std` calls `clock_gettime` of libc, so the controller sees
//! it). With `FAKETIME_DONT_FAKE_MONOTONIC=1`, libfaketime 0.9.10 refuses
//! `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` with EINVAL; Rust's `std` and tokio
//! sleep with relative timeouts (`nanosleep`, `epoll_wait`) and are not affected.

use std::path::{Path, PathBuf};

use crate::controller::Launch;
use crate::{Error, Result, io_err};

/// Where Debian and Ubuntu install libfaketime, per architecture; `$OPRUN_FAKETIME_LIB`
/// overrides.
const LIB_CANDIDATES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
    "/usr/local/lib/faketime/libfaketimeMT.so.1",
];

/// The multi-threaded libfaketime (`libfaketimeMT.so.1`, Debian package `faketime`).
pub fn library() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("OPRUN_FAKETIME_LIB").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(Error::Invalid(format!(
            "OPRUN_FAKETIME_LIB={} is not a file",
            path.display()
        )));
    }
    LIB_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "libfaketime not found (looked in {LIB_CANDIDATES:?}); install Debian's \
                 `faketime` package (scripts/test-all.sh does) or set OPRUN_FAKETIME_LIB"
            ))
        })
}

/// One process's wall clock: real time plus an offset in whole seconds, read from a file.
#[derive(Debug, Clone)]
pub struct FakeClock {
    file: PathBuf,
    library: PathBuf,
    offset: i64,
}

impl FakeClock {
    /// A clock `offset_secs` seconds off real time (negative: behind), kept in `file`.
    pub fn new(file: &Path, offset_secs: i64) -> Result<Self> {
        let mut clock = FakeClock {
            file: file.to_path_buf(),
            library: library()?,
            offset: 0,
        };
        clock.set(offset_secs)?;
        Ok(clock)
    }

    /// The offset it was last set to, in seconds.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Sets the offset to `offset_secs`: the processes using this clock see it within a
    /// second (libfaketime re-reads the file at most once a second). The file is replaced
    /// whole, so a process never reads half of it.
    pub fn set(&mut self, offset_secs: i64) -> Result<()> {
        let tmp = self.file.with_extension("tmp");
        crate::write_file(&tmp, format!("{offset_secs:+}\n"))?;
        std::fs::rename(&tmp, &self.file)
            .map_err(io_err(format!("replacing {}", self.file.display())))?;
        self.offset = offset_secs;
        Ok(())
    }

    /// `launch` with this clock preloaded.
    pub fn apply(&self, launch: Launch) -> Launch {
        launch
            .env("LD_PRELOAD", &self.library)
            .env("FAKETIME_TIMESTAMP_FILE", &self.file)
            .env("FAKETIME_CACHE_DURATION", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_written_signed() {
        let dir = std::env::temp_dir().join(format!("oprun-clock-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("clock");
        let mut clock = FakeClock {
            file: file.clone(),
            library: PathBuf::from("/nonexistent"),
            offset: 0,
        };
        clock.set(300).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "+300\n");
        clock.set(-600).unwrap();
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "-600\n");
        assert_eq!(clock.offset(), -600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
