//! `monorail asm`: a program text (what `monorail disasm` prints, edited) assembled into a
//! bundle. The bundle keeps its memory images; its checkpoints go where the text marks them, and
//! its cycles are predicted anew. The command prints the figures before and after, so a change
//! to the schedule can be tried by hand and measured.

use std::io::Read;
use std::path::{Path, PathBuf};

use monorail_contract::asm::{disassemble, reassemble, Assembled, CHECKPOINT_DIRECTIVE};
use monorail_contract::bundle::AssembledFrom;
use monorail_contract::counted;
use monorail_contract::fnv1a;
use monorail_contract::isa::{Instr, Op};
use monorail_model::tokenizer::BOS;
use monorail_sim::{Iss, Machine, MachineError};

use crate::commands::compile::times_mac_bound;
use crate::error::{failed, refused, CliError};
use crate::load::load_bundle;

#[derive(clap::Args)]
pub struct Args {
    /// The program text: assembly, one instruction a line, with the bundle's `.checkpoint`
    /// marks (`monorail disasm` prints a bundle's); `-` reads it from standard input.
    #[arg(value_name = "FILE.s")]
    source: PathBuf,
    /// The bundle whose memory images, memory map and checkpoints the program uses: the folder
    /// `monorail compile` wrote.
    #[arg(long, value_name = "DIR")]
    bundle: PathBuf,
    /// Write the new bundle into this folder; by default the program of --bundle is replaced
    /// (after the new one has run on the simulator at every position).
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

/// The name of the program text in messages: its path, or `standard input` for `-`.
fn source_name(path: &Path) -> String {
    if path == Path::new("-") {
        "standard input".into()
    } else {
        path.display().to_string()
    }
}

/// The program text at `path` (`-`: standard input): read up to [`MAX_SOURCE_BYTES`] and one
/// more (a device or a pipe has no length to check first), refused when longer or not UTF-8.
fn read_source(path: &Path) -> Result<String, CliError> {
    let name = source_name(path);
    let at = |e: std::io::Error| refused(format!("{name}: {e}"));
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(at)?)
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(at)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(refused(format!(
            "{name}: more than {MAX_SOURCE_BYTES} bytes, more than a program text can be"
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        refused(format!(
            "{name}: not text: byte {} is not UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })
}

pub fn run(args: Args) -> Result<(), CliError> {
    if let Some(output) = &args.output {
        crate::cli::output_folder(output, "the bundle")?;
    }
    let text = read_source(&args.source)?;
    let given = load_bundle(&args.bundle, args.target.as_deref())?;
    let output = args.output.as_ref().unwrap_or(&given.dir);
    let target = &given.target;
    let source = source_name(&args.source);
    let Assembled {
        bundle: mut assembled,
        lines,
        marks,
    } = reassemble(&given.bundle, &text, target).map_err(|e| refused(format!("{source}: {e}")))?;
    // A text that gives the bundle's own program and checkpoints changes nothing: the bundle is
    // kept as it was (its listing, and what its manifest says of where the program came from:
    // nothing for the compiler's). Any other records the text.
    if assembled.program == given.bundle.program
        && assembled.manifest.checkpoints == given.bundle.manifest.checkpoints
    {
        assembled = given.bundle.clone();
    } else {
        assembled.manifest.assembled_from = Some(AssembledFrom {
            source: source.clone(),
            text_fnv1a: format!("{:016x}", fnv1a(text.as_bytes())),
        });
        // The listing is the disassembly, which says where the program came from.
        assembled.listing = disassemble(&assembled, target);
    }
    let program = &assembled.program;
    if let Some(end) = program.iter().position(|i| matches!(i.op, Op::End { .. })) {
        if end + 1 < program.len() {
            let after = program.len() - end - 1;
            eprintln!(
                "monorail: warning: {source}: {} after the first `end` (line {}) never run{}",
                counted(after, "instruction"),
                lines[end],
                if after == 1 { "s" } else { "" }
            );
        }
    }
    // What only running finds (a hazard between overlapped units, a register-indexed access
    // outside its memory), found now: every position of the context, greedily from BOS.
    // Beside it, the bundle's own program on the same tokens: where the values at a checkpoint
    // differ, a mark may be above its values' writer (or the edit changes what is computed).
    let mut iss = Iss::new(target.clone(), assembled.clone()).map_err(failed)?;
    // (compared up to the first difference, or until the bundle's program cannot follow: its
    // own run may fault on a token path it was never run on)
    let mut was = Some(Iss::new(target.clone(), given.bundle.clone()).map_err(failed)?);
    iss.record_values(true);
    if let Some(was) = &mut was {
        was.record_values(true);
    }
    let mut differs = None;
    let mut token = BOS;
    for pos in 0..assembled.manifest.context {
        token = match iss.step(token, pos) {
            Ok(step) => {
                if let Some(own) = &mut was {
                    let followed = match own.step(token, pos) {
                        Ok(before) => {
                            differs = step
                                .values
                                .iter()
                                .zip(&before.values)
                                .find(|(now, then)| now != then)
                                .map(|(now, then)| (pos, now.clone(), then.clone()));
                            true
                        }
                        Err(_) => false,
                    };
                    if differs.is_some() || !followed {
                        was = None;
                        iss.record_values(false);
                    }
                }
                step.next
            }
            Err(MachineError::Fault {
                index,
                text,
                pos,
                message,
                other,
            }) => {
                let other_line = other
                    .and_then(|o| lines.get(o))
                    .map(|line| format!("; the instruction still running is line {line}"))
                    .unwrap_or_default();
                return Err(refused(format!(
                    "{source}: line {}: at position {pos}, on the simulator: {message} \
                     (instruction {index}, `{text}`{other_line}{})",
                    lines[index],
                    awaited(&assembled.program, index)
                        .map(|(wait, at)| format!(
                            "; its `wait={wait}` waits for line {}, `{}`",
                            lines[at], assembled.program[at]
                        ))
                        .unwrap_or_default()
                )));
            }
            Err(e) => return Err(refused(format!("{source}: on the simulator: {e}"))),
        };
    }
    if let Some((pos, now, then)) = differs {
        let mark = format!(".{CHECKPOINT_DIRECTIVE} {}", now.step.label(now.layer));
        let line = assembled
            .manifest
            .checkpoints
            .iter()
            .position(|c| c.step == now.step.name() && c.layer == now.layer)
            .map_or(String::new(), |c| format!("line {}: ", marks[c]));
        let what = match now.mant.iter().zip(&then.mant).position(|(a, b)| a != b) {
            Some(i) => format!("element {i}: {} where it was {}", now.mant[i], then.mant[i]),
            None => format!("exponents {:?} where they were {:?}", now.exps, then.exps),
        };
        eprintln!(
            "monorail: warning: {source}: {line}at position {pos}, the values at `{mark}` differ \
             from those of the bundle's program ({what}): the mark may be above the instruction \
             that writes them, or the edit changes what the program computes (cosim compares \
             them with the golden model)"
        );
    }
    assembled
        .write(output, target)
        .map_err(|e| failed(format!("writing the bundle: {e}")))?;
    let (before, after) = (&given.bundle.manifest, &assembled.manifest);
    let checked = after.context;
    println!(
        "{source}: {} instructions (the bundle had {}), run on the simulator at all {} \
         (greedily from BOS); into {}",
        after.instructions,
        before.instructions,
        counted(checked, "position"),
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

/// The wait of instruction `index` and the instruction it waits for (the count-th of its unit
/// in program order), if it waits: a wait counts instructions, so one added or taken out above
/// it moves what it waits for.
fn awaited(program: &[Instr], index: usize) -> Option<(String, usize)> {
    let wait = program[index].wait?;
    let at = program[..index]
        .iter()
        .enumerate()
        .filter(|(_, i)| i.op.spec().unit == wait.unit)
        .nth((wait.count as usize).checked_sub(1)?)?
        .0;
    Some((format!("{}:{}", wait.unit.name(), wait.count), at))
}
