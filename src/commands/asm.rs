//! `monorail asm`: a program text (what `monorail disasm` prints, edited) assembled into a
//! bundle. The bundle keeps its memory images; its checkpoints go where the text marks them, and
//! its cycles are predicted anew. The command prints the figures before and after, so a change
//! to the schedule can be tried by hand and measured.

use std::path::PathBuf;

use monorail_contract::asm::reassemble;

use crate::commands::compile::times_mac_bound;
use crate::error::{failed, refused, CliError};
use crate::load::load_bundle;

#[derive(clap::Args)]
pub struct Args {
    /// The program text: assembly, one instruction a line, with the bundle's `.checkpoint`
    /// marks (`monorail disasm` prints a bundle's).
    #[arg(value_name = "FILE.s")]
    source: PathBuf,
    /// The bundle whose memory images, memory map and checkpoints the program uses: the folder
    /// `monorail compile` wrote.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Write the new bundle into this folder; by default the program of --bundle is replaced.
    #[arg(long, short = 'o', value_name = "DIR")]
    output: Option<PathBuf>,
    /// The bundle's target, when it is not the built-in target its manifest names: a target
    /// file (.toml).
    #[arg(long)]
    target: Option<String>,
}

/// The longest program text read: a line of about 100 bytes for each of the most program words
/// a target may have (16,384), with room to spare.
const MAX_SOURCE_BYTES: u64 = 16 << 20;

pub fn run(args: Args) -> Result<(), CliError> {
    let output = args.output.as_ref().unwrap_or(&args.bundle);
    crate::cli::output_folder(output, "the bundle")?;
    let at = |e: std::io::Error| refused(format!("{}: {e}", args.source.display()));
    let bytes = std::fs::metadata(&args.source).map_err(at)?.len();
    if bytes > MAX_SOURCE_BYTES {
        return Err(refused(format!(
            "{}: {bytes} bytes, more than a program text can be (at most {MAX_SOURCE_BYTES})",
            args.source.display()
        )));
    }
    let text = std::fs::read_to_string(&args.source).map_err(at)?;
    let given = load_bundle(&args.bundle, args.target.as_deref())?;
    let target = &given.target;
    let assembled = reassemble(&given.bundle, &text, target)
        .map_err(|e| refused(format!("{}: {e}", args.source.display())))?;
    assembled
        .write(output, target)
        .map_err(|e| failed(format!("writing the bundle: {e}")))?;
    let (before, after) = (&given.bundle.manifest, &assembled.manifest);
    println!(
        "{}: {} instructions (the bundle had {}) into {}",
        args.source.display(),
        after.instructions,
        before.instructions,
        output.display()
    );
    let last = after.context - 1;
    let (was, positions) = times_mac_bound(&before.model, target, &before.predicted_cycles);
    let (now, _) = times_mac_bound(&after.model, target, &after.predicted_cycles);
    println!(
        "cycles per token: {} at position 0 (was {}), {} at position {last} (was {}); {now:.3}x \
         the MAC bound on average over positions 0 to {} (was {was:.3}x)",
        after.predicted_cycles[0],
        before.predicted_cycles[0],
        after.predicted_cycles[last],
        before.predicted_cycles[last],
        positions - 1
    );
    Ok(())
}
