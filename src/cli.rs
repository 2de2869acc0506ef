//! The command line's grammar: the subcommands (each one's own flags are in its module under
//! `commands/`) and the flags that several of them share.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use monorail_contract::board::Board;
use monorail_contract::target::Target;

use crate::commands;
use crate::error::{refused, CliError};
use crate::load::{load_board, load_target};

#[derive(Parser)]
#[command(
    name = "monorail",
    version,
    about = "Deterministic FPGA inference engines for llama2.c models",
    long_about = "Monorail loads llama2.c checkpoints and compiles them to a static instruction \
                  stream, memory images and an exact cycle count for a wide SIMD core that it \
                  generates for an FPGA; it runs them on a float reference (run.c's semantics), \
                  a bit-exact integer golden model, an instruction-set simulator and the \
                  Verilated core, checks them against each other step by step, and builds \
                  bitstreams for boards with open tools."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Generate text with an engine (the flags of llama2.c's run).
    #[command(allow_negative_numbers = true)]
    Run(commands::run::Args),
    /// Compile a model for a target into a bundle (program, memory images, manifest, listing).
    Compile(commands::compile::Args),
    /// Print a bundle's program as assembly text to edit: an instruction a line with its
    /// cycles at position 0, and `.checkpoint` marks where the model steps' values are complete.
    /// `monorail asm` reads it back.
    Disasm(commands::disasm::Args),
    /// Assemble a program text (`monorail disasm`'s, edited) into a bundle: checked as the
    /// compiler checks its own, its cycles predicted anew and printed beside the bundle's. Run
    /// it with `run --bundle` or `cosim --bundle`.
    Asm(commands::asm::Args),
    /// Generate the core for a target: its Verilog (module `top`), the memory images of a
    /// compiled model ($readmemh files, as compile writes them) and a report of what was made.
    Gen(commands::gen::Args),
    /// The built-in targets: each machine's lanes, clock and memories, its device's budget
    /// against what the core needs, and the boards that carry it.
    Targets,
    /// The built-in boards, or those named (built-in names or board files, each checked as
    /// `bitstream` checks it): the target each carries, its FPGA, clock, UART and pins.
    Boards(commands::boards::Args),
    /// Build a bitstream for a board with the pinned open tools: synthesis (yosys), place and
    /// route (nextpnr, seed pinned) and packing; says how far the tools are while they run (on
    /// stderr), then prints each step's time and log, the resources used, Fmax against the
    /// target's clock and the projected tokens per second. Everything is
    /// kept in build/bitstream/BOARD-HASH (with build.sh, which replays it) and reused while the
    /// inputs are the same.
    Bitstream(commands::bitstream::Args),
    /// Tell a story on a board over its UART (the host link, docs/boards.md): the prompt's tokens,
    /// then the board's own (greedy: the core's argmax). The board runs the bitstream `monorail
    /// bitstream` built for it, with the same model or, after `--load`, another of the same
    /// target. `--sim` talks to the board top in Verilator instead, bit by bit over its
    /// simulated pins.
    Chat(commands::chat::Args),
    /// Co-simulate: the golden model, the instruction-set simulator and the Verilated core token
    /// by token, every named model step's values and every step's cycles compared; PASS, or
    /// FAIL at the first divergence (exit status 1).
    Cosim(commands::cosim::Args),
    /// Compare the golden integer model with the float reference, teacher-forced.
    Fidelity(commands::fidelity::Args),
    /// Measure a model trained on the project's stories on their held-out split: the float
    /// model's loss and perplexity, the golden model's agreement with it (top-1, KL), and the
    /// share of grammatical sentences in the stories each writes. Exit status 1 when a target
    /// (97% agreement, 90% grammatical) is missed.
    Quality(commands::quality::Args),
    /// Write a seeded random checkpoint in llama2.c's legacy (v0) format.
    SynthModel(commands::synth_model::Args),
    /// Write the training set of the built-in model: seeded stories of the project's grammar
    /// (train and held-out splits), a BPE tokenizer trained on them and both splits as token ids.
    Corpus(commands::corpus::Args),
    /// Measure tokens per second of the float reference and the golden model, side by side, and
    /// with --target of the instruction-set simulator (and with --rtl the Verilated core).
    Bench(commands::bench::Args),
    /// Print the ISA manual (Markdown), generated from the instruction table.
    IsaManual,
    /// Remove generated files from the build folder (Verilated models, syntheses, routed designs
    /// and bitstreams, generated designs; `$MONORAIL_BUILD_DIR` or the checkout's build/), as
    /// `cargo clean` does: each is rebuilt when needed. Files of your own there stay.
    Clean(commands::clean::Args),
    /// The main job on the built-in model: the float reference, the golden model, and the
    /// compiled program on the simulated ulx3s-85f core, side by side.
    Demo(commands::demo::Args),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// The float reference, run.c's forward pass in float32 (on a Q8_0 checkpoint, on its
    /// dequantised weights with float activations: neither run.c nor runq.c, which quantises
    /// activations too).
    Float,
    /// The golden integer model (docs/numerics.md), bit-exact.
    Golden,
    /// The compiled program on the cycle-exact instruction-set simulator (of --target's machine,
    /// sim-tiny by default).
    Iss,
    /// The compiled program on the generated core of --target (sim-tiny by default), Verilated
    /// (Verilator: scripts/setup-tools.sh installs it).
    Rtl,
}

