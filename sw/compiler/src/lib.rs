//! The Monorail compiler: a quantised llama2.c model to a static program for one target.
//!
//! The passes, in order (each in its own module, whose doc says what it consumes, produces and
//! guarantees):
//!
//! 1. [`layout`]: place weights, scales, caches and scratch in the target's memories (or say
//!    why they do not fit);
//! 2. [`lower`]: one token step as instructions, step by step with the golden model's arithmetic;
//! 3. [`schedule`]: the waits that let the units overlap without changing any result;
//! 4. [`emit`]: the predicted cycles at every position, the listing, and the bundle.
//!
//! The first three run once for each count of attention buffer sets that the memories hold
//! beside the context ([`layout::MAX_ATTENTION_SETS`]) with each most pieces a matrix product
//! is issued in ([`lower::PRODUCT_PIECES`]), and `emit` takes the fastest schedule.
//!
//! [`timeline`] draws a token step of the result.
#![deny(missing_docs)]

pub mod emit;
pub mod layout;
pub mod lower;
pub mod schedule;
pub mod timeline;

use monorail_contract::bundle::{Bundle, Region};
use monorail_contract::target::{Target, VectorMemory};
use monorail_model::quant::QuantModel;
use thiserror::Error;

/// The passes, in order.
pub const PASSES: [&str; 4] = ["layout", "lower", "schedule", "emit"];

/// Compile options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// Positions the bundle serves (the KV cache's length); default: the model's `seq_len`, or
    /// the longest context the target's memories hold when that is shorter (as `run.c` clamps
    /// its steps to `seq_len`).
    pub context: Option<usize>,
    /// Sets of attention buffers (from [`layout::MIN_ATTENTION_SETS`] to
    /// [`layout::MAX_ATTENTION_SETS`]); default: each count that the memories hold beside the
    /// context is scheduled, and the one with the fewest cycles kept.
    pub attention_sets: Option<usize>,
    /// The most pieces of whole row blocks a matrix product is issued in (at least 1); default:
    /// each of [`lower::PRODUCT_PIECES`] is scheduled, and the one with the fewest cycles kept.
    pub product_pieces: Option<usize>,
}

impl CompileOptions {
    /// The default options serving `context` positions (`None`: the default context).
    pub fn serving(context: Option<usize>) -> CompileOptions {
        CompileOptions {
            context,
            ..CompileOptions::default()
        }
    }
}

/// Why a model cannot be compiled for a target.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CompileError {
    /// A memory is too small.
    #[error(
        "the model does not fit target {target}: the {memory} memory needs {needed} {unit} but \
         has {available} ({over} {unit} over){suggestion}"
    )]
    DoesNotFit {
        /// Target name.
        target: String,
        /// `matrix`, `program` or a memory of the vector space.
        memory: &'static str,
        /// What the model needs.
        needed: usize,
        /// What the target has.
        available: usize,
        /// `needed - available`.
        over: usize,
        /// Units of the sizes (`words of 64 bytes`, ...).
        unit: String,
        /// What would fit: other built-in targets, or a shorter context.
        suggestion: String,
    },
    /// The options are impossible (a context outside 1 ..= seq_len).
    #[error("{0}")]
    Invalid(String),
    /// The program exceeds a field of the instruction encoding (a wait count, a length).
    #[error("the program cannot be encoded for {target}: instruction {index} (`{instruction}`): {reason}")]
    Unencodable {
        /// The target.
        target: String,
        /// The instruction's index in the program.
        index: usize,
        /// The instruction, in assembly.
        instruction: String,
        /// The field and its limit.
        reason: String,
    },
    /// A compiler bug: the scheduled program cannot run by the timing rules.
    #[error("internal error (a compiler bug, please report it): instruction {index}: {message}")]
    Internal {
        /// The instruction's index in the program.
        index: usize,
        /// What went wrong.
        message: String,
    },
    /// A tensor of the model does not have the shape its config gives.
    #[error("the model does not match its config: {0}")]
    ModelShape(String),
}

/// A compiled model.
pub struct Compiled {
    /// The bundle.
    pub bundle: Bundle,
    /// The scheduled instructions with their model steps (for listings and timelines).
    pub code: Vec<lower::Tagged>,
    /// The longest chain of dependences through a token step (a lower bound on its cycles).
    pub chain: schedule::DependenceChain,
    /// The sets of attention buffers the program uses (the fastest count tried, or the one
    /// asked for).
    pub attention_sets: usize,
    /// The most pieces a matrix product is issued in (the fastest tried, or the one asked for).
    pub product_pieces: usize,
}

