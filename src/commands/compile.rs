//! `monorail compile`: a model compiled for a target into a bundle, with what the schedule makes
//! of the token step (cycles against the MAC bound, busy units, the longest dependence chain).

use std::path::{Path, PathBuf};
use std::time::Instant;

use monorail_compiler::{timeline, CompileOptions, Compiled};
use monorail_contract::bundle::Region;
use monorail_contract::counted;
use monorail_contract::isa::Unit;
use monorail_contract::model_config::ModelConfig;
use monorail_contract::target::{Core, Target, VectorMemory};
use monorail_model::checkpoint;

use crate::cli::{MachineArgs, ModelArgs};
use crate::error::{failed, refused, CliError};
use crate::load::{load_for, Loaded};

#[derive(clap::Args)]
pub struct Args {
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
    /// Position of the token step the timeline draws; default: the middle of the context, the
    /// position of the table of busy cycles by model step.
    #[arg(long, requires = "timeline")]
    timeline_position: Option<usize>,
}

/// The bytes of a `top.v` read for its first line, which names the target it was generated for.
const HEAD_BYTES: u64 = 512;

/// Warn where `dir` holds a `top.v` that `monorail gen` wrote for another target than the
/// bundle just written there: that design does not run it.
fn warn_of_another_core(dir: &Path, target: &str) {
    let top = dir.join("top.v");
    let mut head = Vec::new();
    if let Ok(file) = std::fs::File::open(&top) {
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(file, HEAD_BYTES), &mut head);
    }
    let head = String::from_utf8_lossy(&head);
    if let Some(other) = monorail_hw::generated_for(&head).filter(|&other| other != target) {
        eprintln!(
            "monorail: warning: {} was generated for target {other}, and does not run this \
             bundle of {target} (`monorail gen` writes a design and its bundle together)",
            top.display()
        );
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    let started = Instant::now();
    if let Some(path) = &args.timeline {
        // Refused before anything is compiled or written (through links, as it is written).
        crate::cli::output_file("--timeline", path)?;
        let reached = checkpoint::through_links(path).unwrap_or_else(|_| path.clone());
        let parent = reached.parent().filter(|p| !p.as_os_str().is_empty());
        if parent.is_some_and(|p| !p.is_dir()) {
            return Err(refused(format!(
                "--timeline {}: not a file in an existing folder",
                path.display()
            )));
        }
    }
    crate::cli::output_folder(&args.output, "the bundle")?;
    let target = args.machine.target()?;
    let loaded = load_for(&args.model, &target)?;
    let context = args.machine.context;
    let start = Instant::now();
    // Choosing the built-in model that the target holds compiled it already: that compilation
    // is taken, and its time counted as compiling.
    let (_, compiled, elapsed) = loaded.compile(&target, CompileOptions::serving(context))?;
    let compiled_at = Instant::now();
    // Where the compilation was taken, its time is inside the loading's, and comes off it.
    let taken = elapsed.saturating_sub(compiled_at - start);
    let loaded_in = (start - started).saturating_sub(taken);
    let position = args.timeline_position.unwrap_or(compiled.chain.position);
    if args.timeline.is_some() && position >= compiled.bundle.manifest.context {
        return Err(refused(format!(
            "--timeline-position {position} is past the context of {} positions",
            compiled.bundle.manifest.context
        )));
    }
    compiled
        .bundle
        .write(&args.output, &target)
        .map_err(|e| failed(format!("writing the bundle: {e}")))?;
    warn_of_another_core(&args.output, &target.name);
    let written = Instant::now();
    if let Some(path) = &args.timeline {
        let title = format!("{} on {}", loaded.name, target.name);
        let svg = timeline::svg(&compiled.code, &target, position, &title);
        checkpoint::write_atomically(path, svg.as_bytes()).map_err(failed)?;
    }
    println!(
        "compiled {} for {} in {:.0} ms ({}) -> {}",
        loaded.name,
        target.name,
        elapsed.as_secs_f64() * 1e3,
        monorail_compiler::PASSES.join(" -> "),
        args.output.display()
    );
    for line in summary(&loaded, &target, &compiled, context.is_none()) {
        println!("  {line}");
    }
    for line in step_table(&target, &compiled) {
        println!("  {line}");
    }
    if let Some(path) = &args.timeline {
        println!("  timeline of position {position} -> {}", path.display());
    }
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!(
        "  {:.0} ms in all: the model chosen, loaded and quantised in {:.0}, compiled in {:.0}, the \
         bundle written in {:.0}, this report{} in {:.0}",
        ms(started.elapsed()),
        ms(loaded_in),
        ms(elapsed),
        ms(written - compiled_at),
        if args.timeline.is_some() {
            " and the timeline"
        } else {
            ""
        },
        ms(written.elapsed())
    );
    Ok(())
}

/// The MAC bound of a token step at `pos`: its multiply-accumulates over the target's lanes.
fn mac_bound(config: &ModelConfig, target: &Target, pos: usize) -> f64 {
    config.macs_per_token(pos) as f64 / target.lanes as f64
}

/// The README's figure of a program: its `cycles` per token against the MAC bound, on average
/// over the first 256 positions or all there are; and how many that is.
pub fn times_mac_bound(config: &ModelConfig, target: &Target, cycles: &[u64]) -> (f64, usize) {
    let positions = cycles.len().min(256);
    let ratio = (0..positions)
        .map(|p| cycles[p] as f64 / mac_bound(config, target, p))
        .sum::<f64>()
        / positions as f64;
    (ratio, positions)
}

