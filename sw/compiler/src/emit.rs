//! Pass `emit`: the bundle.
//!
//! Consumes the layout and the scheduled program with its checkpoints; produces the
//! [`Bundle`]: the predicted cycles of a token step at every position (by the contract's timing
//! rules, the ones the simulator counts with and the RTL implements), the listing with cycle
//! stamps and model steps, and the manifest. Guarantees that the program has no wait that could
//! never be satisfied.

use std::fmt::Write as _;

use monorail_contract::bundle::{
    operand_names, Bundle, Manifest, Region, BUNDLE_MAGIC, BUNDLE_VERSION,
};
use monorail_contract::isa::{encode_program, Access, Instr, Unit};
use monorail_contract::target::Target;
use monorail_contract::timing::{stopped_at_step_limit, token_cycles, Clock, STEP_LIMIT_CYCLES};
use monorail_model::quant::QuantModel;

use crate::layout::Layout;
use crate::schedule::Scheduled;
use crate::{CompileError, Compiled};

/// The listing: one line per instruction with its issue and completion cycles at position 0,
/// its unit, its model step, and its assembly, then a comment with the names of its addresses
/// in `regions` (`w=@layer0.wo+8`), after `chained to N` where a vector stream issues while an
/// earlier one whose results it reads still runs (the vector unit chains them).
pub fn listing(
    code: &[crate::lower::Tagged],
    target: &Target,
    model: &str,
    regions: &[Region],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Monorail program for {model} on {} ({} lanes, {} vector lanes)",
        target.name, target.lanes, target.vector_lanes
    );
    let _ = writeln!(
        out,
        "# index  issue@pos0  done@pos0  unit  step            assembly"
    );
    let mut clock = Clock::new(target, 0);
    // Vector instructions still running: (completion, index, what they write).
    let mut running: Vec<(u64, usize, Access)> = Vec::new();
    for (i, t) in code.iter().enumerate() {
        let issued = clock
            .issue(&t.instr)
            .expect("a scheduled program has no deadlock");
        let step = t.step.label(t.layer);
        let mut chained = String::new();
        if issued.unit == Unit::Vxu {
            running.retain(|(complete, _, _)| *complete > issued.issue);
            let access = t.instr.op.accesses_on(target, 0);
            let reads = Access {
                vector_reads: access.vector_reads,
                ..Access::default()
            };
            let to: Vec<String> = running
                .iter()
                .filter(|(_, _, writes)| writes.conflicts(&reads))
                .map(|(_, index, _)| index.to_string())
                .collect();
            if !to.is_empty() {
                chained = format!("chained to {}", to.join(", "));
            }
            let writes = Access {
                vector_writes: access.vector_writes,
                ..Access::default()
            };
            running.push((issued.complete, i, writes));
        }
        let comment: Vec<String> = [chained, operand_names(&t.instr, regions)]
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect();
        let comment = if comment.is_empty() {
            String::new()
        } else {
            format!("  # {}", comment.join("; "))
        };
        let _ = writeln!(
            out,
            "{i:6}  {:9}  {:9}  {:4}  {step:<14}  {}{comment}",
            issued.issue,
            issued.complete,
            issued.unit.name(),
            t.instr
        );
    }
    out
}

/// The cycles of a token step of `code` at each of `context` positions, by the contract's timing
/// (a wait that is never satisfied is the compiler's internal error).
pub fn predicted_cycles(
    code: &[crate::lower::Tagged],
    target: &Target,
    context: usize,
) -> Result<Vec<u64>, CompileError> {
    let program: Vec<Instr> = code.iter().map(|t| t.instr).collect();
    (0..context)
        .map(|pos| token_cycles(&program, target, pos))
        .collect::<Result<Vec<u64>, _>>()
        .map_err(|d| CompileError::Internal {
            index: d.index,
            message: d.message,
        })
}

/// Build the bundle; `predicted_cycles` are [`predicted_cycles`] of the scheduled code, and
/// `product_pieces` the most pieces its matrix products were issued in.
pub fn emit(
    model: &QuantModel,
    target: &Target,
    layout: Layout,
    scheduled: Scheduled,
    predicted_cycles: Vec<u64>,
    product_pieces: usize,
) -> Result<Compiled, CompileError> {
    debug_assert_eq!(predicted_cycles.len(), layout.context);
    let program: Vec<Instr> = scheduled.code.iter().map(|t| t.instr).collect();
    // Every field must fit its encoding (wait counts have 14 bits, lengths 16, ...).
    encode_program(&program).map_err(|(i, e)| CompileError::Unencodable {
        target: target.name.clone(),
        index: i,
        instruction: program[i].to_string(),
        reason: e.to_string(),
    })?;
    let attention_sets = layout.scratch.attention.len();
    if let Some((pos, &cycles)) = predicted_cycles
        .iter()
        .enumerate()
        .find(|&(_, &c)| stopped_at_step_limit(c))
    {
        return Err(CompileError::Invalid(format!(
            "the token step at position {pos} takes {cycles} cycles, as many as the {} \
             after which the core stops a step, or more (timing::STEP_LIMIT_CYCLES)",
            STEP_LIMIT_CYCLES
        )));
    }
    let checkpoints = scheduled.checkpoints;
    let c = &model.config;
    let name = format!(
        "a model of dim {}, {} layers, vocab {}",
        c.dim, c.n_layers, c.vocab_size
    );
    let listing = listing(&scheduled.code, target, &name, &layout.regions);
    let manifest = Manifest {
        magic: BUNDLE_MAGIC.into(),
        version: BUNDLE_VERSION,
        target: target.name.clone(),
        config_hash: format!("{:016x}", target.config_hash()),
        model: *c,
        context: layout.context,
        instructions: program.len(),
        regions: layout.regions.clone(),
        checkpoints,
        predicted_cycles,
        assembled_from: None,
    };
    Ok(Compiled {
        attention_sets,
        product_pieces,
        bundle: Bundle {
            manifest,
            program,
            matrix: layout.matrix,
            vector: layout.vector,
            listing,
        },
        code: scheduled.code,
        chain: scheduled.chain,
    })
}
