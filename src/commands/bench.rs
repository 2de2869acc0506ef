//! `monorail bench`: tokens per second of the float reference and the golden model, side by
//! side in one run, and of the instruction-set simulator and the Verilated core of a target.

use std::time::Instant;

use monorail_contract::counted;
use monorail_model::engine::{generate, Engine};
use monorail_model::float::FloatModel;
use monorail_model::golden::GoldenModel;
use monorail_model::sampler::SamplerOptions;
use monorail_model::tokenizer::BOS;

use crate::cli::{EngineKind, MachineArgs, ModelArgs, DEFAULT_TARGET};
use crate::error::CliError;
use crate::load::{load, load_for, load_target, positions_to_run, MACHINE_CONTEXT, MODEL_CONTEXT};
use crate::machine::machine_engine;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Also run the compiled program on the instruction-set simulator for this target.
    #[arg(long)]
    target: Option<String>,
    /// Positions the compiled program serves (with --target).
    #[arg(long, requires = "target")]
    context: Option<usize>,
    /// Also run the compiled program on the Verilated core of the target (with --target).
    #[arg(long, requires = "target")]
    rtl: bool,
    /// Positions to run (greedy, from BOS); 0 means the model's seq_len.
    #[arg(long, short = 'n', default_value_t = 0)]
    steps: usize,
    /// Repetitions (1 or more); the best of them is reported.
    #[arg(long, default_value_t = 3, value_parser = repetitions)]
    repeat: usize,
}

/// `--repeat`'s count: a whole number, 1 or more.
fn repetitions(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("a whole number of runs, 1 or more".into()),
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    let loaded = match &args.target {
        Some(name) => load_for(&args.model, &load_target(name)?)?,
        None => load(&args.model)?,
    };
    let seq_len = loaded.checkpoint.config.seq_len;
    let positions = positions_to_run(args.steps, seq_len, MODEL_CONTEXT);
    let repeat = args.repeat;
    // The machines first, so that a bad --target is refused before anything runs.
    let machine_args = MachineArgs {
        target: args.target.clone(),
        context: args.context,
    };
    let mut machines = Vec::new();
    if args.target.is_some() {
        machines.push((
            "iss",
            machine_engine(&loaded, &machine_args, None, EngineKind::Iss, false)?,
        ));
        if args.rtl {
            machines.push((
                "rtl",
                machine_engine(&loaded, &machine_args, None, EngineKind::Rtl, false)?,
            ));
        }
    }
    let checkpoint = loaded.checkpoint.clone();
    let quant = loaded.quantized();
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
        "model: {} ({}, greedy from BOS, best of {repeat})",
        loaded.name,
        counted(positions, "position")
    );
    println!("| engine | tokens/s | relative to float | simulated cycles/s |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| float | {float:.0} | 1.00x | |");
    println!("| golden | {golden:.0} | {} | |", relative(golden / float));
    for (index, (name, mut run)) in machines.into_iter().enumerate() {
        // (the machines hold the same context: said once)
        let n = if index == 0 {
            positions_to_run(
                positions,
                run.predicted.len(),
                &format!("{MACHINE_CONTEXT}, in the machines' rows"),
            )
        } else {
            positions.min(run.predicted.len())
        };
        // Best of `repeat` as for the models: each run starts again from BOS on the same
        // loaded machine (a step writes its position's cache entries before it reads them), and
        // must give the first run's tokens.
        let mut seconds = f64::INFINITY;
        let mut first: Option<Vec<u32>> = None;
        for _ in 0..repeat.max(1) {
            let start = Instant::now();
            let tokens = generate(run.engine.as_mut(), &[BOS], n, SamplerOptions::greedy())?;
            seconds = seconds.min(start.elapsed().as_secs_f64());
            match &first {
                None => first = Some(tokens),
                Some(expected) if *expected != tokens => {
                    return Err(CliError::failed(format!(
                        "the {name} gave other tokens when run again from BOS: {tokens:?} \
                         after {expected:?}"
                    )))
                }
                Some(_) => {}
            }
        }
        let cycles: u64 = run.predicted[..n].iter().sum();
        println!(
            "| {name} ({}) | {:.0} | {} | {:.2} M |",
            args.target.as_deref().unwrap_or(DEFAULT_TARGET),
            n as f64 / seconds,
            relative(n as f64 / seconds / float),
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

/// A speed relative to another, with two significant digits at least (a simulator's is a small
/// fraction of the float reference's).
fn relative(ratio: f64) -> String {
    let decimals = if ratio > 0.0 && ratio < 1.0 {
        (1 - ratio.log10().floor() as i32).max(2) as usize
    } else {
        2
    };
    format!("{ratio:.decimals$}x")
}
