//! `monorail`: the command line. Thin by design: it parses flags, calls the workspace crates and
//! reports their errors with context. Exit status 2 means the input was refused (bad file, bad
//! flag), 1 that something else failed.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use monorail_compiler::{compile, CompileOptions};
use monorail_contract::board::Board;
use monorail_contract::model_config::ModelConfig;
use monorail_contract::steps::ModelStep;
use monorail_contract::target::{Family, RawTarget, Target, VectorMemory};
use monorail_hw::board::{board_top, TopFor};
use monorail_model::builtin;
use monorail_model::checkpoint::{self, Checkpoint};
use monorail_model::corpus;
use monorail_model::engine::StepOutput;
use monorail_model::engine::{generate, Engine};
use monorail_model::fidelity::{compare, Fidelity};
use monorail_model::float::FloatModel;
use monorail_model::golden::GoldenModel;
use monorail_model::quality::{self, Quality, QualityOptions};
use monorail_model::quant::QuantModel;
use monorail_model::sampler::SamplerOptions;
use monorail_model::synth;
use monorail_model::tokenizer::{Tokenizer, BOS};
use monorail_model::ModelError;
use monorail_sim::board::BoardSim;
use monorail_sim::cosim::Cosim;
use monorail_sim::link::{load_plan, ByteLink, HostLink, SerialLink};
use monorail_sim::rtl::Rtl;
use monorail_sim::verilated::Waveforms;
use monorail_sim::{Iss, Machine, MachineError};

/// Prompt of `monorail demo`.
const DEMO_PROMPT: &str = "Once upon a time, there was a girl named Lily.";
/// Target of `monorail demo`.
const DEMO_TARGET: &str = "ulx3s-85f";

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
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EngineKind {
    /// The float reference, run.c's forward pass in float32.
    Float,
    /// The golden integer model (docs/numerics.md), bit-exact.
    Golden,
    /// The compiled program on the cycle-exact instruction-set simulator (needs --target).
    Iss,
    /// The compiled program on the generated core, Verilated (needs --target, and Verilator:
    /// scripts/setup-tools.sh installs it).
    Rtl,
}

/// The machine flags shared by the commands that compile.
#[derive(clap::Args)]
struct MachineArgs {
    /// Target: a built-in name (sim-tiny, ulx3s-85f, ecp5-45f, ecp5-25f, ecp5-12f, gw2a-18,
    /// gw1n-9, icebreaker) or a target file (.toml); default: sim-tiny.
    #[arg(long)]
    target: Option<String>,
    /// Positions served (the KV cache's length); default: the model's seq_len.
    #[arg(long)]
    context: Option<usize>,
}

impl MachineArgs {
    fn target(&self) -> Result<Target, CliError> {
        load_target(self.target.as_deref().unwrap_or(DEFAULT_TARGET))
    }
}

/// The target when none is named.
const DEFAULT_TARGET: &str = "sim-tiny";

/// The model and tokenizer flags shared by the commands.
#[derive(clap::Args)]
struct ModelArgs {
    /// llama2.c checkpoint (legacy v0, ak42 v1 or v2 Q8_0), or the name of a built-in model
    /// (tales-260k, tales-nano); default: the built-in tales-260k, or on a machine that cannot
    /// hold it the first built-in model that it holds (tales-nano).
    #[arg(long, short = 'm', value_name = "FILE")]
    model: Option<PathBuf>,
    /// llama2.c tokenizer.bin (required with --model; the built-in model has its own).
    #[arg(long, short = 'z', value_name = "FILE")]
    tokenizer: Option<PathBuf>,
}

/// The board flags shared by `bitstream` and `chat`.
#[derive(clap::Args)]
struct BoardArgs {
    /// Board: a built-in name (see `monorail boards`).
    #[arg(long)]
    board: String,
    /// The core the board carries instead of its own: a built-in target of the board's FPGA
    /// family or a target file (.toml); the board's FPGA takes the place of the target's
    /// `[device]`. `chat` needs the one `bitstream` was given.
    #[arg(long)]
    target: Option<String>,
}

impl BoardArgs {
    fn board(&self) -> Result<Board, CliError> {
        let board = Board::builtin(&self.board).map_err(|e| refused(e.to_string()))?;
        match &self.target {
            None => Ok(board),
            Some(name) => board
                .carrying(load_target(name)?)
                .map_err(|e| refused(e.to_string())),
        }
    }
}

