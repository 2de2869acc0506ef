//! `monorail run`: generate text with an engine, as llama2.c's `run` does.

use std::time::Instant;

use monorail_model::engine::generate;
use monorail_model::sampler::SamplerOptions;

use crate::cli::{EngineKind, MachineArgs, ModelArgs, PromptArgs};
use crate::error::{refused, CliError};
use crate::load::{load, load_for, prompt_tokens};
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
}

pub fn run(args: Args) -> Result<(), CliError> {
    let kind = args.engine;
    let loaded = if kind.is_machine() {
        load_for(&args.model, &args.machine.target()?)?
    } else {
        load(&args.model)?
    };
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
    let mut engine = if kind.is_machine() {
        machine_engine(&loaded, &args.machine, kind, options.temperature != 0.0)?.engine
    } else {
        host_engine(kind, loaded.checkpoint.clone())
    };
    let start = Instant::now();
    let out = generate(engine.as_mut(), &tokens, args.steps, options)?;
    let elapsed = start.elapsed().as_secs_f64();
    let text = loaded.tokenizer.decode_text(&out);
    if args.json {
        let value = serde_json::json!({ "tokens": out, "text": text });
        println!("{value}");
    } else {
        println!("{text}");
        eprintln!(
            "achieved tok/s: {:.1} ({} engine, {} positions)",
            out.len() as f64 / elapsed,
            kind.name(),
            out.len()
        );
    }
    Ok(())
}
