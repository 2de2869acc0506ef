//! `monorail synth-model`: a seeded random checkpoint in llama2.c's legacy (v0) format, for
//! tests and for shapes no trained model has.

use std::path::PathBuf;

use monorail_model::tokenizer::BYTE_TOKEN_OFFSET;
use monorail_model::{checkpoint, synth, ModelError};

use crate::cli::output_file;
use crate::error::{failed, refused, CliError};

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args) -> Result<(), CliError> {
    output_file("-o", &args.output)?;
    if let Some(path) = &args.tokenizer_out {
        output_file("--tokenizer-out", path)?;
        if checkpoint::same_file(path, &args.output) {
            return Err(refused(format!(
                "-o {} and --tokenizer-out {} name the same file: give the tokenizer another",
                args.output.display(),
                path.display()
            )));
        }
    }
    let config = synth::parse_shape(&args.shape)?;
    let tokenizer = match &args.tokenizer_out {
        Some(_) => Some(synth::builtin_tokenizer(config.vocab_size)?),
        None => None,
    };
    let model = synth::synthesize(config, args.seed);
    // The files' folders are made (where the links lead), as `compile -o` and `corpus -o`
    // make theirs.
    let reached = |p: &PathBuf| checkpoint::through_links(p).unwrap_or_else(|_| p.clone());
    for path in [Some(&args.output), args.tokenizer_out.as_ref()]
        .into_iter()
        .flatten()
    {
        if let Some(parent) = reached(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| failed(format!("making {}: {e}", parent.display())))?;
        }
    }
    checkpoint::write_legacy(&args.output, &config, &model.weights)
        .map_err(|e| failed(format!("writing the checkpoint: {e}")))?;
    // (whether text can be encoded with it, said once it is written)
    let no_text = tokenizer.as_ref().and_then(|t| {
        t.encode("a", true, false)
            .err()
            .filter(|e| matches!(e, ModelError::NoDummyPrefix { .. }))
    });
    if let (Some(path), Some(t)) = (&args.tokenizer_out, tokenizer) {
        // Both files or neither: the checkpoint goes where it is a file (not a link's, a
        // FIFO's or a device's place).
        checkpoint::write_atomically(path, &t.to_bytes()).map_err(|e| {
            let written = reached(&args.output);
            if std::fs::symlink_metadata(&written).is_ok_and(|m| m.is_file()) {
                let _ = std::fs::remove_file(&written);
            }
            failed(format!("writing the tokenizer: {e}"))
        })?;
    }
    if let (Some(path), Some(e)) = (&args.tokenizer_out, no_text) {
        eprintln!(
            "monorail: warning: {}: {e}: a vocabulary of {} tokens holds the {BYTE_TOKEN_OFFSET} \
             special tokens and the 256 bytes alone; prompts with it are token ids \
             (--prompt-tokens), or give the shape a vocabulary of at least {}",
            path.display(),
            config.vocab_size,
            BYTE_TOKEN_OFFSET as usize + 256 + 1
        );
    }
    // On standard error: the checkpoint itself may go to standard output (-o /dev/stdout).
    eprintln!(
        "wrote {} ({} parameters, seed {})",
        args.output.display(),
        config.param_count(),
        args.seed
    );
    Ok(())
}
