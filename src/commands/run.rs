//! `monorail run`: generate text with an engine, as llama2.c's `run` does.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use monorail_contract::counted;
use monorail_model::engine::{generate, generate_with};
use monorail_model::sampler::SamplerOptions;
use monorail_model::tokenizer::BOS;

use crate::cli::{EngineKind, MachineArgs, ModelArgs, PromptArgs};
use crate::error::{refused, CliError};
use crate::load::{
    load, load_bundle, load_for, load_for_bundle, positions_to_run, prompt_tokens,
    warn_where_the_prompt_fills, BUNDLE_CONTEXT, MACHINE_CONTEXT, MODEL_CONTEXT,
};
use crate::machine::{host_engine, machine_engine};

#[derive(clap::Args)]
pub struct Args {
    /// Which engine computes the forward pass.
    #[arg(long, short = 'e', value_enum, default_value = "float")]
    engine: EngineKind,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    prompt: PromptArgs,
    #[command(flatten)]
    machine: MachineArgs,
    /// Run this bundle (the folder `monorail compile` or `monorail asm` wrote) instead of
    /// compiling the model, with --engine iss or rtl, on the target it was compiled for. The
    /// model flags name the model it was compiled from, for its tokenizer; by default the
    /// built-in model of its shape.
    #[arg(long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// Number of steps (positions) to run, prompt included; 0 means the model's seq_len (on
    /// --engine iss or rtl, the context the machine holds). Default: 256, as run.c's, or the
    /// context where it is shorter (a -n past it is warned of).
    #[arg(long, short = 'n', value_name = "STEPS")]
    steps: Option<usize>,
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
}

/// The steps run.c runs by default, which `-n` replaces.
const DEFAULT_STEPS: usize = 256;

pub fn run(args: Args) -> Result<(), CliError> {
    let kind = args.engine;
    if args.bundle.is_some() && !kind.is_machine() {
        return Err(refused(format!(
            "--bundle runs a compiled program, which the {} engine does not: give --engine iss \
             or --engine rtl",
            kind.name()
        )));
    }
    let given = match &args.bundle {
        Some(dir) => Some(load_bundle(dir, args.machine.target.as_deref())?),
        None => None,
    };
    let loaded = match &given {
        Some(given) => load_for_bundle(&args.model, given)?,
        None if kind.is_machine() => load_for(&args.model, &args.machine.target()?)?,
        None => load(&args.model)?,
    };
    // The text it writes needs the tokenizer, even where the prompt is token ids.
    let tokenizer = loaded.tokenizer()?;
    let tokens = prompt_tokens(&args.prompt, &loaded)?;
    let options = SamplerOptions {
        temperature: args.temperature,
        topp: args.topp,
        seed: args.seed,
    };
    options.validate()?;
    if !kind.is_machine() && (args.machine.target.is_some() || args.machine.context.is_some()) {
        return Err(refused(
            "--target and --context choose the machine of --engine iss or rtl; this engine runs on the host",
        ));
    }
    let bundle = given.as_ref().map(|g| g.dir.display().to_string());
    // A machine's cycles of each step, and the bundle's prediction of them.
    let mut machine_cycles = None;
    let mut engine = if kind.is_machine() {
        let logits = options.temperature != 0.0;
        let run = machine_engine(&loaded, &args.machine, given, kind, logits)?;
        machine_cycles = Some((run.cycles, run.predicted));
        run.engine
    } else {
        host_engine(kind, &loaded)
    };
    match &bundle {
        Some(dir) => eprintln!("model: {}; bundle: {dir}", loaded.name),
        None => eprintln!("model: {}", loaded.name),
    }
    // The positions that run: -n, at most the context (the model's seq_len, the bundle's or
    // the machine's).
    let context = engine.config().seq_len;
    let holder = match (kind.is_machine(), &bundle) {
        (false, _) => MODEL_CONTEXT,
        (true, Some(_)) => BUNDLE_CONTEXT,
        (true, None) => MACHINE_CONTEXT,
    };
    let steps = match args.steps {
        Some(steps) => positions_to_run(steps, context, holder),
        None => DEFAULT_STEPS.min(context),
    };
    let seq_len = loaded.checkpoint.config.seq_len;
    if args.steps == Some(0) && context < seq_len {
        eprintln!(
            "monorail: warning: -n 0 runs the {}{holder}, fewer than the model's seq_len of \
             {seq_len}",
            counted(context, "position"),
        );
    }
    warn_where_the_prompt_fills(tokens.len(), steps, context, "nothing is generated");
    let start = Instant::now();
    let out = if args.json {
        generate(engine.as_mut(), &tokens, steps, options)?
    } else {
        // Each token's text as soon as it is known, as run.c prints and flushes each piece.
        let mut stdout = std::io::stdout().lock();
        let (mut prev, mut failed) = (BOS, None);
        let mut print = |token: u32| {
            if token == BOS || failed.is_some() {
                return;
            }
            let bytes = tokenizer.text_bytes(prev, token);
            prev = token;
            if let Err(e) = stdout.write_all(&bytes).and_then(|()| stdout.flush()) {
                failed = Some(e);
            }
        };
        let out = generate_with(engine.as_mut(), &tokens, steps, options, &mut print)?;
        if let Some(e) = failed.or_else(|| writeln!(stdout).err()) {
            return Err(CliError::failed(format!("writing the text to stdout: {e}")));
        }
        out
    };
    let elapsed = start.elapsed().as_secs_f64();
    // The machine's cycles beside the bundle's prediction, position by position.
    let cycles = machine_cycles.map(|(cycles, predicted)| {
        let cycles = cycles.take();
        let predicted: Vec<u64> = predicted.iter().copied().take(cycles.len()).collect();
        (cycles, predicted)
    });
    if let Some((cycles, predicted)) = &cycles {
        match cycles.iter().zip(predicted).position(|(c, p)| c != p) {
            None => eprintln!(
                "machine cycles: {}, {} to {} cycles a token, each as the bundle predicts",
                counted(cycles.len(), "position"),
                cycles.iter().min().unwrap_or(&0),
                cycles.iter().max().unwrap_or(&0)
            ),
            Some(pos) => eprintln!(
                "monorail: warning: machine cycles: {} at position {pos}, where the bundle \
                 predicts {}",
                cycles[pos], predicted[pos]
            ),
        }
    }
    if args.json {
        let text = tokenizer.decode_text(&out);
        let mut value = serde_json::json!({ "tokens": out, "text": text });
        if let Some((cycles, predicted)) = cycles {
            value["cycles"] = serde_json::json!(cycles);
            value["predicted_cycles"] = serde_json::json!(predicted);
        }
        println!("{value}");
    } else {
        eprintln!(
            "achieved tok/s: {:.1} ({} engine, {})",
            out.len() as f64 / elapsed,
            kind.name(),
            counted(out.len(), "position")
        );
    }
    Ok(())
}
