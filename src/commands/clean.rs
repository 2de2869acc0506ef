//! `monorail clean`: the build folder's generated files, all or those older than some days, as
//! `cargo clean` does; each is rebuilt when needed.

use crate::error::CliError;

#[derive(clap::Args)]
pub struct Args {
    /// Only what was made more than this many days ago.
    #[arg(long, value_name = "DAYS")]
    older_than: Option<u64>,
    /// List what would go, and remove nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let root = monorail_fpga::build_root();
    let dry_run = args.dry_run;
    let limit = args
        .older_than
        .map(|d| std::time::Duration::from_secs(d.saturating_mul(24 * 3600)));
    let cleaned = monorail_fpga::tools::clean(&root, limit, dry_run)
        .map_err(|e| CliError::failed(format!("cleaning {}: {e}", root.display())))?;
    for path in &cleaned.removed {
        println!(
            "{}{}",
            if dry_run { "would remove " } else { "removed " },
            path.display()
        );
    }
    println!(
        "{} {} entries ({:.1} MB) of {}; kept {}",
        if dry_run { "would remove" } else { "removed" },
        cleaned.removed.len(),
        cleaned.bytes as f64 / 1e6,
        root.display(),
        cleaned.kept
    );
    Ok(())
}
