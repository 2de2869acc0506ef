//! `monorail cosim`: the golden model, the instruction-set simulator and the Verilated core,
//! token by token, every named step's values and every step's cycles compared.

use std::path::{Path, PathBuf};
use std::time::Instant;

use monorail_contract::counted;
use monorail_contract::target::Core;
use monorail_contract::timing::VXU_PIPELINE_CYCLES;
use monorail_model::tokenizer::BOS;
use monorail_sim::cosim::Cosim;
use monorail_sim::verilated::Waveforms;

use crate::cli::{MachineArgs, ModelArgs, PromptArgs};
use crate::error::{failed, refused, CliError};
use crate::load::{
    load_bundle, load_for, load_for_bundle, positions_to_run, prompt_tokens,
    warn_where_the_prompt_fills, Loaded, LoadedBundle, BUNDLE_CONTEXT,
};
use crate::machine::{prepare_cosim, say_building};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    prompt: PromptArgs,
    #[command(flatten)]
    machine: MachineArgs,
    /// Co-simulate this bundle (the folder `monorail compile` or `monorail asm` wrote) instead of
    /// compiling the model, on the target it was compiled for; the model flags name the model
    /// it was compiled from (by default the built-in model of its shape), which the golden model
    /// runs.
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// Positions to run, prompt included (then greedily); at most the bundle's context, which 0
    /// runs whole.
    #[arg(long, short = 'n', default_value_t = 16)]
    steps: usize,
    /// Compare the Verilated core with the ISS alone, leaving the golden model out: for a
    /// program edited to compute something other than the model (`monorail asm`), which the
    /// core must still run as the ISS does, value for value and cycle for cycle.
    #[arg(long)]
    no_golden: bool,
    /// On a divergence, write the core's waveform of the diverging token step here (VCD): where
    /// the core ran that step (not where the golden model and the ISS differ first).
    #[arg(long, value_name = "FILE.vcd")]
    waves: Option<PathBuf>,
    /// Inject a fault into the core, to see the checker catch it: `lane=N` (matrix lane N's
    /// products off by one bit; N below the target's lanes) or `latency=N` (the sequencer
    /// counts N cycles too few for the vector unit, from 1 to its pipeline's stages).
    #[arg(long, value_name = "FAULT")]
    inject: Option<String>,
}

/// Refuse a `--waves` file that could not be written, before the co-simulation runs (it is
/// written only on a divergence): its folder is made, and a file that was not there is not
/// left behind. Returns the folders it made, outermost first, for a run that writes no
/// waveform to take away.
fn writable(path: &Path) -> Result<Vec<PathBuf>, CliError> {
    let cannot = |e: std::io::Error| {
        refused(format!(
            "--waves {}: cannot write it ({e}); name a file in a folder you can write",
            path.display()
        ))
    };
    // Each folder on the way made one at a time, so that only those this made are taken away.
    let mut made = Vec::new();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut folders: Vec<&Path> = parent
            .ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .collect();
        folders.reverse();
        for folder in folders {
            match std::fs::create_dir(folder) {
                Ok(()) => made.push(folder.to_path_buf()),
                Err(_) if folder.is_dir() => {}
                Err(e) => {
                    take_away(&made);
                    return Err(cannot(e));
                }
            }
        }
    }
    let existed = path.exists();
    if let Err(e) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        take_away(&made);
        return Err(cannot(e));
    }
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(made)
}

