//! `monorail clean`: the build folder's generated files, all or those older than some days, as
//! `cargo clean` does; each is rebuilt when needed.

use crate::error::CliError;

#[derive(clap::Args)]
pub struct Args {
    /// Only what was made more than this many days ago (a fraction is allowed: 0.5 is twelve
    /// hours).
    #[arg(long, value_name = "DAYS", value_parser = days)]
    older_than: Option<f64>,
    /// List what would go, and remove nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let root = crate::machine::build_root()?;
    let dry_run = args.dry_run;
    let limit = args
        .older_than
        .map(|d| std::time::Duration::from_secs_f64(d * SECONDS_A_DAY));
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

const SECONDS_A_DAY: f64 = 24.0 * 3600.0;

/// A number of days: not negative, and at most a hundred years.
fn days(text: &str) -> Result<f64, String> {
    crate::cli::amount(
        text,
        "days",
        |d| (0.0..=36_500.0).contains(&d),
        "from 0 to 36500",
    )
}
