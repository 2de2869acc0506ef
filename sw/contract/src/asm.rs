//! A bundle's program as text to edit and assemble back into the bundle: the compiler
//! engineer's loop of `llc -o x.s`, an edit and `llvm-mc`, for this machine.
//!
//! The listing (`listing.s`) is for reading: it gives each instruction's model step, which the
//! bundle does not keep. This form is for writing. Each line holds one instruction's assembly
//! ([`crate::isa`]), with its index, its issue and completion cycles at position 0 and its unit
//! as a comment. After the instruction that completes each of the manifest's checkpoints comes a
//! `.checkpoint LABEL` line, so that the checkpoints move with their instructions when lines
//! are added or removed; a `.bundle` line names the bundle the text belongs to.
//! [`reassemble`] checks what the compiler guarantees:
//! - the registers and encodings;
//! - the program memory;
//! - an `end`;
//! - every wait satisfiable;
//! - every access inside the machine at every position, and every element indexed by the
//!   position or the token inside a memory its instruction may touch, for every value they take;
//! - the step limit.
//!
//! It also predicts the cycles anew, with the timing rules the simulators count by. What only
//! running can show is the instruction-set simulator's to find: a hazard between overlapped
//! units, or a register-indexed access outside its memory.

use std::fmt;
use std::fmt::Write as _;

use crate::bundle::{named_address, operand_names, Bundle, CheckpointSpec};
use crate::isa::{check_element, field_column, Instr, Op, Role, REG_POS, REG_TOKEN};
use crate::steps::ModelStep;
use crate::target::Target;
use crate::timing::{stopped_at_step_limit, token_cycles, Clock, STEP_LIMIT_CYCLES};

/// The directive that marks where a checkpoint's values are complete: `.checkpoint qkv.0`.
pub const CHECKPOINT_DIRECTIVE: &str = "checkpoint";

/// The directive that names the bundle a text was printed from: `.bundle target=sim-tiny
/// context=64 images=0123456789abcdef`. A text that has it assembles only into that bundle, as
/// its immediates (the accumulators' bounds, the cache's exponents) and addresses are that
/// model's and that layout's; a text without it is taken as written for the bundle given.
pub const BUNDLE_DIRECTIVE: &str = "bundle";

/// What [`BUNDLE_DIRECTIVE`] says of `bundle`: its target, its context and a hash
/// ([`crate::fnv1a`]) of its memory images.
pub fn bundle_identity(bundle: &Bundle) -> String {
    let matrix: Vec<u8> = bundle.matrix.iter().map(|&b| b as u8).collect();
    let mut hash = crate::fnv1a(&matrix);
    for v in &bundle.vector {
        hash = crate::fnv1a_extend(hash, &v.to_le_bytes());
    }
    format!(
        "target={} context={} images={hash:016x}",
        bundle.manifest.target, bundle.manifest.context
    )
}

/// A program text assembled: the bundle, and the line of the text that each instruction came
/// from (for the errors that running it may find).
#[derive(Clone, Debug)]
pub struct Assembled {
    /// The bundle with the new program.
    pub bundle: Bundle,
    /// The text's line (1-based) of each instruction.
    pub lines: Vec<usize>,
    /// The text's line (1-based) of each checkpoint's mark, in the manifest's order.
    pub marks: Vec<usize>,
}

