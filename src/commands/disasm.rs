//! `monorail disasm`: a bundle's program as text to edit (the contract's `asm` module): its
//! assembly, its checkpoints and each instruction's cycles, which `monorail asm` assembles back.

use std::path::PathBuf;

use monorail_contract::asm::disassemble;
use monorail_model::checkpoint::write_atomically;

use crate::error::{failed, CliError};
use crate::load::load_bundle;

#[derive(clap::Args)]
pub struct Args {
    /// The bundle: the folder `monorail compile` (or `monorail asm`) wrote, or a file in it.
    #[arg(value_name = "BUNDLE")]
    bundle: PathBuf,
    /// The bundle's target, when it is not the built-in target its manifest names: a target
    /// file (.toml).
    #[arg(long)]
    target: Option<String>,
    /// Write the text into this file instead of to stdout.
    #[arg(long, short = 'o', value_name = "FILE.s")]
    output: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let given = load_bundle(&args.bundle, args.target.as_deref())?;
    let text = disassemble(&given.bundle, &given.target);
    match &args.output {
        Some(path) => write_atomically(path, text.as_bytes())
            .map_err(|e| failed(format!("writing the program text: {e}"))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