/// What a compilation made: instructions, context, memory use, cycles per token and how far
/// they are from the MAC bound; one line each. `context_chosen` says the context was the
/// default (the longest the target holds, up to seq_len).
pub fn summary(
    loaded: &Loaded,
    target: &Target,
    compiled: &Compiled,
    context_chosen: bool,
) -> Vec<String> {
    let m = &compiled.bundle.manifest;
    let config = &loaded.checkpoint.config;
    let cycles = &m.predicted_cycles;
    let bound = |pos: usize| mac_bound(config, target, pos);
    let (ratio, positions) = times_mac_bound(config, target, cycles);
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
        "{} instructions, context {}{clamped}, {} sets of attention buffers, matrix products in up to {}; matrix memory {} / {} words; elements of {}",
        m.instructions,
        counted(m.context, "position"),
        compiled.attention_sets,
        counted(compiled.product_pieces, "piece"),
        used(Region::MATRIX),
        target.matrix_words(),
        vector_use.join(", ")
    )];
    let mut positions_shown = vec![0, cycles.len() / 2, cycles.len() - 1];
    positions_shown.dedup();
    for pos in positions_shown {
        let [mxu, vxu, sxu] = timeline::busy(&compiled.code, target, pos);
        lines.push(format!(
            "position {pos}: {} cycles; busy: matrix unit {mxu}, vector unit {vxu}, scalar unit {sxu}; MAC bound {:.0}",
            cycles[pos],
            bound(pos)
        ));
    }
    lines.push(if cycles.len() == 1 {
        format!(
            "cycles per token: {} at position 0, the context's one position; {ratio:.2}x the MAC bound",
            cycles[0]
        )
    } else {
        format!(
            "cycles per token: {} at position 0, {} at position {}; {:.2}x the MAC bound on average over positions 0 to {}",
            cycles[0],
            cycles[cycles.len() - 1],
            cycles.len() - 1,
            ratio,
            positions - 1
        )
    });
    if let (Core::Small, Some(d), Some(e)) =
        (target.core, &target.device, target.small_core_estimate())
    {
        let mean = cycles.iter().sum::<u64>() as f64 / cycles.len() as f64;
        lines.push(format!(
            "small core: one instruction at a time, by a micro-program of {} words; {:.0} tokens/s \
             at {} MHz (mean over the context); on the {}: {} (the estimate that yosys's \
             synthesis of its RTL is held to)",
            monorail_contract::micro::program().rom.len(),
            target.clock_hz as f64 / mean,
            target.clock_hz as f64 / 1e6,
            d.part,
            e.against(d)
        ));
    }
    lines
}

/// Where a token step's unit time goes at the middle position of the context: per model step
/// (all layers), its instructions, the cycles each unit is busy with them and the cycles they
/// take of the longest dependence chain; then that chain against the schedule.
fn step_table(target: &Target, compiled: &Compiled) -> Vec<String> {
    let cycles = &compiled.bundle.manifest.predicted_cycles;
    let chain = &compiled.chain;
    // The middle of the context, where the schedule measured the chain.
    let pos = chain.position;
    let rows = timeline::busy_by_step(&compiled.code, target, pos);
    // One instruction at a time on the small core: no unit works beside another, so no
    // schedule shortens the step and the chain says nothing.
    let small = target.core == Core::Small;
    let mut lines = vec![
        if small {
            format!("busy cycles by model step at position {pos} (all layers):")
        } else {
            format!("busy cycles by model step at position {pos} (all layers), and their part of the longest dependence chain:")
        },
        format!(
            "{:<12} {:>12} {:>12} {:>12} {:>12} {:>12}",
            "step",
            "instructions",
            "matrix unit",
            "vector unit",
            "scalar unit",
            if small { "" } else { "chain" }
        )
        .trim_end()
        .to_string(),
    ];
    for r in rows {
        let [mxu, vxu, sxu] = r.busy;
        let on_chain = chain
            .by_step
            .iter()
            .find(|(step, _)| *step == r.step)
            .map_or(0, |&(_, c)| c);
        let row = format!(
            "{:<12} {:>12} {mxu:>12} {vxu:>12} {sxu:>12}",
            r.step.name(),
            r.instructions
        );
        lines.push(if small {
            row
        } else {
            format!("{row} {on_chain:>12}")
        });
    }
    if small {
        return lines;
    }
    lines.push(format!(
        "longest dependence chain at position {pos}: {} cycles through {} instructions, a bound no schedule of this program can beat (it counts the instructions' dependences, not the units' occupancy); this one takes {} ({:.2}x)",
        chain.cycles,
        chain.links.len(),
        cycles[pos],
        cycles[pos] as f64 / chain.cycles.max(1) as f64
    ));
    let o = timeline::occupation(&compiled.code, target, pos);
    lines.push(format!(
        "of its {} cycles, the vector unit is busy {}, the matrix unit works alone {} and neither works {} (latencies, scalar steps)",
        cycles[pos], o.vector, o.matrix_alone, o.neither
    ));
    let by_instruction: Vec<String> =
        timeline::busy_by_instruction(&compiled.code, target, pos, Unit::Vxu)
            .iter()
            .map(|(mnemonic, n, busy)| format!("{mnemonic} {busy} ({n})"))
            .collect();
    lines.push(format!(
        "the vector unit's busy cycles by instruction (how many): {}",
        by_instruction.join(", ")
    ));
    lines
}
