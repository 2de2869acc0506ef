//! `monorail bitstream`: the model compiled for the board's target, the board top generated
//! around the core, and the flow run with the pinned open tools; a table of what it made.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use monorail_compiler::CompileOptions;
use monorail_contract::board::Board;
use monorail_contract::target::{Core, Family};
use monorail_fpga::bitstream::{Bitstream, Options, Progress};
use monorail_hw::board::{board_top, TopFor};
use monorail_model::checkpoint;

use crate::cli::{BoardArgs, ModelArgs};
use crate::error::{failed, refused, CliError};
use crate::load::{compile_for, holds, load_for, Loaded};

#[derive(clap::Args)]
pub struct Args {
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
    /// nextpnr's placement seed; default: the board file's `seed` for its own core, else 1.
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=monorail_contract::board::MAX_SEED))]
    seed: Option<u64>,
    /// A seed sweep: place the design with each of these seeds first (placement only, as many
    /// at once as the machine has cores; a list such as `1-8` or `2,7,9`), then place and
    /// route it with the seed whose placement nextpnr estimates fastest (where router2 does not
    /// converge on it, the next fastest, up to three). Each seed's placement is kept, and a later
    /// sweep reuses it.
    #[arg(long, value_name = "LIST", value_parser = seed_list, conflicts_with = "seed")]
    seeds: Option<SeedList>,
    /// Stop synthesis, a run of place and route (a floorplanned design is placed and routed in
    /// several, each with this limit) or a sweep's placement, when it runs longer than this many
    /// minutes (a fraction is allowed), and a step's wait for another build of the same design
    /// (bounded apart from its run); default: no limit.
    #[arg(long, value_name = "MINUTES", value_parser = minutes)]
    time_limit: Option<f64>,
    /// Count, by block of the RTL, the endpoints that a clock of this many MHz would fail;
    /// default: the target's clock. Read from nextpnr's report, so a built design is not built
    /// again.
    #[arg(long, value_name = "MHZ", value_parser = megahertz)]
    timing_goal: Option<f64>,
}

// `--seeds`'s help says how many seeds are routed where router2 does not converge.
const _: () = assert!(monorail_fpga::bitstream::SWEEP_ROUTES == 3);

/// A clock in MHz for `--timing-goal`: positive, at most 1 GHz.
fn megahertz(text: &str) -> Result<f64, String> {
    crate::cli::amount(
        text,
        "MHz",
        |m| m > 0.0 && m <= 1000.0,
        "above 0, at most 1000",
    )
}

/// A list of seeds for `--seeds`: whole numbers and ranges (`1-8`) separated by commas, each a
/// seed nextpnr takes, at most [`monorail_fpga::bitstream::MOST_SWEEP_SEEDS`] in all; a seed given
/// twice is placed once.
fn seed_list(text: &str) -> Result<SeedList, String> {
    use monorail_contract::board::MAX_SEED;
    use monorail_fpga::bitstream::MOST_SWEEP_SEEDS;
    let seed = |s: &str| -> Result<u64, String> {
        match s.trim().parse::<u64>() {
            Ok(seed) if seed <= MAX_SEED => Ok(seed),
            _ => Err(format!(
                "`{}` is not a seed: a whole number from 0 to {MAX_SEED}",
                s.trim()
            )),
        }
    };
    let mut seeds: Vec<u64> = Vec::new();
    for item in text.split(',') {
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (seed(a)?, seed(b)?),
            None => (seed(item)?, seed(item)?),
        };
        if first > last {
            return Err(format!(
                "the range `{}` runs backwards: give it as {last}-{first}",
                item.trim()
            ));
        }
        if last - first >= MOST_SWEEP_SEEDS as u64 {
            return Err(format!("at most {MOST_SWEEP_SEEDS} seeds in a sweep"));
        }
        for s in first..=last {
            if !seeds.contains(&s) {
                seeds.push(s);
            }
        }
        if seeds.len() > MOST_SWEEP_SEEDS {
            return Err(format!("at most {MOST_SWEEP_SEEDS} seeds in a sweep"));
        }
    }
    Ok(SeedList(seeds))
}

