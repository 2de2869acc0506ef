//! `monorail gen`: the core of a target (its Verilog), or a board's top around it, with a
//! compiled model's memory images and a report, written whole into a folder named by the target
//! (or board) and a hash of what it holds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use monorail_contract::bundle::Bundle;
use monorail_contract::target::{Core, Target};
use monorail_model::checkpoint;

use monorail_fpga::bitstream::{clock_constraint, ClockConstraint};
use monorail_hw::board::{board_top, TopFor};
use monorail_hw::BUNDLE_PLUSARG;

use crate::cli::{megahertz, BoardArgs, MachineArgs, ModelArgs};
use crate::error::{refused, CliError};
use crate::load::{compile_for, load_for};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    machine: MachineArgs,
    /// A board's top instead of the bare core, as `bitstream` builds it: the core of the
    /// board's target (or of --target, which it then carries instead) with the UART bridged to
    /// its host port, the PLL and the LEDs, in `top.v`, and the board's constraint file beside
    /// it. A built-in board or a board file (.toml).
    #[arg(long)]
    board: Option<String>,
    /// With --board: the core's clock in MHz instead of its target's, made by the board's PLL.
    #[arg(long, value_name = "MHZ", value_parser = megahertz, requires = "board")]
    clock: Option<u64>,
    /// With --board: the UART's speed; default: the board file's.
    #[arg(long, requires = "board")]
    baud: Option<u32>,
    /// The core's module name instead of `top` (its submodules then `NAME$...`, and on a wide
    /// core the plusarg of its images under Verilator `+monorail_bundle_NAME=DIR`), to hold it beside
    /// other modules (another core, with a model of its own) in a flow of your own; not with
    /// --board, whose top
    /// is `top` and whose core is `core`.
    #[arg(long, value_name = "NAME", conflicts_with = "board")]
    module: Option<String>,
    /// Output folder; default: gen/TARGET-HASH (or gen/board-BOARD-HASH) in the build folder
    /// (`build/`, or $MONORAIL_BUILD_DIR; HASH: of the files written).
    #[arg(long, short = 'o', value_name = "DIR")]
    output: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    if let Some(dir) = &args.output {
        crate::cli::output_folder(dir, "the design")?;
    }
    if let Some(name) = &args.module {
        monorail_hw::module_name_rule(name)
            .map_err(|rule| refused(format!("--module {name}: {rule}")))?;
    }
    let board = match &args.board {
        Some(name) => Some(
            BoardArgs {
                board: name.clone(),
                target: args.machine.target.clone(),
                clock: args.clock,
                baud: args.baud,
            }
            .board()?,
        ),
        None => None,
    };
    let target = match &board {
        Some(board) => board.target.clone(),
        None => args.machine.target()?,
    };
    let start = Instant::now();
    let mut design = monorail_hw::generate(&target);
    if let Some(board) = &board {
        design.verilog = board_top(board, &design, TopFor::Synthesis, board.uart_baud)
            .map_err(|e| refused(e.to_string()))?;
    }
    if let Some(name) = &args.module {
        design.verilog = design.verilog_apart(name);
    }
    let generated_ms = start.elapsed().as_secs_f64() * 1e3;
    let loaded = load_for(&args.model, &target)?;
    let (target, _, compiled) = compile_for(&loaded, target, args.machine.context)?;
    let mut report = monorail_hw::report(&target);
    // The plusarg the memories read their images from, under Verilator (the wide core's).
    let plusarg = match &args.module {
        Some(name) => format!("{BUNDLE_PLUSARG}_{name}"),
        None => BUNDLE_PLUSARG.to_string(),
    };
    if let Some(name) = &args.module {
        report.push(format!(
            "module: `{name}` (its submodules `{name}$...`), in place of `top`{}",
            if target.core == Core::Wide {
                format!(
                    "; its memories load their images under Verilator from +{plusarg}=DIR, so \
                     that cores beside each other each run their own model (with \
                     MONORAIL_INIT, every core reads the same file names from the working \
                     folder)"
                )
            } else {
                String::new()
            }
        ));
    }
    // A line for each part of the compiler's summary, as `compile` prints them.
    report.push(format!("model: {}, compiled:", loaded.name));
    let summary =
        super::compile::summary(&loaded, &target, &compiled, args.machine.context.is_none());
    report.extend(summary.iter().map(|part| format!("  {part}")));
    if target.core == Core::Wide {
        report.push(format!(
            "memory images: the memories load them under Verilator (+{plusarg}=DIR), or \
             elsewhere with the define MONORAIL_INIT, from the working folder (yosys's \
             read_verilog -DMONORAIL_INIT, iverilog -DMONORAIL_INIT, run in this folder); without \
             either they start empty, with no warning (docs/hardware.md)"
        ));
    }
    // The board's pins and its clock constraint beside the top, as `bitstream` gives them to
    // nextpnr.
    let mut beside: Vec<(&str, &[u8])> = Vec::new();
    let clock;
    if let Some(b) = &board {
        clock = clock_constraint(b);
        let clock_note = match &clock {
            ClockConstraint::File { name, text } => {
                beside.push((name, text.as_bytes()));
                format!("the clock constraint in {name} (nextpnr-ecp5 --lpf for each)")
            }
            ClockConstraint::Freq(mhz) => format!("nextpnr's clock constraint: --freq {mhz}"),
        };
        beside.push((b.constraints_file.as_str(), b.constraints.as_bytes()));
        report.push(format!(
            "board: {} ({} {}): the core at {} MHz from the board's {} MHz clock, UART at {} \
             baud; pins in {}, {clock_note}",
            b.name,
            b.target.device.as_ref().map_or("", |d| d.part.as_str()),
            b.package,
            b.target.clock_hz as f64 / 1e6,
            b.clock_hz as f64 / 1e6,
            b.uart_baud,
            b.constraints_file
        ));
    }
    let name = match &board {
        Some(b) => format!("board-{}", b.name),
        None => target.name.clone(),
    };
    // The build folder only where the design goes there (not with -o).
    let root = match &args.output {
        Some(_) => PathBuf::new(),
        None => crate::machine::build_root()?.join("gen"),
    };
    let written = write_design(
        &design,
        &compiled.bundle,
        &target,
        &report,
        &beside,
        args.output,
        (&root, &name),
    )
    .map_err(CliError::failed)?;
    for line in &report {
        println!("{line}");
    }
    // Written all the same (a simulation needs no device), but said where it is easy to see.
    let overflows = target.device_overflows();
    if !overflows.is_empty() {
        eprintln!(
            "monorail: warning: the core does not fit its device: {}; it simulates, but \
             `monorail bitstream` refuses it",
            overflows.join("; ")
        );
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

/// Where a design was written, and whether the folder already held the same files.
pub struct Written {
    pub dir: PathBuf,
    pub reused: bool,
}

/// Write the design (`top.v`), the bundle's files, `report.txt` and the files `beside` it (a
/// board's constraint files: name and text) into `output`, or, without it, into
/// `ROOT/NAME-HASH` (HASH of the files; kept when it exists: the same inputs give the same
/// bytes). Files are written whole (a temporary name, then renamed); into `output`, the files of
/// an earlier design that this one replaces (`top.v`, `report.txt`, the bundle's manifest) are
/// checked first, and `report.txt` is emptied then and written last, so that a run that cannot
/// write them writes nothing, and one that fails midway leaves no folder that looks complete.
pub fn write_design(
    design: &monorail_hw::Design,
    bundle: &Bundle,
    target: &Target,
    report: &[String],
    beside: &[(&str, &[u8])],
    output: Option<PathBuf>,
    (root, name): (&Path, &str),
) -> Result<Written, String> {
    let write_into = |dir: &Path| -> Result<(), String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("creating the folder {}: {e}", dir.display()))?;
        // Each file of an earlier design that this one replaces can be written (through a
        // link, as it will be), or nothing is; then its report, the mark of a whole design, is
        // emptied until this one's is written, last.
        for old in ["top.v", "manifest.json", "report.txt"] {
            let path = dir.join(old);
            if !path.exists() {
                continue; // (nor what a link to nothing names, which the write makes)
            }
            let opened = std::fs::OpenOptions::new().append(true).open(&path);
            let emptied = opened.and_then(|f| match old {
                "report.txt" => f.set_len(0),
                _ => Ok(()),
            });
            if let Err(e) = emptied {
                return Err(format!(
                    "{}: {e}: it cannot be replaced, so nothing was written; give another folder",
                    path.display()
                ));
            }
        }
        bundle.write(dir, target).map_err(|e| e.to_string())?;
        checkpoint::write_atomically(&dir.join("top.v"), design.verilog.as_bytes())
            .map_err(|e| e.to_string())?;
        for (name, text) in beside {
            checkpoint::write_atomically(&dir.join(name), text).map_err(|e| e.to_string())?;
        }
        let text: String = report.iter().map(|l| format!("{l}\n")).collect();
        checkpoint::write_atomically(&dir.join("report.txt"), text.as_bytes())
            .map_err(|e| e.to_string())
    };
    if let Some(dir) = output {
        write_into(&dir)?;
        return Ok(Written { dir, reused: false });
    }
    // Write beside the final folder, hash what was written, then move it into place.
    let staging = root.join(format!(".{name}.{}.partial", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    write_into(&staging)?;
    let mut names: Vec<_> = std::fs::read_dir(&staging)
        .map_err(|e| format!("{}: {e}", staging.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    let mut parts = Vec::new();
    for name in &names {
        parts.push(name.as_encoded_bytes().to_vec());
        parts.push(std::fs::read(staging.join(name)).map_err(|e| e.to_string())?);
    }
    let hash = monorail_fpga::tools::fnv(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let dir = root.join(format!("{name}-{hash:016x}"));
    if dir.is_dir() {
        let _ = std::fs::remove_dir_all(&staging);
        return Ok(Written { dir, reused: true });
    }
    std::fs::rename(&staging, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(Written { dir, reused: false })
}