/// The prompt flags shared by the commands.
#[derive(clap::Args)]
struct PromptArgs {
    /// Prompt text (encoded as run.c does: BOS, dummy-prefix space, merges).
    #[arg(long, short = 'i', default_value = "")]
    prompt: String,
    /// Prompt as comma-separated token ids after BOS, instead of text.
    #[arg(long, value_name = "IDS", conflicts_with = "prompt")]
    prompt_tokens: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text with an engine (the flags of llama2.c's run).
    #[command(allow_negative_numbers = true)]
    Run {
        /// Which engine computes the forward pass.
        #[arg(long, short = 'e', value_enum, default_value = "float")]
        engine: EngineKind,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        prompt: PromptArgs,
        #[command(flatten)]
        machine: MachineArgs,
        /// Number of steps (positions) to run, prompt included; 0 means the model's seq_len.
        #[arg(long, short = 'n', default_value_t = 256)]
        steps: usize,
        /// Temperature; 0 is greedy.
        #[arg(long, short = 't', default_value_t = 1.0)]
        temperature: f32,
        /// Top-p (nucleus) threshold in [0, 1]; 0 or 1 samples from the whole distribution.
        #[arg(long, short = 'p', default_value_t = 0.9)]
        topp: f32,
        /// Seed of the sampler's random number generator (non-zero).
        #[arg(long, short = 's', default_value_t = 1)]
        seed: u64,
        /// Print {"tokens": [...], "text": "..."} instead of the text.
        #[arg(long)]
        json: bool,
    },
    /// Compile a model for a target into a bundle (program, memory images, manifest, listing).
    Compile {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        machine: MachineArgs,
        /// Output folder for the bundle.
        #[arg(long, short = 'o', value_name = "DIR")]
        output: PathBuf,
        /// Also draw one token step as an SVG timeline (a row per unit, time across).
        #[arg(long, value_name = "FILE.svg")]
        timeline: Option<PathBuf>,
        /// Position of the token step the timeline draws.
        #[arg(long, default_value_t = 0)]
        timeline_position: usize,
    },
    /// Generate the core for a target: its Verilog (module `top`), the memory images of a
    /// compiled model ($readmemh files, as compile writes them) and a report of what was made.
    Gen {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        machine: MachineArgs,
        /// Output folder; default: build/gen/TARGET-HASH (HASH: of the files written).
        #[arg(long, short = 'o', value_name = "DIR")]
        output: Option<PathBuf>,
    },
    /// The built-in boards: the target each carries, its FPGA, clock, UART and pins.
    Boards,
    /// Build a bitstream for a board with the pinned open tools: synthesis (yosys), place and
    /// route (nextpnr, seed pinned) and packing; says how far the tools are while they run (on
    /// stderr), then prints each step's time and log, the resources used, Fmax against the
    /// target's clock and the projected tokens per second. Everything is
    /// kept in build/bitstream/BOARD-HASH (with build.sh, which replays it) and reused while the
    /// inputs are the same.
    Bitstream {
        #[command(flatten)]
        board: BoardArgs,
        #[command(flatten)]
        model: ModelArgs,
        /// Positions served (the KV cache's length); default: the longest the target holds.
        #[arg(long)]
        context: Option<usize>,
        /// Copy the bitstream and nextpnr's report here too.
        #[arg(long, short = 'o', value_name = "DIR")]
        output: Option<PathBuf>,
        /// Fail (exit status 1) when Fmax is below the target's clock.
        #[arg(long)]
        strict_timing: bool,
        /// nextpnr's placement seed.
        #[arg(long, default_value_t = monorail_fpga::bitstream::DEFAULT_SEED)]
        seed: u64,
        /// The UART's speed; default: the board file's.
        #[arg(long)]
        baud: Option<u32>,
    },
    /// Tell a story on a board over its UART (the host link, docs/boards.md): the prompt's tokens,
    /// then the board's own (greedy: the core's argmax). The board runs the bitstream `monorail
    /// bitstream` built for it, with the same model or, after `--load`, another of the same
    /// target. `--sim` talks to the board top in Verilator instead, bit by bit over its
    /// simulated pins.
    Chat {
        #[command(flatten)]
        board: BoardArgs,
        /// The board's serial port (/dev/ttyUSB0, /dev/ttyACM0, ...).
        #[arg(long, required_unless_present = "sim", conflicts_with = "sim")]
        port: Option<String>,
        /// Talk to the simulated board (Verilator) instead of a real one.
        #[arg(long)]
        sim: bool,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        prompt: PromptArgs,
        /// Positions to run, prompt included (0: as many as the board's cache holds).
        #[arg(long, short = 'n', default_value_t = 0)]
        steps: usize,
        /// Positions served (the KV cache's length) as the bitstream was built; default: the
        /// longest the target holds.
        #[arg(long)]
        context: Option<usize>,
        /// The UART's speed; default: the board file's.
        #[arg(long)]
        baud: Option<u32>,
        /// Load the model's weights, vector image and program over the UART first (for a
        /// bitstream built with another model of the same target).
        #[arg(long)]
        load: bool,
    },
    /// Co-simulate: the golden model, the instruction-set simulator and the Verilated core token
    /// by token, every named model step's values and every step's cycles compared; PASS, or
    /// FAIL at the first divergence (exit status 1).
    Cosim {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        prompt: PromptArgs,
        #[command(flatten)]
        machine: MachineArgs,
        /// Positions to run, prompt included (then greedily); at most the bundle's context.
        #[arg(long, short = 'n', default_value_t = 16)]
        steps: usize,
        /// On a divergence, write the core's waveform of the diverging token step here (VCD).
        #[arg(long, value_name = "FILE.vcd")]
        waves: Option<PathBuf>,
        /// Inject a fault into the core, to see the checker catch it: `lane=N` (matrix lane N's
        /// products off by one bit) or `latency=N` (the sequencer counts N cycles too few for
        /// the vector unit).
        #[arg(long, value_name = "FAULT")]
        inject: Option<String>,
    },
    /// Compare the golden integer model with the float reference, teacher-forced.
    Fidelity {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        prompt: PromptArgs,
        /// Length of the compared sequence: the prompt continued greedily by the float model.
        #[arg(long, short = 'n', default_value_t = 128)]
        steps: usize,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure a model trained on the project's stories on their held-out split: the float
    /// model's loss and perplexity, the golden model's agreement with it (top-1, KL), and the
    /// share of grammatical sentences in the stories each writes. Exit status 1 when a target
    /// (97% agreement, 90% grammatical) is missed.
    Quality {
        #[command(flatten)]
        model: ModelArgs,
        /// Seed of the corpus the model was trained on; default: the built-in model's.
        #[arg(long)]
        corpus_seed: Option<u64>,
        /// Held-out stories fed teacher-forced.
        #[arg(long, default_value_t = 100)]
        stories: usize,
        /// Continuations each model writes (half greedy, half sampled).
        #[arg(long, default_value_t = 200)]
        continuations: usize,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a seeded random checkpoint in llama2.c's legacy (v0) format.
    SynthModel {
        /// nano, stories260k, stories15m, or dim=..,hidden=..,layers=..,heads=..,kv_heads=..,vocab=..,seq=..[,shared=false]
        #[arg(long)]
        shape: String,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output checkpoint.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        /// Also write the built-in tokenizer for this vocabulary size.
        #[arg(long, value_name = "FILE")]
        tokenizer_out: Option<PathBuf>,
    },
    /// Write the training set of the built-in model: seeded stories of the project's grammar
    /// (train and held-out splits), a BPE tokenizer trained on them and both splits as token ids.
    Corpus {
        /// The generator's seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Stories in the train split.
        #[arg(long, default_value_t = 100_000)]
        stories: usize,
        /// Stories in the held-out split.
        #[arg(long, default_value_t = 2_000)]
        heldout_stories: usize,
        /// Tokens of the tokenizer (llama2.c's 3 special and 256 byte tokens included).
        #[arg(long, default_value_t = 512)]
        vocab: usize,
        /// Output folder.
        #[arg(long, short = 'o', value_name = "DIR")]
        output: PathBuf,
    },
    /// Measure tokens per second of the float reference and the golden model, side by side, and
    /// with --target of the instruction-set simulator (and with --rtl the Verilated core).
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        /// Also run the compiled program on the instruction-set simulator for this target.
        #[arg(long)]
        target: Option<String>,
        /// Positions the compiled program serves (with --target).
        #[arg(long)]
        context: Option<usize>,
        /// Also run the compiled program on the Verilated core of the target (with --target).
        #[arg(long, requires = "target")]
        rtl: bool,
        /// Positions to run (greedy, from BOS); 0 means the model's seq_len.
        #[arg(long, short = 'n', default_value_t = 0)]
        steps: usize,
        /// Repetitions; the best of them is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
    },
    /// Print the ISA manual (Markdown), generated from the instruction table.
    IsaManual,
    /// Remove generated files from the build folder (Verilated models, syntheses, routed designs
    /// and bitstreams, generated designs; `$MONORAIL_BUILD_DIR` or the checkout's build/), as
    /// `cargo clean` does: each is rebuilt when needed. Files of your own there stay.
    Clean {
        /// Only what was made more than this many days ago.
        #[arg(long, value_name = "DAYS")]
        older_than: Option<u64>,
        /// List what would go, and remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The main job on the built-in model: the float reference, the golden model, and the
    /// compiled program on the simulated ulx3s-85f core, side by side.
    Demo {
        /// Positions to generate, prompt included (the story may end before); at most the
        /// ulx3s-85f core's context.
        #[arg(long, short = 'n', default_value_t = 128)]
        steps: usize,
    },
}

/// An error for the user, with the exit status it deserves.
struct CliError {
    code: u8,
    message: String,
}

impl From<ModelError> for CliError {
    fn from(e: ModelError) -> CliError {
        CliError {
            code: 2,
            message: e.to_string(),
        }
    }
}

fn refused(message: impl Into<String>) -> CliError {
    CliError {
        code: 2,
        message: message.into(),
    }
}

/// A model with its tokenizer and a name for reports.
struct Loaded {
    checkpoint: Checkpoint,
    tokenizer: Tokenizer,
    name: String,
    /// The built-in model it is, if it is one.
    builtin: Option<&'static builtin::BuiltinModel>,
}

/// What a compilation made: instructions, context, memory use, cycles per token and how far
/// they are from the MAC bound; one line each. `context_chosen` says the context was the
/// default (the longest the target holds, up to seq_len).
fn compile_summary(
    loaded: &Loaded,
    target: &Target,
    compiled: &monorail_compiler::Compiled,
    context_chosen: bool,
) -> Vec<String> {
    let m = &compiled.bundle.manifest;
    let config = &loaded.checkpoint.config;
    let cycles = &m.predicted_cycles;
    let bound = |pos: usize| config.macs_per_token(pos) as f64 / target.lanes as f64;
    let positions = cycles.len().min(256);
    let ratio = (0..positions)
        .map(|p| cycles[p] as f64 / bound(p))
        .sum::<f64>()
        / positions as f64;
    let used = |memory: &str| -> usize {
        m.regions
            .iter()
            .filter(|r| r.memory == memory)
            .map(|r| r.size as usize)
            .sum()
    };
    let vector_use: Vec<String> = VectorMemory::ALL
        .iter()
        .map(|&vm| {
            format!(
                "{} {} / {}",
                vm.name(),
                used(vm.name()),
                target.range_of(vm).len()
            )
        })
        .collect();
    let clamped = if context_chosen && m.context < config.seq_len {
        format!(
            " (the most {} holds; the model's seq_len is {})",
            target.name, config.seq_len
        )
    } else {
        String::new()
    };
    let mut lines = vec![format!(
        "{} instructions, context {} positions{clamped}; matrix memory {} / {} words; elements of {}",
        m.instructions,
        m.context,
        used("matrix"),
        target.matrix_words(),
        vector_use.join(", ")
    )];
    for pos in [0, cycles.len() / 2, cycles.len() - 1] {
        let [mxu, vxu, sxu] = monorail_compiler::timeline::busy(&compiled.code, target, pos);
        lines.push(format!(
            "position {pos}: {} cycles; busy: matrix unit {mxu}, vector unit {vxu}, scalar unit {sxu}; MAC bound {:.0}",
            cycles[pos],
            bound(pos)
        ));
    }
    lines.push(format!(
        "cycles per token: {} at position 0, {} at position {}; {:.2}x the MAC bound on average over positions 0..{positions}",
        cycles[0],
        cycles[cycles.len() - 1],
        cycles.len() - 1,
        ratio
    ));
    lines
}

/// Where a token step's unit time goes at the middle position of the context: per model step
/// (all layers), its instructions, the cycles each unit is busy with them and the cycles they
/// take of the longest dependence chain; then that chain against the schedule.
fn step_table(target: &Target, compiled: &monorail_compiler::Compiled) -> Vec<String> {
    let cycles = &compiled.bundle.manifest.predicted_cycles;
    let chain = &compiled.chain;
    // The middle of the context, where the schedule measured the chain.
    let pos = chain.position;
    let rows = monorail_compiler::timeline::busy_by_step(&compiled.code, target, pos);
    let mut lines = vec![
        format!("busy cycles by model step at position {pos} (all layers), and their part of the longest dependence chain:"),
        format!(
            "{:<12} {:>12} {:>12} {:>12} {:>12} {:>12}",
            "step", "instructions", "matrix unit", "vector unit", "scalar unit", "chain"
        ),
    ];
    for r in rows {
        let [mxu, vxu, sxu] = r.busy;
        let on_chain = chain
            .by_step
            .iter()
            .find(|(step, _)| *step == r.step)
            .map_or(0, |&(_, c)| c);
        lines.push(format!(
            "{:<12} {:>12} {mxu:>12} {vxu:>12} {sxu:>12} {on_chain:>12}",
            r.step.name(),
            r.instructions
        ));
    }
    lines.push(format!(
        "longest dependence chain at position {pos}: {} cycles through {} instructions, the fewest any schedule of this program could take; this one takes {} ({:.2}x)",
        chain.cycles,
        chain.links.len(),
        cycles[pos],
        cycles[pos] as f64 / chain.cycles.max(1) as f64
    ));
    let o = monorail_compiler::timeline::occupation(&compiled.code, target, pos);
    lines.push(format!(
        "of its {} cycles, the vector unit is busy {}, the matrix unit works alone {} and neither works {} (latencies, scalar steps)",
        cycles[pos], o.vector, o.matrix_alone, o.neither
    ));
    let by_instruction: Vec<String> = monorail_compiler::timeline::busy_by_instruction(
        &compiled.code,
        target,
        pos,
        monorail_contract::isa::Unit::Vxu,
    )
    .iter()
    .map(|(mnemonic, n, busy)| format!("{mnemonic} {busy} ({n})"))
    .collect();
    lines.push(format!(
        "the vector unit's busy cycles by instruction (how many): {}",
        by_instruction.join(", ")
    ));
    lines
}

/// Where `monorail gen` wrote, and whether the folder already held the same files.
struct Written {
    dir: PathBuf,
    reused: bool,
}

/// Write the design (`top.v`), the bundle's files and `report.txt` into `output`, or, without
/// it, into `build/gen/TARGET-HASH` (HASH of the files; kept when it exists: the same inputs give
/// the same bytes). Files are written whole (a temporary name, then renamed).
fn write_design(
    design: &monorail_hw::Design,
    bundle: &monorail_contract::bundle::Bundle,
    target: &Target,
    report: &[String],
    output: Option<PathBuf>,
    (root, name): (&std::path::Path, &str),
) -> Result<Written, String> {
    let write_into = |dir: &std::path::Path| -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        bundle.write(dir, target).map_err(|e| e.to_string())?;
        checkpoint::write_atomically(&dir.join("top.v"), design.verilog.as_bytes())
            .map_err(|e| e.to_string())?;
        let text: String = report.iter().map(|l| format!("{l}\n")).collect();
        checkpoint::write_atomically(&dir.join("report.txt"), text.as_bytes())
            .map_err(|e| e.to_string())
    };
    if let Some(dir) = output {
        write_into(&dir)?;
        return Ok(Written { dir, reused: false });
    }
    // Write beside the final folder, hash what was written, then move it into place.
    let staging = root.join(format!(".{name}-{}.partial", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    write_into(&staging)?;
    let mut names: Vec<_> = std::fs::read_dir(&staging)
        .map_err(|e| format!("{}: {e}", staging.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for name in &names {
        let bytes = std::fs::read(staging.join(name)).map_err(|e| e.to_string())?;
        for b in name.to_string_lossy().bytes().chain([0]).chain(bytes) {
            hash = (hash ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    let dir = root.join(format!("{name}-{hash:016x}"));
    if dir.is_dir() {
        let _ = std::fs::remove_dir_all(&staging);
        return Ok(Written { dir, reused: true });
    }
    std::fs::rename(&staging, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(Written { dir, reused: false })
}

fn load_builtin(model: &'static builtin::BuiltinModel) -> Result<Loaded, CliError> {
    let (checkpoint, tokenizer) = model.load()?;
    Ok(Loaded {
        checkpoint,
        tokenizer,
        name: format!("built-in {} ({})", model.name, model.description),
        builtin: Some(model),
    })
}

/// [`load`] for a machine: without `--model`, the first built-in model (the default first) that
/// `target` holds, so that `--target ecp5-25f` or `--board ulx3s-45f` alone takes the nano model
/// instead of refusing the default.
fn load_for(args: &ModelArgs, target: &Target) -> Result<Loaded, CliError> {
    if args.model.is_some() || args.tokenizer.is_some() {
        return load(args);
    }
    let mut refusals = Vec::new();
    for model in &builtin::MODELS {
        let loaded = load_builtin(model)?;
        let quant = QuantModel::quantize(&loaded.checkpoint);
        match compile(&quant, target, CompileOptions::default()) {
            Ok(_) => return Ok(loaded),
            Err(e) => refusals.push(format!("{}: {e}", model.name)),
        }
    }
    Err(refused(format!(
        "no built-in model fits target {} (give one with --model): {}",
        target.name,
        refusals.join("; ")
    )))
}

fn load(args: &ModelArgs) -> Result<Loaded, CliError> {
    match (&args.model, &args.tokenizer) {
        (None, None) => load_builtin(builtin::default_model()),
        (Some(name), None)
            if !name.exists() && builtin::by_name(&name.to_string_lossy()).is_some() =>
        {
            load_builtin(builtin::by_name(&name.to_string_lossy()).expect("checked"))
        }
        (None, Some(_)) => Err(refused(
            "--tokenizer was given without --model; the built-in model has its own tokenizer",
        )),
        (Some(model), tokenizer) => {
            let checkpoint = checkpoint::load(model)?;
            let tokenizer = match tokenizer {
                Some(path) => Tokenizer::load(path, checkpoint.config.vocab_size).map_err(|e| {
                    refused(format!(
                        "{e} (tokenizer for model {}, vocabulary of {} tokens)",
                        model.display(),
                        checkpoint.config.vocab_size
                    ))
                })?,
                None => {
                    return Err(refused(format!(
                        "{}: give its tokenizer with -z FILE (llama2.c's tokenizer.bin)",
                        model.display()
                    )))
                }
            };
            Ok(Loaded {
                checkpoint,
                tokenizer,
                name: model.display().to_string(),
                builtin: None,
            })
        }
    }
}

fn prompt_tokens(args: &PromptArgs, loaded: &Loaded) -> Result<Vec<u32>, CliError> {
    let vocab = loaded.checkpoint.config.vocab_size;
    match &args.prompt_tokens {
        Some(ids) => {
            let mut tokens = vec![BOS];
            for item in ids.split(',').filter(|s| !s.trim().is_empty()) {
                let id: u32 = item
                    .trim()
                    .parse()
                    .map_err(|_| refused(format!("--prompt-tokens: `{item}` is not a token id")))?;
                if id as usize >= vocab {
                    return Err(refused(format!(
                        "--prompt-tokens: token {id} is outside the model's vocabulary of {vocab} tokens"
                    )));
                }
                tokens.push(id);
            }
            Ok(tokens)
        }
        None => Ok(loaded.tokenizer.encode(&args.prompt, true, false)?),
    }
}

/// A built-in target by name, or a target file.
fn load_target(name: &str) -> Result<Target, CliError> {
    if name.ends_with(".toml") {
        let text = std::fs::read_to_string(name).map_err(|e| refused(format!("{name}: {e}")))?;
        RawTarget::parse(&text)
            .and_then(|raw| raw.validate())
            .map_err(|e| refused(format!("{name}: {e}")))
    } else {
        Target::builtin(name).map_err(|e| refused(e.to_string()))
    }
}

/// A host engine: the float reference, or the golden model (whose numerics the machines share).
fn engine(kind: EngineKind, checkpoint: Checkpoint) -> Box<dyn Engine> {
    match kind {
        EngineKind::Float => Box::new(FloatModel::new(checkpoint)),
        EngineKind::Golden | EngineKind::Iss | EngineKind::Rtl => {
            Box::new(GoldenModel::new(QuantModel::quantize(&checkpoint)))
        }
    }
}

/// A machine behind the engine interface: its token is the on-chip argmax, its logits the
/// dequantised `classifier` values (for sampling on the host).
struct MachineEngine<M: Machine> {
    machine: M,
    config: ModelConfig,
    logits: Vec<f32>,
    /// The folder the machine's memory images were read from (the RTL's), kept while it runs.
    _images: Option<tempfile::TempDir>,
}

impl<M: Machine> Engine for MachineEngine<M> {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn step(&mut self, token: u32, pos: usize) -> Result<StepOutput<'_>, ModelError> {
        let result = self
            .machine
            .step(token, pos)
            .map_err(|e: MachineError| ModelError::Invalid(format!("machine: {e}")))?;
        if let Some(v) = result
            .values
            .iter()
            .find(|v| v.step == ModelStep::Classifier)
        {
            let unit = monorail_contract::numerics::pow2(v.exps[0]);
            for (l, &m) in self.logits.iter_mut().zip(&v.mant) {
                *l = (m as f64 * unit) as f32;
            }
        }
        Ok(StepOutput {
            logits: &self.logits,
            argmax: result.next,
        })
    }
}

/// A machine engine: the compiled program on the instruction-set simulator or the Verilated
/// RTL, with the predicted cycles at every position, and (for the RTL) the seconds its Verilated
/// model took to build (0 when an earlier build was reused).
struct MachineRun {
    engine: Box<dyn Engine>,
    predicted: Vec<u64>,
    build_seconds: Option<f64>,
}

/// Compile the model for the target and load it into the instruction-set simulator (`kind`
/// Iss) or the Verilated core (Rtl). The engine's `seq_len` is the bundle's context, so
/// generation stops there as run.c stops at `seq_len`. `logits`: record the classifier's values
/// (for sampling); without them the machine's own argmax is the token.
fn machine_engine(
    loaded: &Loaded,
    machine: &MachineArgs,
    kind: EngineKind,
    logits: bool,
) -> Result<MachineRun, CliError> {
    // The engine serves the bundle's context; its predicted cycles come along for the figures.
    let run = |bundle: &monorail_contract::bundle::Bundle| {
        let config = ModelConfig {
            seq_len: bundle.manifest.context,
            ..loaded.checkpoint.config
        };
        (config, bundle.manifest.predicted_cycles.clone())
    };
    if kind == EngineKind::Rtl {
        let start = Instant::now();
        let prepared = prepare_cosim(loaded, machine, &[], Waveforms::Off, &|| {})?;
        let build_seconds = if prepared.build.built {
            start.elapsed().as_secs_f64()
        } else {
            0.0
        };
        let (config, predicted) = run(&prepared.bundle);
        let mut rtl = Rtl::load(
            &prepared.target,
            prepared.bundle,
            &prepared.build,
            prepared.images.path(),
        )
        .map_err(|e| CliError {
            code: 1,
            message: e.to_string(),
        })?;
        if logits {
            rtl.record_only(&[ModelStep::Classifier]);
        }
        let engine = Box::new(MachineEngine {
            machine: rtl,
            logits: vec![0.0; config.vocab_size],
            config,
            _images: Some(prepared.images),
        });
        return Ok(MachineRun {
            engine,
            predicted,
            build_seconds: Some(build_seconds),
        });
    }
    let (target, _, compiled) = compile_for(loaded, machine.target()?, machine.context)?;
    let (config, predicted) = run(&compiled.bundle);
    let mut iss = Iss::new(target, compiled.bundle).map_err(|e| refused(e.to_string()))?;
    // Only the logits are needed here (for sampling).
    iss.record_only(&[ModelStep::Classifier]);
    let engine = Box::new(MachineEngine {
        machine: iss,
        logits: vec![0.0; config.vocab_size],
        config,
        _images: None,
    });
    Ok(MachineRun {
        engine,
        predicted,
        build_seconds: None,
    })
}

/// Cycles of the waveform `cosim --waves` writes before and after the divergence.
const WAVE_CYCLES_BEFORE: u64 = 200;
const WAVE_CYCLES_AFTER: u64 = 20;

/// Co-simulate `steps` positions of `loaded` from `tokens` on the machine's target, printing a
/// row a position and PASS or FAIL (with the first divergence, and its waveform into `waves`).
/// Returns whether it passed.
fn cosim(
    loaded: &Loaded,
    machine: &MachineArgs,
    tokens: &[u32],
    steps: usize,
    waves: Option<&std::path::Path>,
    plusargs: &[String],
) -> Result<bool, CliError> {
    let failed = |message: String| CliError { code: 1, message };
    let start = Instant::now();
    let prepared = prepare_cosim(
        loaded,
        machine,
        plusargs,
        // A run that may dump its divergence needs the traced build.
        if waves.is_some() {
            Waveforms::Vcd
        } else {
            Waveforms::Off
        },
        &|| {},
    )?;
    let target = &prepared.target;
    println!(
        "{} on {} ({} lanes, {} vector lanes): Verilated core {} in {:.1} s",
        loaded.name,
        target.name,
        target.lanes,
        target.vector_lanes,
        if prepared.build.built {
            "built"
        } else {
            "reused"
        },
        start.elapsed().as_secs_f64()
    );
    let context = prepared.bundle.manifest.predicted_cycles.len();
    let steps = if steps == 0 {
        context
    } else {
        steps.min(context)
    };
    let new_cosim = || prepared.cosim();
    let mut cosim = new_cosim()?;
    println!("| pos | token | next | cycles (predicted = RTL) | steps compared | RTL M cycles/s |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    let (mut fed, mut values, mut cycles, mut seconds) = (Vec::new(), 0, 0, 0.0);
    let mut token = tokens[0];
    for pos in 0..steps {
        match cosim.step(token, pos) {
            Ok(row) => {
                println!(
                    "| {pos} | {token} | {} | {} | {} | {:.2} |",
                    row.next,
                    row.rtl_cycles,
                    row.checkpoints,
                    row.rtl_cycles as f64 / row.rtl_seconds / 1e6
                );
                values += row.values;
                cycles += row.rtl_cycles;
                seconds += row.rtl_seconds;
                fed.push(token);
                token = tokens.get(pos + 1).copied().unwrap_or(row.next);
            }
            Err(d) => {
                println!("FAIL: {d}");
                if let Some(path) = waves {
                    // Replay to the diverging step with a fresh core, tracing a window of it.
                    let mut replay = new_cosim()?;
                    for (p, &t) in fed.iter().enumerate() {
                        replay.step(t, p).map_err(|e| failed(e.to_string()))?;
                    }
                    let at = d.cycle.unwrap_or(0);
                    let (from, to) = (
                        at.saturating_sub(WAVE_CYCLES_BEFORE),
                        at + WAVE_CYCLES_AFTER,
                    );
                    replay.rtl().trace_window(path, from, to);
                    let _ = replay.step(token, pos);
                    println!(
                        "the waveform of cycles {from} to {to} of position {pos} is in {} \
                         (signal `now` counts the step's cycles)",
                        path.display()
                    );
                }
                return Ok(false);
            }
        }
    }
    println!(
        "PASS: {steps} positions on the golden model, the ISS and the RTL: every token, every \
         named step's values ({values} in all) and every step's cycles equal; the RTL simulated \
         {:.2} M cycles/s",
        cycles as f64 / seconds / 1e6
    );
    Ok(true)
}

/// Verilator, installed by the checkout's `scripts/setup-tools.sh` (the pinned toolchain, no
/// root needed) when it is missing, so that `monorail demo` works on a fresh machine.
fn ensure_verilator() -> Result<(), CliError> {
    if monorail_fpga::find("verilator").is_ok() {
        return Ok(());
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup-tools.sh");
    let missing = |why: String| CliError {
        code: 1,
        message: format!(
            "Verilator is needed to simulate the core and is not installed ({why}); run \
             scripts/setup-tools.sh from the Monorail checkout, or set MONORAIL_TOOLS_DIR to \
             where the toolchain is"
        ),
    };
    if !script.is_file() {
        return Err(missing(format!("{} is not here", script.display())));
    }
    eprintln!(
        "monorail: installing the pinned toolchain with {} (once; a few minutes)",
        script.display()
    );
    let status = std::process::Command::new(&script)
        .status()
        .map_err(|e| missing(format!("{}: {e}", script.display())))?;
    if !status.success() {
        return Err(missing(format!("{} failed: {status}", script.display())));
    }
    monorail_fpga::find("verilator")
        .map(|_| ())
        .map_err(|e| missing(e.to_string()))
}

/// What co-simulation needs: the target, the compiled bundle with its images in a folder, and
/// the Verilated core (built or reused; `building` is called first when it has to be built).
struct PreparedCosim {
    target: Target,
    quant: QuantModel,
    bundle: monorail_contract::bundle::Bundle,
    build: monorail_sim::verilated::Build,
    images: tempfile::TempDir,
    plusargs: Vec<String>,
}

impl PreparedCosim {
    /// The three machines, fresh.
    fn cosim(&self) -> Result<Cosim, CliError> {
        Cosim::new(
            self.quant.clone(),
            &self.target,
            self.bundle.clone(),
            &self.build,
            self.images.path(),
            &self.plusargs,
        )
        .map_err(|e| CliError {
            code: 1,
            message: e.to_string(),
        })
    }
}

/// The model of `loaded` quantised and compiled for the machine flags' target.
/// `monorail chat`: token steps on a board (or its simulation) over the host link.
#[allow(clippy::too_many_arguments)]
fn chat(
    board: &BoardArgs,
    port: Option<&str>,
    sim: bool,
    model: &ModelArgs,
    prompt: &PromptArgs,
    (steps, context): (usize, Option<usize>),
    baud: Option<u32>,
    load_weights: bool,
) -> Result<(), CliError> {
    let board = board.board()?;
    // A board needs a bitstream, which needs a core its FPGA holds; the simulated board top
    // does not.
    if !sim {
        monorail_fpga::bitstream::check_fits(&board)
            .map_err(|e| refused(format!("{}: {e}", board.name)))?;
    }
    let loaded = load_for(model, &board.target)?;
    let tokens = prompt_tokens(prompt, &loaded)?;
    let (target, _, compiled) = compile_for(&loaded, board.target.clone(), context)?;
    let baud = baud.unwrap_or(board.uart_baud);
    let failed = |e: MachineError| CliError {
        code: 1,
        message: format!("{}: {e}", board.name),
    };
    let images = tempfile::TempDir::new().map_err(|e| refused(e.to_string()))?;
    let link: Box<dyn ByteLink> = if sim {
        ensure_verilator()?;
        eprintln!(
            "{}: the board top in Verilator, the UART at {baud} baud (the first run builds it)",
            board.name
        );
        let built = BoardSim::new(
            &board,
            &compiled.bundle,
            baud,
            &monorail_fpga::build_root(),
            images.path(),
        )
        .map_err(failed)?;
        Box::new(built)
    } else {
        let port = port.unwrap_or_default();
        Box::new(SerialLink::open(port, baud, target.clock_hz).map_err(failed)?)
    };
    let mut host = HostLink::new(link, &compiled.bundle);
    host.expect_target(&target).map_err(failed)?;
    if load_weights {
        let plan = load_plan(&compiled.bundle, target.lanes).map_err(failed)?;
        eprintln!(
            "{}: loading {} ({} weight words, {} vector elements, {} instructions: {} KB, about \
             {:.1} s at {baud} baud)",
            board.name,
            loaded.name,
            plan.matrix_words,
            plan.vector_elements,
            plan.instructions,
            plan.bytes / 1024,
            plan.bytes as f64 * 10.0 / f64::from(baud)
        );
        let start = Instant::now();
        host.load(&compiled.bundle, target.lanes).map_err(failed)?;
        eprintln!(
            "{}: loaded in {:.1} s",
            board.name,
            start.elapsed().as_secs_f64()
        );
    }
    let context = compiled.bundle.manifest.context;
    let steps = if steps == 0 {
        context
    } else {
        steps.min(context)
    };
    let predicted = &compiled.bundle.manifest.predicted_cycles;
    let start = Instant::now();
    let (mut token, mut positions, mut off_prediction) = (tokens[0], 0, 0);
    let mut stdout = std::io::stdout().lock();
    for (pos, &predicted_cycles) in predicted.iter().enumerate().take(steps) {
        let result = host.step(token, pos).map_err(failed)?;
        positions += 1;
        off_prediction += usize::from(result.cycles != predicted_cycles);
        let next = tokens.get(pos + 1).copied().unwrap_or(result.next);
        if next == BOS {
            break;
        }
        let _ = stdout.write_all(&loaded.tokenizer.decode(token, next));
        let _ = stdout.flush();
        token = next;
    }
    let _ = writeln!(stdout);
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "{}: {positions} positions in {seconds:.2} s over the UART ({:.1} tokens/s); the board's \
         cycles {}",
        board.name,
        positions as f64 / seconds,
        if off_prediction == 0 {
            "equal the compiler's prediction at every position".to_string()
        } else {
            format!("differ from the compiler's prediction at {off_prediction} positions")
        }
    );
    if off_prediction > 0 {
        return Err(CliError {
            code: 1,
            message: format!(
                "{}: the board's cycle counts differ from the bundle's: is its bitstream built \
                 from the same model and context?",
                board.name
            ),
        });
    }
    Ok(())
}

/// `monorail clean`: the build folder's generated files, all or those older than some days.
fn clean(older_than_days: Option<u64>, dry_run: bool) -> Result<(), CliError> {
    let root = monorail_fpga::build_root();
    let limit =
        older_than_days.map(|d| std::time::Duration::from_secs(d.saturating_mul(24 * 3600)));
    let cleaned = monorail_fpga::tools::clean(&root, limit, dry_run).map_err(|e| CliError {
        code: 1,
        message: format!("cleaning {}: {e}", root.display()),
    })?;
    for path in &cleaned.removed {
        println!(
            "{}{}",
            if dry_run { "would remove " } else { "removed " },
            path.display()
        );
    }
    println!(
        "{} {} entries ({:.1} MB) of {}; kept {}",
        if dry_run { "would remove" } else { "removed" },
        cleaned.removed.len(),
        cleaned.bytes as f64 / 1e6,
        root.display(),
        cleaned.kept
    );
    Ok(())
}

/// Seconds between two status lines of a running flow step when stderr is not a terminal.
const STATUS_PERIOD_S: u64 = 60;

/// Back to the start of the terminal's line, and clear it (a running step's status line).
const CLEAR_LINE: &str = "\r\x1b[K";

/// `monorail bitstream`: the model compiled for the board's target, the board top generated
/// around the core, and the flow run; a table of what it made.
fn bitstream(
    board: &BoardArgs,
    model: &ModelArgs,
    context: Option<usize>,
    output: Option<PathBuf>,
    strict_timing: bool,
    seed: u64,
    baud: Option<u32>,
) -> Result<(), CliError> {
    let board = board.board()?;
    monorail_fpga::bitstream::check_fits(&board)
        .map_err(|e| refused(format!("{}: {e}", board.name)))?;
    let loaded = load_for(model, &board.target)?;
    let (target, _, compiled) =
        compile_for(&loaded, board.target.clone(), context).map_err(|e| CliError {
            message: format!("{}: {}", board.name, e.message),
            ..e
        })?;
    let core = monorail_hw::generate(&target);
    let verilog = board_top(
        &board,
        &core,
        TopFor::Synthesis,
        baud.unwrap_or(board.uart_baud),
    )
    .map_err(|e| refused(e.to_string()))?;
    let design = monorail_hw::Design {
        target: target.name.clone(),
        verilog,
    };
    let build = monorail_fpga::build_root();
    let written = write_design(
        &design,
        &compiled.bundle,
        &target,
        &monorail_hw::report(&target),
        None,
        (&build.join("gen"), &format!("board-{}", board.name)),
    )
    .map_err(|message| CliError { code: 1, message })?;
    println!(
        "{}: target {}, {}; design {}",
        board.name,
        target.name,
        loaded.name,
        written.dir.display()
    );
    println!(
        "running yosys, nextpnr, the weights swap ({}) and the packer (minutes; each step's log \
         is kept)...",
        if board.family == Family::Ecp5 {
            "ecpbram"
        } else {
            "Monorail's own"
        }
    );
    if let Some(note) = &board.no_bitstream_yet {
        eprintln!(
            "monorail: warning: {}: no bitstream yet: {note} (running the tools anyway)",
            board.name
        );
    }
    println!("{:<16} {:>9}  log", "step", "wall time");
    let options = monorail_fpga::bitstream::Options { seed };
    // A running step's status: on a terminal, one line rewritten in place; in a log (CI), a line
    // a minute at most.
    let live = std::io::stderr().is_terminal();
    let mut last_status: Option<Instant> = None;
    let mut progress = |event: monorail_fpga::bitstream::Progress<'_>| match event {
        monorail_fpga::bitstream::Progress::Status { step, status } => {
            if live {
                eprint!("{CLEAR_LINE}{step}: {status}");
                let _ = std::io::stderr().flush();
            } else if last_status.is_none_or(|t| t.elapsed().as_secs() >= STATUS_PERIOD_S) {
                eprintln!("{step}: {status}");
                last_status = Some(Instant::now());
            }
        }
        monorail_fpga::bitstream::Progress::Step(step) => {
            if live {
                eprint!("{CLEAR_LINE}");
            }
            last_status = None;
            let time = if step.reused {
                "reused".to_string()
            } else {
                format!("{:.1} s", step.seconds)
            };
            println!("{:<16} {time:>9}  {}", step.name, step.log.display());
        }
        monorail_fpga::bitstream::Progress::Warning(warning) => {
            if live {
                eprint!("{CLEAR_LINE}");
            }
            eprintln!("monorail: warning: {}: {warning}", board.name);
        }
    };
    let made =
        monorail_fpga::bitstream::build(&board, &written.dir, &build, &options, &mut progress)
            .map_err(|e| {
                if live {
                    // The last status stays on its line, above the error.
                    eprintln!();
                }
                CliError {
                    code: 1,
                    message: format!("{}: {e}", board.name),
                }
            })?;
    let w = &made.weights;
    let copies: Vec<String> = w
        .copies
        .iter()
        .map(|(file, n)| format!("{file} held {n} times"))
        .collect();
    println!(
        "weights: {} bit slices of {} memory images swapped into {} block RAMs of the routed \
         design, each checked{}",
        w.slices,
        w.memories,
        w.block_rams,
        if copies.is_empty() {
            String::new()
        } else {
            format!(" ({})", copies.join(", "))
        }
    );
    println!(
        "{:<16} {:>8} {:>10} {:>6}",
        "resource", "used", "available", "share"
    );
    for r in &made.resources {
        println!(
            "{:<16} {:>8} {:>10} {:>5.1}%",
            r.name,
            r.used,
            r.available,
            100.0 * r.used as f64 / r.available.max(1) as f64
        );
    }
    let target_mhz = made.constraint_hz / 1e6;
    let cycles = &compiled.bundle.manifest.predicted_cycles;
    let mean_cycles = cycles.iter().sum::<u64>() as f64 / cycles.len().max(1) as f64;
    match made.fmax_hz {
        Some(f) => println!(
            "Fmax {:.2} MHz against the target's {target_mhz} MHz: {}",
            f / 1e6,
            if made.meets_timing() { "met" } else { "FAIL" }
        ),
        None => println!("Fmax: nextpnr reported none"),
    }
    let mut projection = format!(
        "projected: {:.0} tokens/s at {target_mhz} MHz ({mean_cycles:.0} cycles a token, the \
         mean over positions 0..{})",
        made.constraint_hz / mean_cycles,
        cycles.len()
    );
    if let Some(f) = made.fmax_hz.filter(|_| !made.meets_timing()) {
        projection += &format!("; {:.0} tokens/s at the achieved Fmax", f / mean_cycles);
    }
    println!("{projection}");
    if let Some(dir) = &output {
        std::fs::create_dir_all(dir).map_err(|e| refused(format!("{}: {e}", dir.display())))?;
        for file in [&made.file, &made.dir.join("report.json")] {
            let to = dir.join(file.file_name().unwrap_or_default());
            let bytes = std::fs::read(file).map_err(|e| CliError {
                code: 1,
                message: format!("{}: {e}", file.display()),
            })?;
            checkpoint::write_atomically(&to, &bytes).map_err(|e| CliError {
                code: 1,
                message: e.to_string(),
            })?;
        }
    }
    println!(
        "bitstream: {}{}",
        made.file.display(),
        output
            .as_ref()
            .map_or(String::new(), |d| format!(" (copied into {})", d.display()))
    );
    if let (Some(code), Some(device)) = (made.idcode, &board.target.device) {
        println!(
            "IDCODE 0x{code:08x}, the {}'s, checked in the bitstream",
            device.part
        );
    }
    if strict_timing && !made.meets_timing() {
        return Err(CliError {
            code: 1,
            message: format!(
                "--strict-timing: Fmax {} is below the target's {target_mhz} MHz (nextpnr's \
                 report: {})",
                made.fmax_hz
                    .map_or("unknown".to_string(), |f| format!("{:.2} MHz", f / 1e6)),
                made.dir.join("report.json").display()
            ),
        });
    }
    Ok(())
}

fn compile_for(
    loaded: &Loaded,
    target: Target,
    context: Option<usize>,
) -> Result<(Target, QuantModel, monorail_compiler::Compiled), CliError> {
    let quant = QuantModel::quantize(&loaded.checkpoint);
    let compiled =
        compile(&quant, &target, CompileOptions { context }).map_err(|e| refused(e.to_string()))?;
    Ok((target, quant, compiled))
}

fn prepare_cosim(
    loaded: &Loaded,
    machine: &MachineArgs,
    plusargs: &[String],
    waveforms: Waveforms,
    building: &dyn Fn(),
) -> Result<PreparedCosim, CliError> {
    let (target, quant, compiled) = compile_for(loaded, machine.target()?, machine.context)?;
    let failed = |message: String| CliError { code: 1, message };
    ensure_verilator()?;
    let design = monorail_hw::generate(&target);
    let root = monorail_fpga::build_root();
    if !monorail_sim::verilated::is_built(&design.verilog, &target.name, waveforms, &root) {
        building();
    }
    let build = monorail_sim::verilated::build(&design.verilog, &target.name, waveforms, &root)
        .map_err(|e| failed(e.to_string()))?;
    let images = tempfile::TempDir::new().map_err(|e| failed(e.to_string()))?;
    compiled
        .bundle
        .write(images.path(), &target)
        .map_err(|e| failed(e.to_string()))?;
    Ok(PreparedCosim {
        target,
        quant,
        bundle: compiled.bundle,
        build,
        images,
        plusargs: plusargs.to_vec(),
    })
}

/// Least top-1 agreement between golden and float model that `monorail quality` accepts.
const QUALITY_TARGET_AGREEMENT: f64 = 0.97;
/// Least share of grammatical sentences that `monorail quality` accepts, for either model.
const QUALITY_TARGET_GRAMMAR: f64 = 0.90;

fn print_quality(q: &Quality) {
    let f = &q.fidelity;
    let grammar = |g: &quality::GrammarScore| {
        format!(
            "{:.1}% ({} of {})",
            100.0 * g.share(),
            g.grammatical,
            g.sentences
        )
    };
    println!("| measure | float | golden (integer) | target |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| held-out loss (nats/token) | {:.4} | {:.4} | |",
        f.reference_loss_nats, f.candidate_loss_nats
    );
    println!(
        "| held-out perplexity | {:.3} | {:.3} | |",
        q.float_perplexity, q.golden_perplexity
    );
    println!(
        "| top-1 agreement with float | | {:.2}% | >= {:.0}% |",
        100.0 * f.top1_agreement,
        100.0 * QUALITY_TARGET_AGREEMENT
    );
    println!(
        "| mean KL(float \\|\\| golden) (nats) | | {:.5} | |",
        f.mean_kl_nats
    );
    println!(
        "| grammatical sentences ({} continuations) | {} | {} | >= {:.0}% |",
        q.float_grammar.continuations,
        grammar(&q.float_grammar),
        grammar(&q.golden_grammar),
        100.0 * QUALITY_TARGET_GRAMMAR
    );
    for (model, g) in [("float", &q.float_grammar), ("golden", &q.golden_grammar)] {
        if !g.errors.is_empty() {
            println!("\nfirst ungrammatical sentences of the {model} model:");
            for sentence in &g.errors {
                println!("    {sentence}");
            }
        }
    }
}

fn print_fidelity(f: &Fidelity) {
    println!(
        "| positions | top-1 agreement | mean KL (nats) | max KL (nats) | logit error / spread |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {} | {:.1}% | {:.5} | {:.5} | {:.2}% |",
        f.positions,
        100.0 * f.top1_agreement,
        f.mean_kl_nats,
        f.max_kl_nats,
        100.0 * f.mean_relative_logit_error
    );
}

/// The sequence fidelity compares: the prompt, continued greedily by the float model.
fn fidelity_sequence(loaded: &Loaded, prompt: &[u32], steps: usize) -> Result<Vec<u32>, CliError> {
    let mut float = FloatModel::new(loaded.checkpoint.clone());
    let greedy = SamplerOptions::greedy();
    let next = generate(&mut float, prompt, steps, greedy)?;
    let mut sequence = vec![prompt[0]];
    sequence.extend(next.iter().take(next.len().saturating_sub(1)));
    Ok(sequence)
}

fn measure_fidelity(loaded: &Loaded, sequence: &[u32]) -> Fidelity {
    let mut float = FloatModel::new(loaded.checkpoint.clone());
    let mut golden = GoldenModel::new(QuantModel::quantize(&loaded.checkpoint));
    compare(&mut float, &mut golden, sequence).expect("the models do not fail")
}

/// Tokens per second of greedy generation, best of `repeat` runs.
fn tokens_per_second(
    make: &dyn Fn() -> Box<dyn Engine>,
    steps: usize,
    repeat: usize,
) -> Result<f64, CliError> {
    let greedy = SamplerOptions::greedy();
    let mut best = 0.0f64;
    for _ in 0..repeat.max(1) {
        let mut engine = make();
        let start = Instant::now();
        let tokens = generate(engine.as_mut(), &[BOS], steps, greedy)?;
        let rate = tokens.len() as f64 / start.elapsed().as_secs_f64();
        best = best.max(rate);
    }
    Ok(best)
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Run {
            engine: kind,
            model,
            prompt,
            machine,
            steps,
            temperature,
            topp,
            seed,
            json,
        } => {
            let loaded = match kind {
                EngineKind::Iss | EngineKind::Rtl => load_for(&model, &machine.target()?)?,
                EngineKind::Float | EngineKind::Golden => load(&model)?,
            };
            let tokens = prompt_tokens(&prompt, &loaded)?;
            let options = SamplerOptions {
                temperature,
                topp,
                seed,
            };
            options.validate()?;
            let on_machine = matches!(kind, EngineKind::Iss | EngineKind::Rtl);
            if !on_machine && (machine.target.is_some() || machine.context.is_some()) {
                return Err(refused(
                    "--target and --context choose the machine of --engine iss or rtl; this engine runs on the host",
                ));
            }
            let mut engine = if on_machine {
                machine_engine(&loaded, &machine, kind, options.temperature != 0.0)?.engine
            } else {
                engine(kind, loaded.checkpoint.clone())
            };
            let start = Instant::now();
            let out = generate(engine.as_mut(), &tokens, steps, options)?;
            let elapsed = start.elapsed().as_secs_f64();
            let text = loaded.tokenizer.decode_text(&out);
            if json {
                let value = serde_json::json!({ "tokens": out, "text": text });
                println!("{value}");
            } else {
                println!("{text}");
                eprintln!(
                    "achieved tok/s: {:.1} ({} engine, {} positions)",
                    out.len() as f64 / elapsed,
                    format!("{kind:?}").to_lowercase(),
                    out.len()
                );
            }
            Ok(())
        }
        Command::Compile {
            model,
            machine,
            output,
            timeline,
            timeline_position,
        } => {
            let target = machine.target()?;
            let loaded = load_for(&model, &target)?;
            let context = machine.context;
            let quant = QuantModel::quantize(&loaded.checkpoint);
            let start = Instant::now();
            let compiled = compile(&quant, &target, CompileOptions { context })
                .map_err(|e| refused(e.to_string()))?;
            let elapsed = start.elapsed();
            if timeline.is_some() && timeline_position >= compiled.bundle.manifest.context {
                return Err(refused(format!(
                    "--timeline-position {timeline_position} is past the context of {} positions",
                    compiled.bundle.manifest.context
                )));
            }
            compiled
                .bundle
                .write(&output, &target)
                .map_err(|e| CliError {
                    code: 1,
                    message: e.to_string(),
                })?;
            if let Some(path) = &timeline {
                let title = format!("{} on {}", loaded.name, target.name);
                let svg = monorail_compiler::timeline::svg(
                    &compiled.code,
                    &target,
                    timeline_position,
                    &title,
                );
                checkpoint::write_atomically(path, svg.as_bytes()).map_err(|e| CliError {
                    code: 1,
                    message: e.to_string(),
                })?;
            }
            println!(
                "compiled {} for {} in {:.0} ms ({}) -> {}",
                loaded.name,
                target.name,
                elapsed.as_secs_f64() * 1e3,
                monorail_compiler::PASSES.join(" -> "),
                output.display()
            );
            for line in compile_summary(&loaded, &target, &compiled, context.is_none()) {
                println!("  {line}");
            }
            for line in step_table(&target, &compiled) {
                println!("  {line}");
            }
            Ok(())
        }
        Command::Gen {
            model,
            machine,
            output,
        } => {
            let loaded = load_for(&model, &machine.target()?)?;
            let (target, _, compiled) = compile_for(&loaded, machine.target()?, machine.context)?;
            let start = Instant::now();
            let design = monorail_hw::generate(&target);
            let generated_ms = start.elapsed().as_secs_f64() * 1e3;
            let mut report = monorail_hw::report(&target);
            report.push(format!(
                "model: {}, compiled: {}",
                loaded.name,
                compile_summary(&loaded, &target, &compiled, machine.context.is_none()).join("; ")
            ));
            let written = write_design(
                &design,
                &compiled.bundle,
                &target,
                &report,
                output,
                (std::path::Path::new("build/gen"), &target.name),
            )
            .map_err(|message| CliError { code: 1, message })?;
            for line in &report {
                println!("{line}");
            }
            println!(
                "generated top.v ({} lines) in {generated_ms:.0} ms; wrote {}{}",
                design.verilog.lines().count(),
                written.dir.display(),
                if written.reused {
                    " (up to date: the same files were there)"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Command::Boards => {
            for board in Board::builtins() {
                let device = board.target.device.as_ref().map_or("", |d| d.part.as_str());
                println!("{}: {}", board.name, board.description);
                println!(
                    "  target {} ({}); {device}, package {}{}",
                    board.target.name,
                    board.target.description,
                    board.package,
                    board
                        .speed_grade
                        .map_or(String::new(), |g| format!(", speed grade {g}"))
                );
                println!(
                    "  clock {} MHz on {}; UART {} baud, rx {} tx {}; {} LED{}{}; constraints/{}",
                    board.clock_hz as f64 / 1e6,
                    board.pin("clk").unwrap_or("?"),
                    board.uart_baud,
                    board.pin("uart_rx").unwrap_or("?"),
                    board.pin("uart_tx").unwrap_or("?"),
                    board.leds,
                    if board.leds == 1 { "" } else { "s" },
                    if board.leds_active_low {
                        " (active low)"
                    } else {
                        ""
                    },
                    board.constraints_file
                );
                for overflow in board.target.device_overflows() {
                    println!("  no bitstream yet: {overflow}");
                }
                if let Some(note) = &board.no_bitstream_yet {
                    println!("  no bitstream yet: {note}");
                }
            }
            Ok(())
        }
        Command::Chat {
            board,
            port,
            sim,
            model,
            prompt,
            steps,
            context,
            baud,
            load,
        } => chat(
            &board,
            port.as_deref(),
            sim,
            &model,
            &prompt,
            (steps, context),
            baud,
            load,
        ),
        Command::Bitstream {
            board,
            model,
            context,
            output,
            strict_timing,
            seed,
            baud,
        } => bitstream(&board, &model, context, output, strict_timing, seed, baud),
        Command::Cosim {
            model,
            prompt,
            machine,
            steps,
            waves,
            inject,
        } => {
            let plusargs = match inject.as_deref() {
                None => Vec::new(),
                Some(fault) => {
                    let (kind, n) = fault.split_once('=').unwrap_or((fault, ""));
                    let n: u32 = n.parse().map_err(|_| {
                        refused(format!("--inject {fault}: expected lane=N or latency=N"))
                    })?;
                    match kind {
                        "lane" | "latency" => vec![format!("+monorail_fault_{kind}={n}")],
                        _ => {
                            return Err(refused(format!(
                                "--inject {fault}: expected lane=N or latency=N"
                            )))
                        }
                    }
                }
            };
            if let Some(w) = &waves {
                if w.extension().is_none_or(|e| e != "vcd") {
                    return Err(refused(format!(
                        "--waves {}: the core's waveform is written as VCD; name a .vcd file",
                        w.display()
                    )));
                }
            }
            let loaded = load_for(&model, &machine.target()?)?;
            let tokens = prompt_tokens(&prompt, &loaded)?;
            let outcome = cosim(
                &loaded,
                &machine,
                &tokens,
                steps,
                waves.as_deref(),
                &plusargs,
            )?;
            if outcome {
                Ok(())
            } else {
                Err(CliError {
                    code: 1,
                    message: "co-simulation failed".into(),
                })
            }
        }
        Command::Fidelity {
            model,
            prompt,
            steps,
            json,
        } => {
            let loaded = load(&model)?;
            let tokens = prompt_tokens(&prompt, &loaded)?;
            let sequence = fidelity_sequence(&loaded, &tokens, steps)?;
            let f = measure_fidelity(&loaded, &sequence);
            if json {
                println!("{}", serde_json::to_string(&f).expect("serialisable"));
            } else {
                println!("model: {}", loaded.name);
                print_fidelity(&f);
            }
            Ok(())
        }
        Command::Quality {
            model,
            corpus_seed,
            stories,
            continuations,
            json,
        } => {
            let loaded = load(&model)?;
            let corpus_seed = match (corpus_seed, loaded.builtin) {
                (Some(seed), _) => seed,
                (None, Some(builtin)) => builtin.corpus_seed(),
                (None, None) => {
                    return Err(refused(format!(
                        "{}: give --corpus-seed, the seed of the corpus it was trained on",
                        loaded.name
                    )))
                }
            };
            if stories == 0 || continuations == 0 {
                return Err(refused("--stories and --continuations must be at least 1"));
            }
            let options = QualityOptions {
                corpus_seed,
                stories,
                continuations,
                ..QualityOptions::default()
            };
            let mut float = FloatModel::new(loaded.checkpoint.clone());
            let mut golden = GoldenModel::new(QuantModel::quantize(&loaded.checkpoint));
            let q = quality::measure(&mut float, &mut golden, &loaded.tokenizer, options)?;
            if json {
                println!("{}", serde_json::to_string(&q).expect("serialisable"));
            } else {
                println!(
                    "model: {}; held-out stories of corpus seed {corpus_seed}: {stories} \
                     teacher-forced ({} positions), {continuations} continuations each",
                    loaded.name, q.fidelity.positions
                );
                print_quality(&q);
            }
            let met = q.fidelity.top1_agreement >= QUALITY_TARGET_AGREEMENT
                && q.float_grammar.share() >= QUALITY_TARGET_GRAMMAR
                && q.golden_grammar.share() >= QUALITY_TARGET_GRAMMAR;
            if !met {
                return Err(CliError {
                    code: 1,
                    message: "a quality target was missed (see the table)".into(),
                });
            }
            Ok(())
        }
        Command::SynthModel {
            shape,
            seed,
            output,
            tokenizer_out,
        } => {
            let config = synth::parse_shape(&shape)?;
            let tokenizer = match &tokenizer_out {
                Some(_) => Some(synth::builtin_tokenizer(config.vocab_size)?),
                None => None,
            };
            let model = synth::synthesize(config, seed);
            checkpoint::write_legacy(&output, &config, &model.weights).map_err(|e| CliError {
                code: 1,
                message: e.to_string(),
            })?;
            if let (Some(path), Some(t)) = (&tokenizer_out, tokenizer) {
                checkpoint::write_atomically(path, &t.to_bytes()).map_err(|e| CliError {
                    code: 1,
                    message: e.to_string(),
                })?;
            }
            println!(
                "wrote {} ({} parameters, seed {seed})",
                output.display(),
                config.param_count()
            );
            Ok(())
        }
        Command::Corpus {
            seed,
            stories,
            heldout_stories,
            vocab,
            output,
        } => {
            let summary = corpus::write_dataset(&output, seed, stories, heldout_stories, vocab)?;
            println!(
                "wrote {}: {} train stories ({} tokens), {} held-out stories ({} tokens), a \
                 {}-token tokenizer ({:.2} bytes of text per token)",
                output.display(),
                summary.train_stories,
                summary.train_tokens,
                summary.heldout_stories,
                summary.heldout_tokens,
                summary.vocab_size,
                summary.bytes_per_token
            );
            Ok(())
        }
        Command::Bench {
            model,
            target,
            context,
            rtl,
            steps,
            repeat,
        } => {
            let loaded = match &target {
                Some(name) => load_for(&model, &load_target(name)?)?,
                None => load(&model)?,
            };
            let positions = if steps == 0 {
                loaded.checkpoint.config.seq_len
            } else {
                steps.min(loaded.checkpoint.config.seq_len)
            };
            // The machines first, so that a bad --target is refused before anything runs.
            let machine_args = MachineArgs {
                target: target.clone(),
                context,
            };
            let mut machines = Vec::new();
            if target.is_some() {
                machines.push((
                    "iss",
                    machine_engine(&loaded, &machine_args, EngineKind::Iss, false)?,
                ));
                if rtl {
                    machines.push((
                        "rtl",
                        machine_engine(&loaded, &machine_args, EngineKind::Rtl, false)?,
                    ));
                }
            }
            let checkpoint = loaded.checkpoint.clone();
            let quant = QuantModel::quantize(&checkpoint);
            let float = tokens_per_second(
                &|| Box::new(FloatModel::new(checkpoint.clone())),
                positions,
                repeat,
            )?;
            let golden = tokens_per_second(
                &|| Box::new(GoldenModel::new(quant.clone())),
                positions,
                repeat,
            )?;
            println!(
                "model: {} ({positions} positions, greedy from BOS, best of {repeat})",
                loaded.name
            );
            println!("| engine | tokens/s | relative to float |");
            println!("| --- | ---: | ---: |");
            println!("| float | {float:.0} | 1.00x |");
            println!("| golden | {golden:.0} | {:.2}x |", golden / float);
            for (name, mut run) in machines {
                let n = positions.min(run.predicted.len());
                let start = Instant::now();
                generate(run.engine.as_mut(), &[BOS], n, SamplerOptions::greedy())?;
                let seconds = start.elapsed().as_secs_f64();
                let cycles: u64 = run.predicted[..n].iter().sum();
                println!(
                    "| {name} ({}) | {:.0} | {:.2}x | {:.2} M simulated cycles/s |",
                    target.as_deref().unwrap_or(DEFAULT_TARGET),
                    n as f64 / seconds,
                    n as f64 / seconds / float,
                    cycles as f64 / seconds / 1e6
                );
                if let Some(built) = run.build_seconds {
                    if built > 0.0 {
                        println!("(the Verilated core was built first, in {built:.0} s)");
                    }
                }
            }
            Ok(())
        }
        Command::IsaManual => {
            print!("{}", monorail_contract::isa::manual());
            Ok(())
        }
        Command::Clean {
            older_than,
            dry_run,
        } => clean(older_than, dry_run),
        Command::Demo { steps } => {
            let loaded = load(&ModelArgs {
                model: None,
                tokenizer: None,
            })?;
            let tokens = loaded.tokenizer.encode(DEMO_PROMPT, true, false)?;
            println!("model: {}", loaded.name);
            println!("prompt: {DEMO_PROMPT:?}, {steps} positions, greedy\n");
            let greedy = SamplerOptions::greedy();
            let mut outputs = Vec::new();
            for kind in [EngineKind::Float, EngineKind::Golden] {
                let mut engine = engine(kind, loaded.checkpoint.clone());
                let start = Instant::now();
                let out = generate(engine.as_mut(), &tokens, steps, greedy)?;
                let rate = out.len() as f64 / start.elapsed().as_secs_f64();
                let name = format!("{kind:?}").to_lowercase();
                println!("{name:<7} {rate:>8.0} tok/s, {} tokens:", out.len());
                for line in wrap(&loaded.tokenizer.decode_text(&out), 96) {
                    println!("    {line}");
                }
                outputs.push(out);
            }
            let same = outputs[0]
                .iter()
                .zip(&outputs[1])
                .take_while(|(a, b)| a == b)
                .count();
            println!(
                "\nfree-running, the golden model matches the float reference on the first {same} \
                 of {} tokens",
                outputs[0].len()
            );
            if same < outputs[0].len().min(outputs[1].len()) {
                // Where the texts part: how close the float model's two best choices were.
                let mut float = FloatModel::new(loaded.checkpoint.clone());
                let fed: Vec<u32> = std::iter::once(tokens[0])
                    .chain(outputs[0][..same].iter().copied())
                    .collect();
                let mut logits = Vec::new();
                for (pos, &token) in fed.iter().enumerate() {
                    logits = float.step(token, pos)?.logits.to_vec();
                }
                let piece = |t: u32| String::from_utf8_lossy(loaded.tokenizer.piece(t)).to_string();
                let (a, b) = (outputs[0][same], outputs[1][same]);
                println!(
                    "they part where the float model's logits for {:?} and {:?} are {:.3} apart (the \
                     stories pick things, places and feelings uniformly: near-ties are common, and \
                     the integer model breaks some the other way)",
                    piece(a),
                    piece(b),
                    (logits[a as usize] - logits[b as usize]).abs()
                );
            }
            let sequence = fidelity_sequence(&loaded, &tokens, steps)?;
            println!("teacher-forced fidelity of the golden model:");
            print_fidelity(&measure_fidelity(&loaded, &sequence));

            // The ulx3s-85f core: generated, Verilated, and co-simulated against the golden
            // model and the instruction-set simulator.
            let machine = MachineArgs {
                target: Some(DEMO_TARGET.into()),
                // The longest cache the target holds.
                context: None,
            };
            let target = machine.target()?;
            println!();
            for line in monorail_hw::report(&target) {
                println!("{line}");
            }
            let spinner = indicatif::ProgressBar::new_spinner().with_message(format!(
                "building the Verilated {DEMO_TARGET} core (about half a minute, once)"
            ));
            let building = || spinner.enable_steady_tick(std::time::Duration::from_millis(120));
            let start = Instant::now();
            let prepared = prepare_cosim(&loaded, &machine, &[], Waveforms::Off, &building)?;
            spinner.finish_and_clear();
            println!(
                "Verilated core {} in {:.1} s",
                if prepared.build.built {
                    "built"
                } else {
                    "reused"
                },
                start.elapsed().as_secs_f64()
            );
            let mut cosim = prepared.cosim()?;
            let positions = steps.min(prepared.bundle.manifest.predicted_cycles.len());
            let bar = indicatif::ProgressBar::new(positions as u64).with_style(
                indicatif::ProgressStyle::with_template(
                    "co-simulating golden, ISS and RTL {bar:30} {pos}/{len} tokens",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let (mut out, mut cycles, mut seconds, mut values) = (Vec::new(), Vec::new(), 0.0, 0);
            let mut token = tokens[0];
            for pos in 0..positions {
                match cosim.step(token, pos) {
                    Ok(row) => {
                        cycles.push(row.rtl_cycles);
                        seconds += row.rtl_seconds;
                        values += row.values;
                        token = tokens.get(pos + 1).copied().unwrap_or(row.next);
                        out.push(token);
                        bar.inc(1);
                        if token == BOS {
                            break; // the story is over
                        }
                    }
                    Err(d) => {
                        bar.finish_and_clear();
                        println!("FAIL: {d}");
                        return Err(CliError {
                            code: 1,
                            message: "co-simulation failed".into(),
                        });
                    }
                }
            }
            bar.finish_and_clear();
            let total: u64 = cycles.iter().sum();
            let per_token = total as f64 / cycles.len() as f64;
            let positions = cycles.len();
            println!("the core wrote:");
            for line in wrap(&loaded.tokenizer.decode_text(&out), 96) {
                println!("    {line}");
            }
            println!(
                "PASS: {positions} tokens on the golden model, the ISS and the RTL: every token, \
                 every named step's values ({values} in all) and every step's cycles equal"
            );
            println!(
                "cycles per token: {} to {} (the RTL's, equal to the compiler's prediction), \
                 {per_token:.0} on average",
                cycles.iter().min().copied().unwrap_or(0),
                cycles.iter().max().copied().unwrap_or(0)
            );
            println!(
                "simulated: {:.2} M cycles/s, {:.1} tokens/s in Verilator",
                total as f64 / seconds / 1e6,
                positions as f64 / seconds
            );
            println!(
                "projected on the board at {} MHz: {:.0} tokens/s",
                target.clock_hz / 1_000_000,
                target.clock_hz as f64 / per_token
            );
            Ok(())
        }
    }
}

/// Break text into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`monorail compile ... | head`) would
    // panic; end quietly instead, as Unix tools do.
    // SAFETY: setting a signal's disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("monorail: error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