/// The first memory that overflows with the fewest attention buffer sets, as (memory, needed,
/// available, unit).
fn overflow(
    model: &QuantModel,
    target: &Target,
    context: usize,
) -> Option<(&'static str, usize, usize, String)> {
    overflow_with(model, target, context, layout::MIN_ATTENTION_SETS)
}

/// The first memory that overflows with `attention_sets` sets of attention buffers.
fn overflow_with(
    model: &QuantModel,
    target: &Target,
    context: usize,
    attention_sets: usize,
) -> Option<(&'static str, usize, usize, String)> {
    let plan = layout::plan(model, target, context, attention_sets);
    if plan.matrix_used > target.matrix_words() {
        return Some((
            Region::MATRIX,
            plan.matrix_used,
            target.matrix_words(),
            format!("words of {} bytes", target.lanes),
        ));
    }
    for m in VectorMemory::ALL {
        let available = target.range_of(m).len();
        if plan.vector_used[m.index()] > available {
            return Some((
                m.name(),
                plan.vector_used[m.index()],
                available,
                format!("elements of {} bits", m.bits()),
            ));
        }
    }
    // Attention's weighted sum of values is a `dotv` over the positions (rows) and a head
    // (columns): past one block of rows it keeps a partial sum per column.
    let head_size = model.config.head_size();
    if context > target.lanes && head_size > target.partial_sums {
        return Some((
            "partial sums",
            head_size,
            target.partial_sums,
            "columns (a head's size)".into(),
        ));
    }
    None
}

/// The longest context up to `at_most` whose memories fit `target` (memory use grows with the
/// context), if any does.
fn longest_context(model: &QuantModel, target: &Target, at_most: usize) -> Option<usize> {
    if at_most == 0 || overflow(model, target, 1).is_some() {
        return None;
    }
    if overflow(model, target, at_most).is_none() {
        return Some(at_most);
    }
    // Context `fits` fits and `over` does not.
    let (mut fits, mut over) = (1, at_most);
    while over - fits > 1 {
        let middle = (fits + over) / 2;
        if overflow(model, target, middle).is_none() {
            fits = middle;
        } else {
            over = middle;
        }
    }
    Some(fits)
}

/// What `describe` says of each built-in target other than `target` (those it says nothing of
/// are left out): what a model that does not fit `target` is pointed to.
fn other_builtins(target: &Target, describe: impl Fn(&Target) -> Option<String>) -> Vec<String> {
    Target::builtins()
        .iter()
        .filter(|t| t.name != target.name)
        .filter_map(describe)
        .collect()
}

/// A program scheduled with one count of attention buffer sets and of product pieces.
struct Candidate {
    product_pieces: usize,
    /// Its cycles at each position, and their sum.
    cycles: Vec<u64>,
    total_cycles: u64,
    layout: layout::Layout,
    scheduled: schedule::Scheduled,
}

