//! `monorail corpus`: the built-in model's training set, written from the project's seeded
//! story grammar (train and held-out splits, a BPE tokenizer, both splits as token ids).

use std::path::PathBuf;

use monorail_model::corpus;

use crate::error::CliError;

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args) -> Result<(), CliError> {
    crate::cli::output_folder(&args.output, "the training set")?;
    let summary = corpus::write_dataset(
        &args.output,
        args.seed,
        args.stories,
        args.heldout_stories,
        args.vocab,
    )?;
    println!(
        "wrote {}: {} train stories ({} tokens), {} held-out stories ({} tokens), a {}-token \
         tokenizer ({:.2} bytes of text per token)",
        args.output.display(),
        summary.train_stories,
        summary.train_tokens,
        summary.heldout_stories,
        summary.heldout_tokens,
        summary.vocab_size,
        summary.bytes_per_token
    );
    Ok(())
}