/// The seeds of `--seeds`, in the order given (one value to clap, where a `Vec` would be many).
#[derive(Clone, Debug, PartialEq, Eq)]
struct SeedList(Vec<u64>);

/// How many of the slowest blocks `monorail bitstream` lists at least: every block with an
/// endpoint late for the goal is listed, up to [`MOST_LATE_BLOCKS`], the rest summed on a line.
const SLOWEST_BLOCKS: usize = 8;

/// How many blocks with late endpoints `monorail bitstream` lists at most.
const MOST_LATE_BLOCKS: usize = 32;

/// A time limit in minutes: positive, at most a week.
fn minutes(text: &str) -> Result<f64, String> {
    crate::cli::amount(
        text,
        "minutes",
        |m| m > 0.0 && m <= 10_080.0,
        "above 0, at most 10080 (a week)",
    )
}

/// Seconds between two status lines of a running flow step when stderr is not a terminal.
const STATUS_PERIOD_S: u64 = 60;

/// Back to the start of the terminal's line, and clear it (a running step's status line).
const CLEAR_LINE: &str = "\r\x1b[K";

/// A model that `board`'s core cannot hold with `context`: its refusal names, after the targets
/// that would hold it, the built-in boards whose cores do ([`holds`]: a board carries one
/// target, and the targets the compiler names may be on no board, or on another FPGA).
fn with_boards_that_hold(
    e: CliError,
    loaded: &Loaded,
    board: &Board,
    context: Option<usize>,
) -> CliError {
    let quant = loaded.quantized();
    let options = CompileOptions::serving(context);
    if e.code != 2 || holds(&quant, &board.target, options) {
        return e;
    }
    let boards: Vec<String> = Board::builtins()
        .into_iter()
        .filter(|b| b.name != board.name && holds(&quant, &b.target, options))
        .map(|b| format!("{} ({})", b.name, b.target.name))
        .collect();
    if boards.is_empty() {
        return e;
    }
    CliError {
        message: format!(
            "{}; built-in boards whose core holds it: {}",
            e.message,
            boards.join(", ")
        ),
        ..e
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    if let Some(dir) = &args.output {
        crate::cli::output_folder(dir, "the bitstream")?;
    }
    let board = args.board.board()?;
    let core = monorail_hw::generate(&board.target);
    monorail_fpga::bitstream::check_fits(&board)
        .and_then(|()| monorail_fpga::bitstream::check_pins(&board))
        .map_err(|e| refused(format!("{}: {e}", board.name)))?;
    let loaded = load_for(&args.model, &board.target)?;
    let (target, _, compiled) = compile_for(&loaded, board.target.clone(), args.context)
        .map_err(|e| with_boards_that_hold(e.about(&board.name), &loaded, &board, args.context))?;
    let verilog = board_top(&board, &core, TopFor::Synthesis, board.uart_baud)
        .map_err(|e| refused(e.to_string()))?;
    let design = monorail_hw::Design {
        target: target.name.clone(),
        verilog,
    };
    let build = crate::machine::build_root()?;
    let written = super::gen::write_design(
        &design,
        &compiled.bundle,
        &target,
        &monorail_hw::report(&target),
        &[],
        None,
        (&build.join("gen"), &format!("board-{}", board.name)),
    )
    .map_err(CliError::failed)?;
    println!(
        "{}: target {}, {}; design {}",
        board.name,
        target.name,
        loaded.name,
        written.dir.display()
    );
    let swap = match (board.target.core, board.family) {
        // The small core's memories start empty: `chat` loads the model over the UART.
        (Core::Small, _) | (_, Family::Ice40) => "",
        (_, Family::Ecp5) => "the weights swap (ecpbram), ",
        (_, Family::Gowin) => "the weights swap (Monorail's own), ",
    };
    println!(
        "yosys, nextpnr, {swap}and the packer: each step reused while its inputs are the same, \
         minutes when it runs; each step's log is kept"
    );
    if let Some(note) = &board.no_bitstream_yet {
        eprintln!(
            "monorail: warning: {}: no bitstream yet: {note} (running the tools anyway{})",
            board.name,
            if args.time_limit.is_none() {
                "; --time-limit MINUTES stops a step that runs longer"
            } else {
                ""
            }
        );
    }
    println!("{:<16} {:>9}  log", "step", "wall time");
    let options = Options {
        seed: args
            .seed
            .or(board.seed)
            .unwrap_or(monorail_fpga::bitstream::DEFAULT_SEED),
        seeds: args.seeds.clone().map(|s| s.0).unwrap_or_default(),
        time_limit: args
            .time_limit
            .map(|m| std::time::Duration::from_secs_f64(m * 60.0)),
    };
    // A running step's status: on a terminal, one line rewritten in place; in a log (CI), a line
    // a minute at most.
    let live = std::io::stderr().is_terminal();
    let mut last_status: Option<Instant> = None;
    let mut progress = |event: Progress<'_>| match event {
        Progress::Status { step, status } => {
            if live {
                eprint!("{CLEAR_LINE}{step}: {status}");
                let _ = std::io::stderr().flush();
            } else if last_status.is_none_or(|t| t.elapsed().as_secs() >= STATUS_PERIOD_S) {
                eprintln!("{step}: {status}");
                last_status = Some(Instant::now());
            }
        }
        Progress::Step(step) => {
            if live {
                eprint!("{CLEAR_LINE}");
            }
            last_status = None;
            let time = if step.reused && step.seconds > 0.0 {
                format!("reused after waiting {:.1} s", step.seconds)
            } else if step.reused {
                "reused".to_string()
            } else {
                format!("{:.1} s", step.seconds)
            };
            println!("{:<16} {time:>9}  {}", step.name, step.log.display());
        }
        Progress::Note(note) => {
            if live {
                eprint!("{CLEAR_LINE}");
            }
            eprintln!("monorail: {}: {note}", board.name);
        }
        Progress::Warning(warning) => {
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
                CliError::failed(format!("{}: {e}", board.name))
            })?;
    // The summary, printed and kept beside the build's logs (`summary.txt`).
    let mut summary = String::new();
    print_sweep(&mut summary, &made);
    print_made(
        &mut summary,
        &made,
        &compiled.bundle.manifest.predicted_cycles,
        board.uart_baud,
    );
    print_paths(
        &mut summary,
        &made,
        args.timing_goal.unwrap_or(made.constraint_hz / 1e6),
    );
    print!("{summary}");
    // In the model's folder, beside its bitstream (the routed design's serves every model).
    let kept = made.file.parent().unwrap_or(&made.dir).join("summary.txt");
    match monorail_model::checkpoint::write_atomically(&kept, summary.as_bytes()) {
        Ok(()) => println!("summary kept in {}", kept.display()),
        Err(e) => {
            eprintln!(
                "monorail: warning: {}: the summary was not kept in {}: {e}",
                board.name,
                kept.display()
            );
        }
    }
    if let Some(dir) = &args.output {
        let report = made.dir.join("report.json");
        let mut files: Vec<&Path> = vec![&made.file, &report];
        files.extend(made.dfu.as_deref());
        // What an earlier build copied here, read before this one's record replaces it.
        let earlier = copied_before(dir);
        copy_into(dir, &files, &board.name)?;
        let (stale, foreign) = stale_outputs(dir, &files, &earlier);
        for file in foreign {
            eprintln!(
                "monorail: warning: {} is not this board's: Monorail did not copy it there (or \
                 it changed since), so it is left; remove it yourself",
                file.display()
            );
        }
        for file in stale {
            std::fs::remove_file(&file)
                .map_err(|e| CliError::failed(format!("{}: {e}", file.display())))?;
            println!(
                "removed {}: an earlier build's output for another board, which could be \
                 mistaken for this one's",
                file.display()
            );
        }
    }
    let copied = args
        .output
        .as_ref()
        .map_or(String::new(), |d| format!(" (copied into {})", d.display()));
    println!("bitstream: {}{copied}", made.file.display());
    if let Some(dfu) = &made.dfu {
        println!(
            "DFU image: {}{copied}: hold the board's button for a second (or plug it in with \
             the button down) for its bootloader",
            dfu.display()
        );
    }
    // Where the files are for the user: the copies, when asked for.
    let at = |file: &Path| match &args.output {
        Some(dir) => dir.join(file.file_name().unwrap_or_default()),
        None => file.to_path_buf(),
    };
    let dfu = made.dfu.as_deref().map(at);
    if let Some(load) = board.load_command(
        &at(&made.file).display().to_string(),
        dfu.as_ref().map(|d| d.display().to_string()).as_deref(),
    ) {
        println!("load it (not part of Monorail): {load}");
    }
    if let (Some(code), Some(device)) = (made.idcode, &board.target.device) {
        println!(
            "IDCODE 0x{code:08x}, the {}'s, checked in the bitstream",
            device.part
        );
    }
    if args.strict_timing && !made.meets_timing() {
        return Err(CliError::failed(format!(
            "--strict-timing: Fmax {} is below the target's {} MHz (nextpnr's report: {})",
            made.fmax_hz
                .map_or("unknown".to_string(), |f| format!("{:.2} MHz", f / 1e6)),
            made.constraint_hz / 1e6,
            made.dir.join("report.json").display()
        )));
    }
    Ok(())
}