impl EngineKind {
    /// Whether the engine is a machine the model is compiled for (not one on the host).
    pub fn is_machine(self) -> bool {
        matches!(self, EngineKind::Iss | EngineKind::Rtl)
    }

    /// The engine's name as `--engine` spells it.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Float => "float",
            EngineKind::Golden => "golden",
            EngineKind::Iss => "iss",
            EngineKind::Rtl => "rtl",
        }
    }
}

/// The target when none is named.
pub const DEFAULT_TARGET: &str = "sim-tiny";

/// The machine flags shared by the commands that compile.
#[derive(clap::Args)]
pub struct MachineArgs {
    /// Target: a built-in name (`monorail targets` lists them) or a target file (.toml);
    /// default: sim-tiny.
    #[arg(long)]
    pub target: Option<String>,
    /// Positions served (the KV cache's length); default: the model's seq_len, or the most
    /// the target's memories hold when that is fewer.
    #[arg(long)]
    pub context: Option<usize>,
}

impl MachineArgs {
    pub fn target(&self) -> Result<Target, CliError> {
        load_target(self.target.as_deref().unwrap_or(DEFAULT_TARGET))
    }
}

/// The model and tokenizer flags shared by the commands.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// llama2.c checkpoint (legacy v0, ak42 v1 or v2 Q8_0), or the name of a built-in model
    /// (tales-260k, tales-nano, tales-pico); default: the built-in tales-260k, or on a machine
    /// that cannot hold it the first built-in model that it holds (tales-nano, then tales-pico).
    #[arg(long, short = 'm', value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// llama2.c tokenizer.bin of a --model file: needed where the command reads or writes text
    /// (a prompt, a story); compile, gen, bitstream and bench do without it (a bundle holds no
    /// tokenizer) and check it against the model when given. A built-in model has its own.
    #[arg(long, short = 'z', value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
}

/// The board flags shared by `bitstream` and `chat`.
#[derive(clap::Args)]
pub struct BoardArgs {
    /// Board: a built-in name (see `monorail boards`) or a board file (.toml, as in boards/),
    /// whose constraint file lies beside it or is a built-in one (docs/boards.md).
    #[arg(long)]
    pub board: String,
    /// The core the board carries instead of its own: a built-in target of the board's FPGA
    /// family or a target file (.toml); the board's FPGA takes the place of the target's
    /// `[device]`. `chat` needs the one `bitstream` was given.
    #[arg(long)]
    pub target: Option<String>,
    /// The core's clock in MHz instead of its target's (a fraction is allowed), made by the
    /// board's PLL from its oscillator; a clock the PLL cannot make exactly is refused. `chat`
    /// needs the one `bitstream` was given.
    #[arg(long, value_name = "MHZ", value_parser = megahertz)]
    pub clock: Option<u64>,
    /// The UART's speed; default: the board file's.
    #[arg(long)]
    pub baud: Option<u32>,
}

/// A clock in MHz, as whole Hz: above 0, at most the targets' fastest
/// ([`monorail_contract::target::CLOCK_HZ`]).
pub fn megahertz(text: &str) -> Result<u64, String> {
    let most_mhz = *monorail_contract::target::CLOCK_HZ.end() as f64 / 1e6;
    let mhz = amount(
        text,
        "MHz",
        |v| v > 0.0 && v <= most_mhz,
        &format!("above 0 and at most {most_mhz}"),
    )?;
    let hz = (mhz * 1e6).round();
    if (mhz * 1e6 - hz).abs() > 1e-3 {
        return Err("must be a whole number of Hz".into());
    }
    Ok(hz as u64)
}

impl BoardArgs {
    /// The board, carrying the target, with the core clock and the UART speed of the flags (a
    /// speed and a clock given together are checked together).
    pub fn board(&self) -> Result<Board, CliError> {
        let mut board = load_board(&self.board)?;
        if let Some(name) = &self.target {
            board = board
                .carrying(load_target(name)?)
                .map_err(|e| refused(e.to_string()))?;
        }
        let board = match (self.clock, self.baud) {
            (Some(clock_hz), baud) => {
                // The speed is checked at the new clock.
                if let Some(baud) = baud {
                    board.uart_baud = baud;
                }
                board.at_clock(clock_hz)
            }
            (None, Some(baud)) => board.at_baud(baud),
            (None, None) => Ok(board),
        };
        let board = board.map_err(|e| refused(e.to_string()))?;
        crate::load::check_top(&board, &self.board)?;
        Ok(board)
    }
}

