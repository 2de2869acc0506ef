//! `monorail disasm`: a bundle's program as text to edit (the contract's `asm` module): its
//! assembly, its checkpoints and each instruction's cycles, which `monorail asm` assembles back.

use std::path::{Path, PathBuf};

use monorail_contract::asm::disassemble;
use monorail_contract::bundle::Manifest;
use monorail_model::checkpoint::write_atomically;

use crate::error::{failed, refused, CliError};
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
    if let Some(path) = &args.output {
        // The text is written whole, to a temporary name and renamed: over a file only, and not
        // over one of the bundle's own.
        let at = |why: &str| refused(format!("-o {}: {why}", path.display()));
        if path
            .symlink_metadata()
            .is_ok_and(|m| !m.file_type().is_file())
        {
            return Err(at(
                "not a file (a folder, a link, a device or a pipe): give a file's path, or \
                 leave -o out to print the text",
            ));
        }
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        let same_folder = match (
            parent.unwrap_or(Path::new(".")).canonicalize(),
            given.dir.canonicalize(),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let ours = Manifest::files(&given.dir).unwrap_or_default();
        if same_folder && ours.iter().any(|f| *f == name) {
            return Err(at("a file of the bundle itself: give another name"));
        }
    }
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
