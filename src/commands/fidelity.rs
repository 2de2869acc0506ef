//! `monorail fidelity`: the golden integer model against the float reference, teacher-forced on
//! the prompt continued greedily by the float model.

use monorail_contract::counted;
use monorail_model::engine::generate;
use monorail_model::fidelity::{compare, Fidelity};
use monorail_model::float::FloatModel;
use monorail_model::golden::GoldenModel;
use monorail_model::sampler::SamplerOptions;

use crate::cli::{ModelArgs, PromptArgs};
use crate::error::CliError;
use crate::load::{
    load, positions_to_run, prompt_tokens, warn_where_the_prompt_fills, Loaded, MODEL_CONTEXT,
};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    prompt: PromptArgs,
    /// Length of the compared sequence: the prompt continued greedily by the float model; at
    /// most the model's seq_len, which 0 compares whole.
    #[arg(long, short = 'n', default_value_t = 128)]
    steps: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let loaded = load(&args.model)?;
    let tokens = prompt_tokens(&args.prompt, &loaded)?;
    let seq_len = loaded.checkpoint.config.seq_len;
    let steps = positions_to_run(args.steps, seq_len, MODEL_CONTEXT);
    warn_where_the_prompt_fills(tokens.len(), steps, seq_len, "the prompt alone is compared");
    let f = measure(&loaded, &tokens, steps)?;
    if f.positions < steps {
        let n = f.positions;
        eprintln!(
            "monorail: note: the sequence reaches a BOS (the end of a story) after {}, so {n} {} \
             compared, not {steps}",
            counted(n, "position"),
            if n == 1 { "is" } else { "are" }
        );
    }
    if args.json {
        println!("{}", serde_json::to_string(&f).expect("serialisable"));
    } else {
        println!("model: {}", loaded.name);
        print_table(&f);
    }
    Ok(())
}

/// The golden model against the float reference, teacher-forced on `prompt` continued greedily
/// by the float model to `steps` positions.
pub fn measure(loaded: &Loaded, prompt: &[u32], steps: usize) -> Result<Fidelity, CliError> {
    let mut float = FloatModel::new(loaded.checkpoint.clone());
    let next = generate(&mut float, prompt, steps, SamplerOptions::greedy())?;
    let mut sequence = vec![prompt[0]];
    sequence.extend(next.iter().take(next.len().saturating_sub(1)));
    let mut float = FloatModel::new(loaded.checkpoint.clone());
    let mut golden = GoldenModel::new(loaded.quantized());
    Ok(compare(&mut float, &mut golden, &sequence)?)
}

pub fn print_table(f: &Fidelity) {
    println!(
        "| positions | top-1 agreement | mean KL(float ‖ golden) (nats) | max KL (nats) | logit \
         error / spread |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    let error = match f.mean_relative_logit_error {
        Some(e) => format!("{:.2}%", 100.0 * e),
        None => "none (no spread)".into(),
    };
    println!(
        "| {} | {:.1}% | {:.5} | {:.5} | {error} |",
        f.positions,
        100.0 * f.top1_agreement,
        f.mean_kl_nats,
        f.max_kl_nats,
    );
}