/// The prompt flags shared by the commands.
#[derive(clap::Args)]
pub struct PromptArgs {
    /// Prompt text (encoded as run.c does: BOS, dummy-prefix space, merges; bytes that are not
    /// UTF-8 as run.c encodes them).
    #[arg(long, short = 'i', default_value = "")]
    pub prompt: std::ffi::OsString,
    /// Prompt as comma-separated token ids after BOS, instead of text.
    #[arg(long, value_name = "IDS", conflicts_with = "prompt")]
    pub prompt_tokens: Option<String>,
}

/// A number of `unit`s that `valid` accepts (`rule` says which), for flags such as
/// `--older-than DAYS` and `--time-limit MINUTES`: a fraction is allowed.
pub fn amount(
    text: &str,
    unit: &str,
    valid: impl Fn(f64) -> bool,
    rule: &str,
) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if valid(v) => Ok(v),
        Ok(_) => Err(format!("must be a number of {unit} {rule}")),
        Err(e) => Err(format!("{e}: a number of {unit}, such as 30 or 0.5")),
    }
}

/// Refuse a file to write (`flag PATH`) before any work when `path` names a folder or a path
/// through a file, where no file can be written (links followed).
pub fn output_file(flag: &str, path: &std::path::Path) -> Result<(), CliError> {
    let reached = monorail_model::checkpoint::through_links(path)
        .map_err(|e| refused(format!("{flag} {}: {e}", path.display())))?;
    if reached.is_dir() {
        Err(refused(format!(
            "{flag} {}: a folder, not a file to write: give a file's name",
            path.display()
        )))
    } else if let Some(file) = file_on_the_way(&reached) {
        Err(refused(format!(
            "{flag} {}: {} is a file, so no folder can be made under it: give another path",
            path.display(),
            file.display()
        )))
    } else {
        Ok(())
    }
}

/// The file among `path`'s folders, if one is (so that nothing can be made under it).
fn file_on_the_way(path: &std::path::Path) -> Option<&std::path::Path> {
    path.ancestors()
        .skip(1)
        .find(|a| !a.as_os_str().is_empty() && a.exists() && !a.is_dir())
}

/// Refuse `-o DIR` before any work when `dir` names something that is not a folder (a file, a
/// path through one, a link to nothing) or a folder that cannot be written (nor made), so that a
/// long build does not end on it; `holds` says what the folder is for.
pub fn output_folder(dir: &std::path::Path, holds: &str) -> Result<(), CliError> {
    // The path, or a folder on it, a link to nothing (or a loop of links).
    let dangling = dir
        .ancestors()
        .find(|a| !a.as_os_str().is_empty() && !a.exists() && a.symlink_metadata().is_ok());
    if let Some(link) = dangling {
        let to = std::fs::read_link(link).unwrap_or_default();
        Err(refused(format!(
            "-o {}: {} is a symbolic link to {}, which cannot be reached: give a folder for \
             {holds}",
            dir.display(),
            link.display(),
            to.display()
        )))
    } else if dir.exists() && !dir.is_dir() {
        Err(refused(format!(
            "-o {}: a file, not a folder for {holds}: give a folder (it is created when missing)",
            dir.display()
        )))
    } else if let Some(file) = file_on_the_way(dir) {
        Err(refused(format!(
            "-o {}: {} is a file, so no folder can be made under it: give another folder",
            dir.display(),
            file.display()
        )))
    } else {
        writable(dir, holds)
    }
}

/// Whether a folder can be made in `dir`'s nearest existing folder (`dir` itself where it
/// exists): one is made there and removed, as the command's own writes would need.
fn writable(dir: &std::path::Path, holds: &str) -> Result<(), CliError> {
    let Some(existing) = dir
        .ancestors()
        .find(|a| a.as_os_str().is_empty() || a.is_dir())
    else {
        return Ok(());
    };
    let existing = if existing.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        existing
    };
    let probe = existing.join(format!(".monorail-probe-{}", std::process::id()));
    let made = match std::fs::create_dir(&probe) {
        // (a run stopped between the two left it: it was made here, so this can be written)
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        made => made,
    };
    match made.and_then(|()| std::fs::remove_dir(&probe)) {
        Ok(()) => Ok(()),
        Err(e) => Err(refused(format!(
            "-o {}: nothing can be written in {}: {e}: give a folder you can write for {holds}",
            dir.display(),
            existing.display()
        ))),
    }
}