/// Why a program text cannot replace a bundle's program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    /// The line (1-based) at fault, when one is.
    pub line: Option<usize>,
    /// The column (1-based) in that line, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: {}", self.message),
            (Some(l), None) => write!(f, "line {l}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for AsmError {}

fn at(line: usize, column: Option<usize>, message: impl Into<String>) -> AsmError {
    AsmError {
        line: Some(line),
        column,
        message: message.into(),
    }
}

/// A checkpoint's label, as the listing names its model step: `qkv.0`, `classifier`.
pub fn checkpoint_label(spec: &CheckpointSpec) -> String {
    match ModelStep::from_name(&spec.step) {
        Some(step) => step.label(spec.layer),
        // A step the contract does not name (a machine refuses to run it) keeps its own name.
        None => spec.step.clone(),
    }
}

/// The program of `bundle` as text that [`reassemble`] reads back into it.
pub fn disassemble(bundle: &Bundle, target: &Target) -> String {
    let m = &bundle.manifest;
    let mut marks: Vec<Vec<String>> = vec![Vec::new(); bundle.program.len()];
    for spec in &m.checkpoints {
        if let Some(list) = marks.get_mut(spec.after) {
            list.push(checkpoint_label(spec));
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Monorail program for target {}: {} instructions; a model of dim {}, {} layers, \
         vocab {};\n# {} positions.",
        target.name,
        bundle.program.len(),
        m.model.dim,
        m.model.n_layers,
        m.model.vocab_size,
        m.context
    );
    let _ = writeln!(
        out,
        "# Edit it and assemble it back into the bundle with `monorail asm`.\n\
         # `.{CHECKPOINT_DIRECTIVE} STEP` follows the instruction after which the model step's \
         values are complete.\n\
         # `wait=unit:N` waits for that unit's Nth instruction of the token step to complete: \
         an instruction\n# added or removed on a unit changes the count of those after it.\n\
         # The comments give each instruction's index, its issue and completion cycles at \
         position 0,\n# its unit with its count there (`vxu#9`, what `wait=vxu:9` waits for), \
         and the names of its\n# addresses in the bundle's memory map (`w=@layer0.wo+8`), \
         which `monorail asm` reads in place\n# of `m...` and `v...` addresses too.\n\
         .{BUNDLE_DIRECTIVE} {}",
        bundle_identity(bundle)
    );
    if let Some(from) = &m.assembled_from {
        let _ = writeln!(
            out,
            "# The bundle's program was assembled by `monorail asm` from {} (text fnv1a {}), \
             not written by the compiler.",
            from.source, from.text_fnv1a
        );
    }
    let mut clock = Some(Clock::new(target, 0));
    for (i, instr) in bundle.program.iter().enumerate() {
        let text = instr.to_string();
        let stamp = match clock.as_mut().map(|c| c.issue(instr)) {
            Some(Ok(issued)) if issued.unit_index > 0 => format!(
                "{:>7} {:>7}  {}#{}",
                issued.issue,
                issued.complete,
                issued.unit.name(),
                issued.unit_index
            ),
            Some(Ok(issued)) => format!(
                "{:>7} {:>7}  {}",
                issued.issue,
                issued.complete,
                issued.unit.name()
            ),
            Some(Err(deadlock)) => {
                clock = None;
                format!("never issues: {}", deadlock.message)
            }
            None => "not reached".to_string(),
        };
        // Nothing issues after the step's first `end`.
        if matches!(instr.op, Op::End { .. }) {
            clock = None;
        }
        let names = match operand_names(instr, &m.regions) {
            names if names.is_empty() => names,
            names => format!("  {names}"),
        };
        let _ = writeln!(out, "{text:<63} # {i:5}: {stamp}{names}");
        for label in &marks[i] {
            let _ = writeln!(out, ".{CHECKPOINT_DIRECTIVE} {label}");
        }
    }
    out
}

/// Check each register-indexed access (`getv`, `setv`) through the position (`r1`) or the
/// token (`r2`) before the program writes that register, for every value the register can hold
/// (`0 .. context`, `0 .. vocab_size`): a run on the simulator follows one token path, and the
/// first other prompt would reach the rest. Errors name the instruction's index and the field
/// of its base address.
fn check_indexed_by_inputs(
    program: &[Instr],
    target: &Target,
    vocab_size: usize,
    context: usize,
) -> Result<(), (usize, &'static str, String)> {
    let mut written = 0u64;
    for (index, instr) in program.iter().enumerate() {
        let (base, field, idx, role) = match instr.op {
            Op::Getv { src, idx, .. } => (src, "src", idx, Role::VxuRead),
            Op::Setv { dst, idx, .. } => (dst, "dst", idx, Role::VxuWrite),
            _ => (0, "", 0, Role::VxuRead),
        };
        let (values, what) = match u8::try_from(idx) {
            Ok(REG_POS) => (context, "position"),
            Ok(REG_TOKEN) => (vocab_size, "token"),
            _ => (0, ""),
        };
        if values > 0 && written >> idx & 1 == 0 {
            for value in 0..values {
                let at = base as usize + value;
                check_element(target, role, at).map_err(|e| {
                    (
                        index,
                        field,
                        format!("when r{idx}, the {what}, is {value}: {e}"),
                    )
                })?;
            }
        }
        written |= instr.op.accesses_on(target, 0).register_writes;
    }
    Ok(())
}

/// `bundle` with the program of `text` (as [`disassemble`] writes it, edited): the checkpoints
/// after their `.checkpoint` lines, the predicted cycles of the new program, and its disassembly
/// as the listing. The memory images and the memory map are the bundle's.
pub fn reassemble(bundle: &Bundle, text: &str, target: &Target) -> Result<Assembled, AsmError> {
    // A byte-order mark some editors write is no part of the text.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let m = &bundle.manifest;
    let labels: Vec<String> = m.checkpoints.iter().map(checkpoint_label).collect();
    let mut program: Vec<Instr> = Vec::new();
    // The line of each instruction, for the errors.
    let mut lines: Vec<usize> = Vec::new();
    // Each checkpoint's instruction and line, in the manifest's order.
    let mut marked: Vec<(usize, usize)> = Vec::with_capacity(labels.len());
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let code = line.split('#').next().unwrap_or("");
        let body = code.trim_start();
        let column = code.len() - body.len() + 1;
        let Some(directive) = body.strip_prefix('.') else {
            match Instr::parse_with(line, &|kind, name, offset| {
                named_address(&m.regions, kind, name, offset)
            }) {
                Ok(Some(instr)) => {
                    program.push(instr);
                    lines.push(number);
                }
                Ok(None) => {}
                Err(e) => return Err(at(number, e.column, e.message)),
            }
            continue;
        };
        let mut words = directive.split_whitespace();
        let name = words.next();
        if name == Some(BUNDLE_DIRECTIVE) {
            let theirs = words.collect::<Vec<_>>().join(" ");
            let ours = bundle_identity(bundle);
            if theirs != ours {
                return Err(at(
                    number,
                    Some(column),
                    format!(
                        "the text was printed from another bundle ({theirs}), not this one \
                         ({ours}): its immediates and addresses are that bundle's; disassemble \
                         this one, or take the line out to assemble the text into it anyway"
                    ),
                ));
            }
            continue;
        }
        if name != Some(CHECKPOINT_DIRECTIVE) {
            return Err(at(
                number,
                Some(column),
                format!(
                    "unknown directive `{}`: the directives are `.{CHECKPOINT_DIRECTIVE} STEP` \
                     and `.{BUNDLE_DIRECTIVE} ...`",
                    body.split_whitespace().next().unwrap_or(body)
                ),
            ));
        }
        let (Some(label), None) = (words.next(), words.next()) else {
            // At the word past the step, or at the directive where no step is given.
            let mut starts = code
                .char_indices()
                .filter(|&(i, c)| {
                    !c.is_whitespace()
                        && code[..i]
                            .chars()
                            .next_back()
                            .is_none_or(char::is_whitespace)
                })
                .map(|(i, _)| i + 1);
            let past_the_step = starts.nth(2).unwrap_or(column);
            return Err(at(
                number,
                Some(past_the_step),
                format!(
                    "`.{CHECKPOINT_DIRECTIVE}` takes one model step, such as `.{CHECKPOINT_DIRECTIVE} \
                     qkv.0`"
                ),
            ));
        };
        let Some(c) = labels.iter().position(|l| l == label) else {
            return Err(at(
                number,
                Some(column),
                format!(
                    "`{label}` is not one of the bundle's checkpoints ({} .. {})",
                    labels.first().map_or("none", String::as_str),
                    labels.last().map_or("none", String::as_str)
                ),
            ));
        };
        if c < marked.len() {
            return Err(at(
                number,
                Some(column),
                format!(
                    "checkpoint `{label}` is marked twice (first on line {})",
                    marked[c].1
                ),
            ));
        }
        if c > marked.len() {
            return Err(at(
                number,
                Some(column),
                format!(
                    "checkpoint `{label}` comes before `{unmarked}`, which is not marked above \
                     it: mark `.{CHECKPOINT_DIRECTIVE} {unmarked}` first (the checkpoints are \
                     marked in the manifest's order, which the golden model's steps follow)",
                    unmarked = labels[marked.len()]
                ),
            ));
        }
        let Some(after) = program.len().checked_sub(1) else {
            return Err(at(
                number,
                Some(column),
                format!(
                    "checkpoint `{label}` comes before any instruction: it follows the \
                     instruction after which the step's values are complete"
                ),
            ));
        };
        marked.push((after, number));
    }
    if program.is_empty() {
        return Err(AsmError {
            line: None,
            column: None,
            message: "the text holds no instructions".into(),
        });
    }
    if let Some(missing) = labels.get(marked.len()) {
        return Err(AsmError {
            line: None,
            column: None,
            message: format!(
                "no `.{CHECKPOINT_DIRECTIVE} {missing}`: mark the instruction after which that \
                 step's values are complete (`monorail disasm` shows where the bundle has it)"
            ),
        });
    }
    let whole = |message: String| AsmError {
        line: None,
        column: None,
        message,
    };
    if program.len() > target.program_words {
        return Err(whole(format!(
            "{} instructions are more than target {}'s program memory holds ({} words)",
            program.len(),
            target.name,
            target.program_words
        )));
    }
    for (instr, &line) in program.iter().zip(&lines) {
        instr.encode().map_err(|e| at(line, None, e.message))?;
    }
    let Some(end) = program.iter().position(|i| matches!(i.op, Op::End { .. })) else {
        return Err(whole(
            "the program has no `end`, so a token step would never finish".into(),
        ));
    };
    if let Some(&(_, line)) = marked.iter().find(|(after, _)| *after > end) {
        return Err(at(
            line,
            None,
            format!(
                "this checkpoint follows the step's first `end` (line {}), after which nothing \
                 runs",
                lines[end]
            ),
        ));
    }
    let reached = &program[..=end];
    check_indexed_by_inputs(reached, target, m.model.vocab_size, m.context).map_err(
        |(index, field, message)| {
            let line = lines[index];
            let column = text
                .lines()
                .nth(line - 1)
                .and_then(|source| field_column(source, field));
            at(line, column, message)
        },
    )?;
    let mut predicted_cycles = Vec::with_capacity(m.context);
    for pos in 0..m.context {
        for (instr, &line) in reached.iter().zip(&lines) {
            instr.op.check(target, pos).map_err(|e| {
                let column = e.field.and_then(|field| {
                    text.lines()
                        .nth(line - 1)
                        .and_then(|source| field_column(source, field))
                });
                at(line, column, format!("at position {pos}: {e}"))
            })?;
        }
        let cycles = token_cycles(reached, target, pos).map_err(|d| {
            // A wait for what never issues: at the wait.
            let column = d
                .at_wait
                .then(|| text.lines().nth(lines[d.index] - 1))
                .flatten()
                .and_then(|source| field_column(source, "wait"));
            at(
                lines[d.index],
                column,
                format!("at position {pos}: {}", d.message),
            )
        })?;
        if stopped_at_step_limit(cycles) {
            return Err(whole(format!(
                "the token step at position {pos} takes {cycles} cycles, as many as the \
                 {STEP_LIMIT_CYCLES} after which the core stops a step, or more"
            )));
        }
        predicted_cycles.push(cycles);
    }
    let mut manifest = m.clone();
    manifest.instructions = program.len();
    for (spec, (after, _)) in manifest.checkpoints.iter_mut().zip(&marked) {
        spec.after = *after;
    }
    manifest.predicted_cycles = predicted_cycles;
    let mut out = Bundle {
        manifest,
        program,
        matrix: bundle.matrix.clone(),
        vector: bundle.vector.clone(),
        listing: String::new(),
    };
    out.listing = disassemble(&out, target);
    let marks = marked.iter().map(|&(_, line)| line).collect();
    Ok(Assembled {
        bundle: out,
        lines,
        marks,
    })
}