/// A line of the summary into `out`, as `println!` would print it.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// A seed sweep's placements, each seed's estimate, and the seed placed and routed.
fn print_sweep(out: &mut String, made: &Bitstream) {
    if made.sweep.is_empty() {
        return;
    }
    say!(out, "{:<6} {:>14}  log", "seed", "placed (est.)");
    for p in &made.sweep {
        say!(
            out,
            "{:<6} {:>10.2} MHz  {}{}",
            p.seed,
            p.estimate_mhz,
            p.log.display(),
            if p.seed == made.seed {
                "  (routed)"
            } else if made.unrouted.iter().any(|u| u.seed == p.seed) {
                "  (did not route)"
            } else {
                ""
            }
        );
    }
    for u in &made.unrouted {
        say!(out, "seed {}: {}", u.seed, u.reason);
    }
    let fastest = if made.unrouted.is_empty() {
        format!("fastest of the {}", made.sweep.len())
    } else {
        format!(
            "fastest of the {} after {} whose routing did not converge",
            made.sweep.len(),
            made.unrouted.len()
        )
    };
    say!(
        out,
        "seed {} placed and routed: its placement is estimated {fastest} (`--seed {}` builds it \
         again without the sweep)",
        made.seed,
        made.seed
    );
}

/// The weights swapped in, the resources used, Fmax against the target's clock and the tokens
/// per second it projects from the compiler's `cycles` a token: the core's, and through the
/// host link at `baud`.
fn print_made(out: &mut String, made: &Bitstream, cycles: &[u64], baud: u32) {
    let w = &made.weights;
    if w.memories == 0 {
        say!(
            out,
            "weights: none in the bitstream: the small core's memories start empty, and \
             `monorail chat` loads the model over the UART first"
        );
    } else {
        let copies: Vec<String> = w
            .copies
            .iter()
            .map(|(file, n)| format!("{file} held {n} times"))
            .collect();
        say!(
            out,
            "weights: {} bit slices of {} memory images swapped into {} block RAMs of the \
             routed design, each checked{}",
            w.slices,
            w.memories,
            w.block_rams,
            if copies.is_empty() {
                String::new()
            } else {
                format!(" ({})", copies.join(", "))
            }
        );
    }
    say!(
        out,
        "{:<16} {:>8} {:>10} {:>6}",
        "resource",
        "used",
        "available",
        "share"
    );
    for r in &made.resources {
        say!(
            out,
            "{:<16} {:>8} {:>10} {:>5.1}%",
            r.name,
            r.used,
            r.available,
            100.0 * r.used as f64 / r.available.max(1) as f64
        );
    }
    let target_mhz = made.constraint_hz / 1e6;
    let mean_cycles = cycles.iter().sum::<u64>() as f64 / cycles.len().max(1) as f64;
    match made.fmax_hz {
        Some(f) => say!(
            out,
            "Fmax {:.2} MHz against the target's {target_mhz} MHz: {}",
            f / 1e6,
            if made.meets_timing() { "met" } else { "FAIL" }
        ),
        None => say!(out, "Fmax: nextpnr reported none"),
    }
    let mut projection = format!(
        "projected: {:.0} tokens/s at {target_mhz} MHz ({mean_cycles:.0} cycles a token, the \
         mean over positions 0 to {})",
        made.constraint_hz / mean_cycles,
        cycles.len() - 1
    );
    if let Some(f) = made.fmax_hz.filter(|_| !made.meets_timing()) {
        projection += &format!("; {:.0} tokens/s at the achieved Fmax", f / mean_cycles);
    }
    say!(out, "{projection}");
    let linked = 1.0 / monorail_contract::host::step_seconds(baud, made.constraint_hz, mean_cycles);
    say!(
        out,
        "through the host link at {baud} baud (`monorail chat`: each token's STEP and reply, \
         {} bytes on the line): {linked:.0} tokens/s, less the USB bridge's latency",
        monorail_contract::host::STEP_COMMAND_BYTES + monorail_contract::host::STEP_REPLY_BYTES
    );
}

