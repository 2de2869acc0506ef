//! `monorail gen`: the core of a target (its Verilog) with a compiled model's memory images and
//! a report, written whole into a folder named by the target and a hash of what it holds.

use std::path::{Path, PathBuf};
use std::time::Instant;

use monorail_contract::bundle::Bundle;
use monorail_contract::target::Target;
use monorail_model::checkpoint;

use crate::cli::{MachineArgs, ModelArgs};
use crate::error::CliError;
use crate::load::{compile_for, load_for};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    machine: MachineArgs,
    /// Output folder; default: gen/TARGET-HASH in the build folder (`build/`, or
    /// $MONORAIL_BUILD_DIR; HASH: of the files written).
    #[arg(long, short = 'o', value_name = "DIR")]
    output: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    if let Some(dir) = &args.output {
        crate::cli::output_folder(dir, "the design")?;
    }
    let target = args.machine.target()?;
    let start = Instant::now();
    let design = monorail_hw::generate(&target);
    let generated_ms = start.elapsed().as_secs_f64() * 1e3;
    let loaded = load_for(&args.model, &target)?;
    let (target, _, compiled) = compile_for(&loaded, target, args.machine.context)?;
    let mut report = monorail_hw::report(&target);
    report.push(format!(
        "model: {}, compiled: {}",
        loaded.name,
        super::compile::summary(&loaded, &target, &compiled, args.machine.context.is_none())
            .join("; ")
    ));
    let written = write_design(
        &design,
        &compiled.bundle,
        &target,
        &report,
        args.output,
        (&monorail_fpga::build_root().join("gen"), &target.name),
    )
    .map_err(CliError::failed)?;
    for line in &report {
        println!("{line}");
    }
    println!(
        "generated top.v ({} lines) in {generated_ms:.0} ms; wrote {}{}",
        design.verilog.lines().count(),
        written.dir.display(),
        if written.reused {
            " (up to date: the same files were there)"
        } else {
            ""
        }
    );
    Ok(())
}

/// Where a design was written, and whether the folder already held the same files.
pub struct Written {
    pub dir: PathBuf,
    pub reused: bool,
}

/// Write the design (`top.v`), the bundle's files and `report.txt` into `output`, or, without
/// it, into `ROOT/NAME-HASH` (HASH of the files; kept when it exists: the same inputs give
/// the same bytes). Files are written whole (a temporary name, then renamed).
pub fn write_design(
    design: &monorail_hw::Design,
    bundle: &Bundle,
    target: &Target,
    report: &[String],
    output: Option<PathBuf>,
    (root, name): (&Path, &str),
) -> Result<Written, String> {
    let write_into = |dir: &Path| -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        bundle.write(dir, target).map_err(|e| e.to_string())?;
        checkpoint::write_atomically(&dir.join("top.v"), design.verilog.as_bytes())
            .map_err(|e| e.to_string())?;
        let text: String = report.iter().map(|l| format!("{l}\n")).collect();
        checkpoint::write_atomically(&dir.join("report.txt"), text.as_bytes())
            .map_err(|e| e.to_string())
    };
    if let Some(dir) = output {
        write_into(&dir)?;
        return Ok(Written { dir, reused: false });
    }
    // Write beside the final folder, hash what was written, then move it into place.
    let staging = root.join(format!(".{name}-{}.partial", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    write_into(&staging)?;
    let mut names: Vec<_> = std::fs::read_dir(&staging)
        .map_err(|e| format!("{}: {e}", staging.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    let mut parts = Vec::new();
    for name in &names {
        parts.push(name.as_encoded_bytes().to_vec());
        parts.push(std::fs::read(staging.join(name)).map_err(|e| e.to_string())?);
    }
    let hash = monorail_fpga::tools::fnv(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let dir = root.join(format!("{name}-{hash:016x}"));
    if dir.is_dir() {
        let _ = std::fs::remove_dir_all(&staging);
        return Ok(Written { dir, reused: true });
    }
    std::fs::rename(&staging, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(Written { dir, reused: false })
}