/// Remove the folders `writable` made (`made`, outermost first), innermost first, where empty.
fn take_away(made: &[PathBuf]) {
    for dir in made.iter().rev() {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Cycles of the waveform `cosim --waves` writes before and after the divergence.
const WAVE_CYCLES_BEFORE: u64 = 200;
const WAVE_CYCLES_AFTER: u64 = 20;

pub fn run(args: Args) -> Result<(), CliError> {
    // The fault to inject: its kind and N.
    let fault = match args.inject.as_deref() {
        None => None,
        Some(fault) => {
            let expected = || refused(format!("--inject {fault}: expected lane=N or latency=N"));
            let (kind, n) = fault.split_once('=').unwrap_or((fault, ""));
            let n: u32 = n.parse().map_err(|_| expected())?;
            match kind {
                "lane" | "latency" => Some((kind, n)),
                _ => return Err(expected()),
            }
        }
    };
    let mut made_for_waves = Vec::new();
    if let Some(w) = &args.waves {
        if w.extension().is_none_or(|e| e != "vcd") {
            return Err(refused(format!(
                "--waves {}: the core's waveform is written as VCD; name a .vcd file",
                w.display()
            )));
        }
        made_for_waves = writable(w)?;
    }
    let outcome = (|| {
        let given = match &args.bundle {
            Some(dir) => Some(load_bundle(dir, args.machine.target.as_deref())?),
            None => None,
        };
        let target = match &given {
            Some(given) => given.target.clone(),
            None => args.machine.target()?,
        };
        if target.core == Core::Small && fault.is_some() {
            return Err(refused(format!(
                "--inject: target {} runs on the small core, which has no fault injections (they are \
                 the wide core's matrix lanes and sequencer); choose a target of the wide core",
                target.name
            )));
        }
        // A fault that changes nothing would let the checker pass and say nothing of it.
        let plusargs = match fault {
            None => Vec::new(),
            Some(("lane", n)) if n as usize >= target.lanes => {
                return Err(refused(format!(
                    "--inject lane={n}: target {} has matrix lanes 0 to {}",
                    target.name,
                    target.lanes - 1
                )))
            }
            Some(("latency", n)) if n == 0 || n as u64 > VXU_PIPELINE_CYCLES => {
                return Err(refused(format!(
                    "--inject latency={n}: the vector unit's latencies can be counted short by 1 to \
                     {VXU_PIPELINE_CYCLES} cycles (its pipeline's stages)"
                )))
            }
            Some((kind, n)) => vec![format!("+monorail_fault_{kind}={n}")],
        };
        let loaded = match &given {
            Some(given) => load_for_bundle(&args.model, given)?,
            None => load_for(&args.model, &target)?,
        };
        let tokens = prompt_tokens(&args.prompt, &loaded)?;
        cosim(
            &loaded,
            &args.machine,
            given,
            &tokens,
            args.steps,
            &CosimSettings {
                waves: args.waves.as_deref(),
                plusargs: &plusargs,
                with_golden: !args.no_golden,
            },
        )
    })();
    // No waveform unless the core diverged: the folders made for one go, innermost first,
    // where empty.
    if args.waves.as_ref().is_some_and(|w| !w.exists()) {
        take_away(&made_for_waves);
    }
    if outcome? {
        Ok(())
    } else {
        Err(CliError::failed("co-simulation failed"))
    }
}

/// How a co-simulation runs: where the waveform of a divergence goes, the core's plusargs (a
/// fault injected), and whether the golden model takes part.
#[derive(Clone, Copy)]
struct CosimSettings<'a> {
    waves: Option<&'a Path>,
    plusargs: &'a [String],
    with_golden: bool,
}

/// Co-simulate `steps` positions of `loaded` from `tokens` on the machine's target, printing a
/// row a position and PASS or FAIL (with the first divergence, and its waveform into `waves`).
/// Returns whether it passed.
fn cosim(
    loaded: &Loaded,
    machine: &MachineArgs,
    given: Option<LoadedBundle>,
    tokens: &[u32],
    steps: usize,
    settings: &CosimSettings<'_>,
) -> Result<bool, CliError> {
    let CosimSettings {
        waves,
        plusargs,
        with_golden,
    } = *settings;
    let start = Instant::now();
    let prepared = prepare_cosim(
        loaded,
        machine,
        given,
        plusargs,
        // A run that may dump its divergence needs the traced build.
        if waves.is_some() {
            Waveforms::Vcd
        } else {
            Waveforms::Off
        },
        &say_building,
    )?;
    let target = &prepared.target;
    let core = match target.core {
        Core::Wide => format!(
            "{} lanes, {} vector lanes",
            target.lanes, target.vector_lanes
        ),
        // (one instruction at a time; its lanes are the matrix products')
        Core::Small => format!("the small core, {} matrix lanes", target.lanes),
    };
    println!(
        "{} on {} ({core}): Verilated core {} in {:.1} s",
        loaded.name,
        target.name,
        if prepared.build.built {
            "built"
        } else {
            "reused"
        },
        start.elapsed().as_secs_f64()
    );
    let context = prepared.bundle.manifest.predicted_cycles.len();
    let steps = positions_to_run(steps, context, BUNDLE_CONTEXT);
    warn_where_the_prompt_fills(
        tokens.len(),
        steps,
        context,
        "only the prompt is co-simulated",
    );
    let cosim_of = || -> Result<Cosim, CliError> {
        let mut cosim = prepared.cosim()?;
        if !with_golden {
            cosim.without_golden();
        }
        Ok(cosim)
    };
    let mut cosim = cosim_of()?;
    println!("| pos | token | next | cycles (predicted = RTL) | steps compared | RTL M cycles/s |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    let (mut fed, mut values, mut cycles, mut seconds) = (Vec::new(), 0, 0, 0.0);
    let mut token = tokens[0];
    // Where a generated token was BOS, the story's end: the positions after it go on from BOS.
    let mut story_ended = None;
    for pos in 0..steps {
        match cosim.step(token, pos) {
            Ok(row) => {
                if row.next == BOS && pos + 1 >= tokens.len() && pos + 1 < steps {
                    story_ended.get_or_insert(pos);
                }
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
                if let (Some(path), false) = (waves, d.rtl_ran) {
                    println!(
                        "no waveform written to {}: the Verilated core did not run this step, as \
                         the divergence comes before it{}",
                        path.display(),
                        if with_golden {
                            " (--no-golden compares the core with the ISS alone)"
                        } else {
                            ", in the ISS's own run"
                        }
                    );
                }
                if let Some(path) = waves.filter(|_| d.rtl_ran) {
                    // Replay to the diverging step with a fresh core, tracing a window of it.
                    let mut replay = cosim_of()?;
                    for (p, &t) in fed.iter().enumerate() {
                        replay.step(t, p).map_err(failed)?;
                    }
                    // From before the divergence to after it, or after the completion it
                    // names.
                    let at = d.cycle.unwrap_or(0);
                    let (from, to) = (
                        at.saturating_sub(WAVE_CYCLES_BEFORE),
                        at.max(d.until.unwrap_or(0)) + WAVE_CYCLES_AFTER,
                    );
                    // (an earlier waveform there is not taken for this one)
                    let _ = std::fs::remove_file(path);
                    replay.rtl().trace_window(path, from, to);
                    // (the step diverges again: the waveform is what it is run for)
                    let _ = replay.step(token, pos);
                    // The model closes and flushes the waveform when it is dropped.
                    drop(replay);
                    if std::fs::metadata(path).map_or(true, |m| m.len() == 0) {
                        return Err(CliError::failed(format!(
                            "FAIL, and the waveform could not be written to {}",
                            path.display()
                        )));
                    }
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
        "PASS: {} on {}: every token, every named step's values ({values} in all) and every \
         step's cycles equal; the RTL simulated {:.2} M cycles/s",
        counted(steps, "position"),
        if with_golden {
            "the golden model, the ISS and the RTL"
        } else {
            "the ISS and the RTL (the golden model left out)"
        },
        cycles as f64 / seconds / 1e6
    );
    if let Some(pos) = story_ended {
        println!(
            "(position {pos}'s next token is BOS: the story ended there, and the positions after \
             it run on from BOS into another, compared all the same)"
        );
    }
    if let Some(path) = waves {
        println!(
            "no waveform written to {}: it is written on a divergence",
            path.display()
        );
    }
    Ok(true)
}