/// Where the clock goes: the critical path, then how many of the routed design's clocked
/// endpoints a clock of `goal_mhz` would fail, and the slowest blocks of the RTL with theirs.
fn print_paths(out: &mut String, made: &Bitstream, goal_mhz: f64) {
    if let Some(path) = &made.critical_path {
        let longest = path
            .longest_net
            .as_ref()
            .map_or(String::new(), |(ns, net)| {
                format!(
                    "; its longest net {ns:.2} ns, {}",
                    monorail_fpga::paths::block_of(net)
                )
            });
        say!(
            out,
            "critical path: {} to {}, {:.2} ns ({:.2} of it routing{longest})",
            path.from,
            path.to,
            path.delay_ns,
            path.routing_ns
        );
    }
    if made.blocks.is_empty() {
        return;
    }
    let period_ns = 1e3 / goal_mhz;
    let lateness = monorail_fpga::paths::late_for(&made.blocks, period_ns);
    let goal = format!("{goal_mhz} MHz ({period_ns:.2} ns)");
    if lateness.late == 0 {
        say!(
            out,
            "endpoints late for {goal}: none of {}",
            lateness.endpoints
        );
    } else {
        // Whole nanoseconds, or hundredths below ten: one endpoint just past the goal is late by
        // less than one.
        let ns = lateness.total_negative_slack_ns;
        let slack = if ns < 10.0 {
            format!("{ns:.2}")
        } else {
            format!("{ns:.0}")
        };
        say!(
            out,
            "endpoints late for {goal}: {} of {}, in {} of {} blocks; total negative slack \
             {slack} ns",
            lateness.late,
            lateness.endpoints,
            lateness.late_blocks,
            made.blocks.len(),
        );
        let units: Vec<String> = lateness
            .by_unit
            .iter()
            .map(|(unit, n)| format!("{unit} {n}"))
            .collect();
        say!(out, "late by unit: {}", units.join(", "));
    }
    // (The blocks come latest first, so those with late endpoints lead.)
    let listed = lateness
        .late_blocks
        .clamp(SLOWEST_BLOCKS, MOST_LATE_BLOCKS)
        .min(made.blocks.len());
    say!(out, "the slowest blocks:");
    say!(out, "{:>9} {:>6}  block", "latest", "late");
    for block in &made.blocks[..listed] {
        say!(
            out,
            "{:>6.2} ns {:>6}  {}",
            block.latest_ns(),
            block.later_than(period_ns),
            block.name
        );
    }
    let unlisted: Vec<usize> = made.blocks[listed..]
        .iter()
        .map(|block| block.later_than(period_ns))
        .filter(|&late| late > 0)
        .collect();
    if !unlisted.is_empty() {
        say!(
            out,
            "and {} more blocks with {} endpoints late",
            unlisted.len(),
            unlisted.iter().sum::<usize>()
        );
    }
}