/// Compile `model` for `target`.
pub fn compile(
    model: &QuantModel,
    target: &Target,
    options: CompileOptions,
) -> Result<Compiled, CompileError> {
    model.check_shape().map_err(CompileError::ModelShape)?;
    if options.product_pieces == Some(0) {
        return Err(CompileError::Invalid(
            "0 product pieces: a matrix product is issued in at least 1".into(),
        ));
    }
    if let Some(sets) = options.attention_sets {
        let counts = layout::MIN_ATTENTION_SETS..=layout::MAX_ATTENTION_SETS;
        if !counts.contains(&sets) {
            return Err(CompileError::Invalid(format!(
                "{sets} sets of attention buffers: the count must be in {} ..= {}",
                counts.start(),
                counts.end()
            )));
        }
    }
    let seq_len = model.config.seq_len;
    let context = options
        .context
        .unwrap_or_else(|| longest_context(model, target, seq_len).unwrap_or(seq_len));
    if context == 0 || context > seq_len {
        return Err(CompileError::Invalid(format!(
            "context {context} must be in 1 ..= the model's seq_len ({seq_len})"
        )));
    }
    if let Some((memory, needed, available, unit)) = overflow(model, target, context) {
        let fits = other_builtins(target, |t| {
            overflow(model, t, context)
                .is_none()
                .then(|| t.name.clone())
        });
        // and those that hold it with fewer positions, each with the most it holds
        let fits_shorter = other_builtins(target, |t| {
            (!fits.contains(&t.name))
                .then(|| longest_context(model, t, context - 1))
                .flatten()
                .map(|c| format!("{} (--context {c})", t.name))
        });
        let shorter = longest_context(model, target, context - 1);
        let mut suggestion = String::new();
        if !fits.is_empty() {
            suggestion += &format!("; built-in targets that fit it: {}", fits.join(", "));
        }
        if !fits_shorter.is_empty() {
            suggestion += &format!("; with fewer positions: {}", fits_shorter.join(", "));
        }
        if let Some(c) = shorter {
            suggestion += &format!("; on {} it fits with --context {c}", target.name);
        }
        if suggestion.is_empty() {
            suggestion = "; no built-in target fits it".into();
        }
        return Err(CompileError::DoesNotFit {
            target: target.name.clone(),
            memory,
            needed,
            available,
            over: needed - available,
            unit,
            suggestion,
        });
    }
    // As many attention buffer sets as the memories hold beside the context, up to the most
    // that serve, each with each count of product pieces: each is laid out, lowered and
    // scheduled, and of those whose program fits the program memory the fewest cycles over the
    // context's positions win (the fewer sets, then the fewer pieces, on a tie). A model of one
    // head has one set whatever the count (`layout::plan`).
    let tried = match options.attention_sets {
        None => {
            let most = layout::MAX_ATTENTION_SETS.min(model.config.n_heads);
            layout::MIN_ATTENTION_SETS..=most.max(layout::MIN_ATTENTION_SETS)
        }
        Some(sets) => {
            if let Some((memory, needed, available, unit)) =
                overflow_with(model, target, context, sets)
            {
                return Err(CompileError::Invalid(format!(
                    "{sets} sets of attention buffers do not fit beside {context} positions on \
                     {}: the {memory} memory would need {needed} {unit} of its {available}; \
                     leave the count to the compiler, or serve fewer positions (--context)",
                    target.name
                )));
            }
            sets..=sets
        }
    };
    // The counts that fit (the first always does: it was checked above), each scheduled on a
    // thread of its own; the choice does not depend on which finishes first.
    let first = *tried.start();
    let fitting: Vec<usize> = tried
        .take_while(|&sets| sets == first || overflow_with(model, target, context, sets).is_none())
        .collect();
    let pieces: Vec<usize> = match options.product_pieces {
        None => lower::PRODUCT_PIECES.to_vec(),
        Some(p) => vec![p],
    };
    let variants: Vec<(usize, usize)> = fitting
        .iter()
        .flat_map(|&sets| pieces.iter().map(move |&p| (sets, p)))
        .collect();
    // The scheduler renames the temporaries on the wide core; the small core executes one
    // instruction at a time, so a renamed program gains it nothing and costs it the `nop`s of
    // the reuses' waits (docs/schedule.md): a first temporary past the last register renames
    // none.
    let first_temp = if target.core.is_wide() {
        lower::FIRST_TEMP as u8
    } else {
        target.registers as u8
    };
    let schedule_with = |sets: usize, product_pieces: usize| -> Result<Candidate, CompileError> {
        let layout = layout::plan(model, target, context, sets);
        let lowered = lower::lower(model, &layout, target, product_pieces);
        let scheduled = schedule::schedule(
            &lowered.code,
            &lowered.checkpoints,
            target,
            context,
            first_temp,
        );
        let cycles = emit::predicted_cycles(&scheduled.code, target, context)?;
        Ok(Candidate {
            product_pieces,
            total_cycles: cycles.iter().fold(0u64, |t, &c| t.saturating_add(c)),
            cycles,
            layout,
            scheduled,
        })
    };
    let mut candidates = std::thread::scope(|scope| {
        let handles: Vec<_> = variants
            .iter()
            .map(|&(sets, p)| scope.spawn(move || schedule_with(sets, p)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a schedule's thread does not panic"))
            .collect::<Result<Vec<_>, CompileError>>()
    })?;
    // `min_by_key` keeps the first of equals; with no program that fits, the first's (the fewest
    // sets and pieces), which the check below refuses.
    let chosen = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.scheduled.code.len() <= target.program_words)
        .min_by_key(|(_, c)| c.total_cycles)
        .map_or(0, |(i, _)| i);
    let Candidate {
        product_pieces,
        cycles,
        mut layout,
        scheduled,
        ..
    } = candidates.swap_remove(chosen);
    layout::fill(&mut layout, model, target);
    let needed = scheduled.code.len();
    if needed > target.program_words {
        // Another target's program differs a little (its lanes set some lengths); these have
        // room for this one and memories that hold the model.
        let roomier = other_builtins(target, |t| {
            (t.program_words >= needed && overflow(model, t, context).is_none())
                .then(|| t.name.clone())
        });
        return Err(CompileError::DoesNotFit {
            target: target.name.clone(),
            memory: "program",
            needed,
            available: target.program_words,
            over: needed - target.program_words,
            unit: "instructions".into(),
            suggestion: if roomier.is_empty() {
                "; no built-in target has room for it".into()
            } else {
                format!(
                    "; built-in targets with room for {needed} instructions that hold its \
                     memories: {}",
                    roomier.join(", ")
                )
            },
        });
    }
    emit::emit(model, target, layout, scheduled, cycles, product_pieces)
}