/// Files in `dir` that `bitstream -o` writes for some board but did not write now (`written`):
/// another family's bitstream, or a DFU image for a board without a DFU bootloader. First those
/// an earlier build copied there (`earlier`, its [`COPIED_RECORD`]) and nobody changed since,
/// then the others, which are not Monorail's to remove.
fn stale_outputs(
    dir: &Path,
    written: &[&Path],
    earlier: &[(String, u64)],
) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let names: Vec<&std::ffi::OsStr> = written.iter().filter_map(|f| f.file_name()).collect();
    Family::ALL
        .iter()
        .map(|&family| monorail_fpga::bitstream::packed_file(family))
        .chain([monorail_fpga::dfu::DFU_FILE])
        .filter(|name| !names.contains(&std::ffi::OsStr::new(name)))
        .map(|name| dir.join(name))
        .filter(|path| path.is_file())
        .partition(|path| {
            content_hash(path).is_some_and(|h| earlier.contains(&(file_name(path), h)))
        })
}

/// The record `bitstream -o DIR` keeps in `DIR` of the files it copied there, each with its
/// hash, so that a later build removes only files of its own that nobody changed since.
const COPIED_RECORD: &str = "monorail-bitstream.txt";

/// Copy `files` into `dir` (created if missing), each written whole, and record them in
/// [`COPIED_RECORD`].
fn copy_into(dir: &Path, files: &[&Path], board: &str) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| refused(format!("{}: {e}", dir.display())))?;
    let mut record = format!(
        "# `monorail bitstream --board {board}` copied these files here (name, FNV-1a hash of \
         the bytes);\n# a later build into this folder removes those it does not write again, \
         where unchanged.\n"
    );
    for file in files {
        let name = file_name(file);
        let bytes = std::fs::read(file)
            .map_err(|e| CliError::failed(format!("{}: {e}", file.display())))?;
        checkpoint::write_atomically(&dir.join(&name), &bytes).map_err(failed)?;
        record += &format!("{name} {:016x}\n", monorail_contract::fnv1a(&bytes));
    }
    checkpoint::write_atomically(&dir.join(COPIED_RECORD), record.as_bytes()).map_err(failed)
}

/// The files (name, hash) that [`COPIED_RECORD`] in `dir` lists: none without one.
fn copied_before(dir: &Path) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(dir.join(COPIED_RECORD)).unwrap_or_default();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .filter_map(|(name, hash)| Some((name.to_string(), u64::from_str_radix(hash, 16).ok()?)))
        .collect()
}

/// `path`'s FNV-1a hash, as [`COPIED_RECORD`] keeps it; none when it cannot be read.
fn content_hash(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    Some(monorail_contract::fnv1a(&bytes))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_list_takes_seeds_and_ranges_in_order_once_each() {
        let list = |t: &str| seed_list(t).map(|s| s.0);
        assert_eq!(list("7"), Ok(vec![7]));
        assert_eq!(list("1-4"), Ok(vec![1, 2, 3, 4]));
        assert_eq!(list("9, 2-3,2,0"), Ok(vec![9, 2, 3, 0]));
        assert_eq!(list("1-64").unwrap().len(), 64);
        let refused = |t: &str, says: &str| {
            let why = seed_list(t).unwrap_err();
            assert!(why.contains(says), "{t}: {why}");
        };
        refused("", "`` is not a seed");
        refused("1,,2", "`` is not a seed");
        refused("x", "`x` is not a seed");
        refused("-3", "`` is not a seed");
        refused("5-2", "give it as 2-5");
        refused(&format!("{}", i32::MAX as u64 + 1), "from 0 to 2147483647");
        refused("1-65", "at most 64 seeds");
        refused("0-2147483647", "at most 64 seeds");
        refused("1-40,100-130", "at most 64 seeds");
    }

    #[test]
    fn stale_outputs_are_the_other_boards_files_only() {
        let dir = tempfile::TempDir::new().unwrap();
        let d = dir.path();
        for name in [
            "top.bit",
            "top.bin",
            "top.fs",
            "top.dfu",
            "report.json",
            "notes.txt",
        ] {
            std::fs::write(d.join(name), b"x").unwrap();
        }
        // As an earlier build's record has them: every file, as it is now.
        let x = monorail_contract::fnv1a(b"x");
        let earlier: Vec<(String, u64)> = ["top.bit", "top.bin", "top.fs", "top.dfu"]
            .map(|n| (n.to_string(), x))
            .to_vec();
        let names = |paths: Vec<PathBuf>| {
            let mut names: Vec<String> = paths.iter().map(|p| file_name(p)).collect();
            names.sort();
            names
        };
        let split = |written: &[&str], earlier: &[(String, u64)]| {
            let paths: Vec<PathBuf> = written.iter().map(|n| Path::new("/b").join(n)).collect();
            let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
            let (stale, foreign) = stale_outputs(d, &refs, earlier);
            (names(stale), names(foreign))
        };
        let stale = |written: &[&str]| split(written, &earlier).0;
        // An ECP5 board without DFU, one with it, an iCE40 and a Gowin board.
        assert_eq!(
            stale(&["top.bit", "report.json"]),
            ["top.bin", "top.dfu", "top.fs"]
        );
        assert_eq!(
            stale(&["top.bit", "report.json", "top.dfu"]),
            ["top.bin", "top.fs"]
        );
        assert_eq!(
            stale(&["top.bin", "report.json"]),
            ["top.bit", "top.dfu", "top.fs"]
        );
        assert_eq!(
            stale(&["top.fs", "report.json"]),
            ["top.bin", "top.bit", "top.dfu"]
        );
        // A file the record does not list, or one changed since, is not Monorail's to remove.
        std::fs::write(d.join("top.bin"), b"the user's").unwrap();
        let without_dfu = &earlier[..3];
        assert_eq!(
            split(&["top.bit"], without_dfu),
            (
                vec!["top.fs".into()],
                vec!["top.bin".into(), "top.dfu".into()]
            )
        );
        // Only files count.
        std::fs::remove_file(d.join("top.fs")).unwrap();
        std::fs::create_dir(d.join("top.fs")).unwrap();
        assert_eq!(stale(&["top.bit", "top.dfu"]), Vec::<String>::new());
    }

    #[test]
    fn the_record_of_copied_files_reads_back_with_their_hashes() {
        let (from, to) = (
            tempfile::TempDir::new().unwrap(),
            tempfile::TempDir::new().unwrap(),
        );
        let files = [from.path().join("top.bit"), from.path().join("report.json")];
        std::fs::write(&files[0], b"bits").unwrap();
        std::fs::write(&files[1], b"{}").unwrap();
        assert!(copied_before(to.path()).is_empty());
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        assert!(copy_into(to.path(), &refs, "ulx3s-45f").is_ok());
        assert_eq!(std::fs::read(to.path().join("top.bit")).unwrap(), b"bits");
        assert_eq!(
            copied_before(to.path()),
            [
                ("top.bit".to_string(), content_hash(&files[0]).unwrap()),
                ("report.json".to_string(), content_hash(&files[1]).unwrap()),
            ]
        );
    }
}
