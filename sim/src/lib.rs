//! Monorail's machines: what runs a bundle.
//!
//! [`Machine`] is the one interface (load a bundle, run a token step, read the checkpoints and the
//! cycle count) that the instruction-set simulator and the Verilated RTL ([`rtl::Rtl`]) implement,
//! so the same tests run on both.
//!
//! The [`Iss`] executes a bundle bit-exactly with the contract's numerics and counts cycles
//! exactly with the contract's timing rules. It executes each instruction whole, in program order,
//! and checks that this is what the overlapped hardware computes too: an instruction that touches
//! data an earlier, still running instruction writes (or reads, when it writes) is a hazard and
//! stops the machine with the two instructions named, unless the vector unit chains the two
//! (the later reads each element after its write lands: `timing::chain_distance`).
#![deny(missing_docs)]

pub mod board;
pub mod cosim;
pub mod link;
pub mod micro;
pub mod rtl;
pub mod verilated;

use monorail_contract::bundle::{Bundle, BundleError};
use monorail_contract::isa::{
    check_element, fits_register, length, Access, Instr, Op, Role, REGISTERS, REGISTER_BITS,
    REG_POS, REG_TOKEN,
};
use monorail_contract::numerics::{
    argmax, bit_length, cache_exponent, exp2_neg_q15, grouped_top, magnitude, multiplicand,
    normalize, normalize_by, normalize_grouped, normalize_grouped_by, recip, residual_exponent,
    rope_phase, rsqrt, shift_round, sigmoid_q14, sin_cos_q14, EXP2_INPUT_LIMIT, MAGNITUDE_BITS,
    SIGMOID_INPUT_FRACTION_BITS,
};
use monorail_contract::steps::{ModelStep, StepValues};
use monorail_contract::target::Target;
use monorail_contract::timing::{
    chain_distance_of, completion_ring, cost, stopped_at_step_limit, Clock, Cost, STEP_LIMIT_CYCLES,
};
use thiserror::Error;

/// What a machine reports for one token step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    /// The next token (the on-chip argmax).
    pub next: u32,
    /// Cycles the step took.
    pub cycles: u64,
    /// The values at the named model steps (when recording).
    pub values: Vec<StepValues>,
}

/// Why a machine stopped.
#[derive(Debug, Error)]
pub enum MachineError {
    /// The bundle is malformed or for another target.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A request outside what the bundle serves.
    #[error("{0}")]
    Input(String),
    /// The program did something the machine cannot do.
    #[error("instruction {index} (`{text}`) at position {pos}: {message}")]
    Fault {
        /// Instruction index.
        index: usize,
        /// Its assembly.
        text: String,
        /// Position.
        pos: usize,
        /// What went wrong.
        message: String,
        /// The other instruction it involves, if one: a hazard's earlier instruction, still
        /// running (so that an assembler can name its line too).
        other: Option<usize>,
    },
}

/// A machine that runs bundles token step by token step.
pub trait Machine {
    /// Record the values of the named model steps from now on.
    fn record_values(&mut self, on: bool);
    /// Record the values of these steps only (for example, the logits of `classifier`).
    fn record_only(&mut self, steps: &[ModelStep]);
    /// Run one token step: `token` at position `pos` (positions in order from 0).
    fn step(&mut self, token: u32, pos: usize) -> Result<StepResult, MachineError>;
}

/// Refuses a step the bundle does not serve: a token outside its vocabulary of `vocab_size`,
/// or a position past its `context`.
pub(crate) fn check_request(
    vocab_size: usize,
    context: usize,
    token: u32,
    pos: usize,
) -> Result<(), MachineError> {
    if token as usize >= vocab_size {
        return Err(MachineError::Input(format!(
            "token {token} is outside the vocabulary of {vocab_size} tokens"
        )));
    }
    if pos >= context {
        return Err(MachineError::Input(format!(
            "position {pos} is past the bundle's context of {context} positions"
        )));
    }
    Ok(())
}

/// The token a machine answered a step with, refused where it is not one of the bundle's
/// `vocab_size` tokens (an edited program's `end`, or a board that runs another model): the host
/// looks the token up and feeds it back. The simulator and the host link refuse it themselves;
/// the Verilated core answers it as its host port sends it, for the co-simulation to compare.
pub fn check_answer(vocab_size: usize, next: i64) -> Result<u32, String> {
    u32::try_from(next)
        .ok()
        .filter(|&token| (token as usize) < vocab_size)
        .ok_or_else(|| {
            format!("the step answered token {next}, outside the vocabulary of {vocab_size} tokens")
        })
}

/// What a machine records of its steps: whether it records, which named model steps, and
/// after which instruction each of the bundle's checkpoints is complete.
#[derive(Clone, Debug)]
pub(crate) struct Recording {
    /// Recording at all.
    pub(crate) on: bool,
    /// The steps to record (all when `None`).
    only: Option<Vec<ModelStep>>,
    /// Checkpoint indexes by instruction: `after[i]` lists the checkpoints complete after
    /// instruction `i`.
    after: Vec<Vec<usize>>,
    /// Each checkpoint's model step, by checkpoint index.
    steps: Vec<ModelStep>,
}

impl Recording {
    /// Not recording, with `bundle`'s checkpoints by instruction; a checkpoint of a step that
    /// has no name in the contract is refused.
    pub(crate) fn of(bundle: &Bundle) -> Result<Recording, MachineError> {
        let mut after = vec![Vec::new(); bundle.program.len()];
        let mut steps = Vec::with_capacity(bundle.manifest.checkpoints.len());
        for (c, spec) in bundle.manifest.checkpoints.iter().enumerate() {
            let step = ModelStep::from_name(&spec.step).ok_or_else(|| {
                MachineError::Input(format!("unknown checkpoint step `{}`", spec.step))
            })?;
            steps.push(step);
            after[spec.after].push(c);
        }
        Ok(Recording {
            on: false,
            only: None,
            after,
            steps,
        })
    }

    /// Record every step, or none.
    pub(crate) fn all(&mut self, on: bool) {
        self.on = on;
        self.only = None;
    }

    /// Record `steps` only.
    pub(crate) fn only(&mut self, steps: &[ModelStep]) {
        self.on = true;
        self.only = Some(steps.to_vec());
    }

    /// Whether `step`'s values are recorded.
    pub(crate) fn wants(&self, step: ModelStep) -> bool {
        self.on && self.only.as_ref().is_none_or(|f| f.contains(&step))
    }

    /// The checkpoints complete after instruction `index`.
    pub(crate) fn after(&self, index: usize) -> &[usize] {
        self.after.get(index).map_or(&[], Vec::as_slice)
    }

    /// Checkpoint `c`'s model step.
    pub(crate) fn step(&self, c: usize) -> ModelStep {
        self.steps[c]
    }
}

/// The instruction-set simulator.
pub struct Iss {
    target: Target,
    bundle: Bundle,
    matrix: Vec<i8>,
    vector: Vec<i32>,
    regs: [i64; REGISTERS],
    recording: Recording,
    /// Reused output buffer of element-wise operations (and of [`Iss::store32`]).
    scratch: Vec<i64>,
    /// Reused buffers of the normalisations: their input and their output.
    norm_in: Vec<i64>,
    norm_out: Vec<i32>,
    /// Reused buffers of the other instructions that produce vectors ([`Iss::produce`]).
    buffers: Buffers,
    /// Each instruction's cost, when neither it nor the instruction's accesses depend on the
    /// position.
    fixed: Vec<Option<Cost>>,
    /// Whether the instruction's operand checks (`Op::check`) hold at every position: those of
    /// a fixed instruction do not depend on it, and are made once, here.
    prechecked: Vec<bool>,
    /// For each instruction, the earlier ones it must be checked against: those that may still
    /// run when it issues and may touch what it touches at some position ([`hazard_candidates`]).
    candidates: Vec<Vec<Candidate>>,
    /// Reused per step: each instruction's issue and completion cycles. // (program,)
    step_times: Vec<(u64, u64)>,
    /// Each instruction's accesses: at position 0 from the load, and at the step's position
    /// from its issue where they depend on it. // (program,)
    step_accesses: Vec<Access>,
}

/// The buffers an instruction fills before its results are stored, kept between instructions so
/// that executing one allocates nothing.
#[derive(Default)]
struct Buffers {
    /// The results. // (n,)
    out: Vec<i64>,
    /// A matrix product's accumulators. // (lanes,)
    acc: Vec<i32>,
    /// A matrix product's int8 inputs, widened. // (cols,) or (rows,)
    xs: Vec<i16>,
    /// `normg`'s exponents, one per element. // (n,)
    exps: Vec<i32>,
}

/// An earlier instruction that the hazard check looks at ([`hazard_candidates`]).
#[derive(Clone, Copy, Debug)]
struct Candidate {
    /// Its index.
    index: u32,
    /// When neither instruction's accesses nor cost depend on the position: how far apart the
    /// vector unit chains them (`Some(None)`: it does not, and they must not overlap).
    fixed_chain: Option<Option<u64>>,
}

/// For each instruction of `program`, the earlier instructions that the hazard check must look
/// at: those that can still be running when it issues (the sequencer's completion ring lets at
/// most [`completion_ring`] - 1 of a unit's instructions run at once, and a unit completes in
/// order, so only each unit's last `completion_ring` instructions can) and that touch what it
/// touches at some position ([`Access::spanning`] of its accesses at the first and the `last`,
/// `at_first` and `at_last`). Checking these instead of every running instruction keeps the same
/// verdicts at a fraction of the cost; where neither instruction depends on the position, the
/// verdict is worked out here once.
fn hazard_candidates(
    program: &[Instr],
    fixed: &[Option<Cost>],
    at_first: &[Access],
    at_last: &[Access],
    target: &Target,
    last: usize,
) -> Vec<Vec<Candidate>> {
    let ring = completion_ring(target);
    let spans: Vec<Access> = at_first
        .iter()
        .zip(at_last)
        .map(|(first, last)| first.spanning(last))
        .collect();
    // Each unit's last `ring` instructions, oldest first.
    let mut recent: [std::collections::VecDeque<usize>; 3] = Default::default();
    program
        .iter()
        .enumerate()
        .map(|(i, instr)| {
            let mut earlier: Vec<Candidate> = recent
                .iter()
                .flatten()
                .filter(|&&j| spans[j].conflicts(&spans[i]))
                .map(|&j| {
                    let verdict = |pos, at: &[Access]| {
                        chain_verdict(&program[j].op, &at[j], &instr.op, &at[i], target, pos)
                    };
                    let first = verdict(0, at_first);
                    Candidate {
                        index: j as u32,
                        fixed_chain: (fixed[i].is_some()
                            && fixed[j].is_some()
                            && first == verdict(last, at_last))
                        .then_some(first),
                    }
                })
                .collect();
            earlier.sort_unstable_by_key(|c| c.index);
            if let Some(slot) = instr.op.spec().unit.slot() {
                let unit = &mut recent[slot];
                if unit.len() == ring {
                    unit.pop_front();
                }
                unit.push_back(i);
            }
            earlier
        })
        .collect()
}

/// How far apart the vector unit chains the earlier instruction `theirs` and the later `mine`,
/// which conflict: `None` where it does not (they touch the same matrix words or registers, or
/// either is not streamed), and they must not overlap.
fn chain_verdict(
    earlier: &Op,
    theirs: &Access,
    later: &Op,
    mine: &Access,
    target: &Target,
    pos: usize,
) -> Option<u64> {
    if theirs.conflicts_outside_vector_space(mine) {
        None
    } else {
        chain_distance_of(earlier, theirs, later, mine, target, pos)
    }
}

/// A failure inside one instruction, before it is given its context.
type Fault = String;

fn int8(v: i32) -> Result<i8, Fault> {
    i8::try_from(v).map_err(|_| format!("value {v} is not an int8"))
}

/// The matrix unit's activations, int8 values from the input memory, as 16-bit values in `out`
/// (an int8 times an int8 fits 16 bits); a value that is not an int8 is a fault.
fn int16s(values: &[i32], out: &mut Vec<i16>) -> Result<(), Fault> {
    out.clear();
    for &v in values {
        out.push(int8(v)?.into());
    }
    Ok(())
}

/// An address from a (possibly register-computed) value.
fn address(v: i64) -> Result<usize, Fault> {
    usize::try_from(v).map_err(|_| format!("address {v} is negative"))
}

/// Exponents and shift amounts stay far inside this range in any model; a register outside it
/// holds garbage.
const EXPONENT_LIMIT: i64 = 1 << 20;

/// A register used as an exponent or a shift.
fn exponent(v: i64) -> Result<i32, Fault> {
    if v.abs() <= EXPONENT_LIMIT {
        Ok(v as i32)
    } else {
        Err(format!("exponent {v} is out of range"))
    }
}

/// A scalar result that must not overflow.
fn checked(v: Option<i64>) -> Result<i64, Fault> {
    v.ok_or_else(|| "scalar arithmetic overflows 64 bits".to_string())
}

/// A mantissa width of `norm`/`normg`.
fn width(bits: i64) -> Result<u32, Fault> {
    if (2..=31).contains(&bits) {
        Ok(bits as u32)
    } else {
        Err(format!("bits={bits} is not a mantissa width (2 ..= 31)"))
    }
}

/// A scalar operand of a vector instruction: the vector lanes take 32-bit scalars.
fn scalar32(v: i64) -> Result<i64, Fault> {
    if i32::try_from(v).is_ok() {
        Ok(v)
    } else {
        Err(format!("scalar operand {v} is not a 32-bit value"))
    }
}

impl Iss {
    /// A simulator loaded with a bundle for `target`.
    pub fn new(target: Target, bundle: Bundle) -> Result<Iss, MachineError> {
        if bundle.matrix.len() != target.matrix_bytes()
            || bundle.vector.len() != target.vector_space()
        {
            return Err(MachineError::Input(format!(
                "the bundle's memory images do not match target {}",
                target.name
            )));
        }
        let recording = Recording::of(&bundle)?;
        let last = bundle.manifest.context.saturating_sub(1);
        let program = &bundle.program;
        let accesses_at = |pos| -> Vec<Access> {
            program
                .iter()
                .map(|i| i.op.accesses_on(&target, pos))
                .collect()
        };
        let (at_first, at_last) = (accesses_at(0), accesses_at(last));
        let fixed: Vec<Option<Cost>> = program
            .iter()
            .enumerate()
            .map(|(i, instr)| {
                let c = cost(&instr.op, &target, 0);
                (c == cost(&instr.op, &target, last) && at_first[i] == at_last[i]).then_some(c)
            })
            .collect();
        let candidates = hazard_candidates(program, &fixed, &at_first, &at_last, &target, last);
        let prechecked = program
            .iter()
            .zip(&fixed)
            .map(|(i, f)| {
                f.is_some() && i.op.check(&target, 0).is_ok() && i.op.check(&target, last).is_ok()
            })
            .collect();
        Ok(Iss {
            candidates,
            prechecked,
            step_times: vec![(0, 0); bundle.program.len()],
            step_accesses: at_first,
            matrix: bundle.matrix.clone(),
            vector: bundle.vector.clone(),
            target,
            bundle,
            regs: [0; REGISTERS],
            recording,
            scratch: Vec::new(),
            norm_in: Vec::new(),
            norm_out: Vec::new(),
            buffers: Buffers::default(),
            fixed,
        })
    }

    /// Read a bundle folder for `target` and load it.
    pub fn load(dir: &std::path::Path, target: Target) -> Result<Iss, MachineError> {
        let bundle = Bundle::read(dir, &target)?;
        Iss::new(target, bundle)
    }

    /// The loaded bundle.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The vector space now. // (vector_space,)
    pub fn vector(&self) -> &[i32] {
        &self.vector
    }

    /// The matrix memory now. // (matrix_words, lanes)
    pub fn matrix(&self) -> &[i8] {
        &self.matrix
    }

    /// The registers now (cleared when a step starts).
    pub fn registers(&self) -> &[i64; REGISTERS] {
        &self.regs
    }

    /// Execute `op` alone at position `pos` on the memories now and on `registers` (no timing,
    /// no hazard checks): what any implementation of the instruction must compute.
    pub fn execute_with(
        &mut self,
        op: &Op,
        pos: usize,
        registers: &mut [i64; REGISTERS],
    ) -> Result<(), String> {
        std::mem::swap(&mut self.regs, registers);
        let done = self.execute(op, pos);
        std::mem::swap(&mut self.regs, registers);
        done
    }

    /// The vector space and the matrix memory, to set up an instruction's operands.
    pub fn memories_mut(&mut self) -> (&mut [i32], &mut [i8]) {
        (&mut self.vector, &mut self.matrix)
    }

    /// Write register `r` (a write to `r0` is dropped): a value wider than a register
    /// ([`REGISTER_BITS`]) is a fault.
    fn set(&mut self, r: i64, value: i64) -> Result<(), Fault> {
        if !fits_register(value) {
            return Err(format!(
                "r{r} = {value} does not fit a register's {REGISTER_BITS} bits"
            ));
        }
        if r != 0 {
            self.regs[r as usize] = value;
        }
        Ok(())
    }

    fn reg(&self, r: i64) -> i64 {
        self.regs[r as usize]
    }

    /// `r[mag]` = the magnitude of the `n` results just stored from `dst` (none for `r0`).
    fn set_magnitude(&mut self, mag: i64, dst: i64, n: usize) -> Result<(), Fault> {
        if mag != 0 {
            let m = magnitude(self.slice(dst, n)?.iter().map(|&v| v as i64));
            self.set(mag, m as i64)?;
        }
        Ok(())
    }

    /// A magnitude read from register `mag`: below `2^MAGNITUDE_BITS`, as the results'
    /// magnitudes are.
    fn magnitude_register(&self, mag: i64) -> Result<u64, Fault> {
        u64::try_from(self.reg(mag))
            .ok()
            .filter(|&m| m < 1 << MAGNITUDE_BITS)
            .ok_or_else(|| {
                format!(
                    "norm's mag=r{mag} holds {}, not a magnitude (0 .. 2^{MAGNITUDE_BITS})",
                    self.reg(mag)
                )
            })
    }

    fn slice(&self, start: i64, n: usize) -> Result<&[i32], Fault> {
        let start = address(start)?;
        self.vector
            .get(start..start.saturating_add(n))
            .ok_or_else(|| {
                format!(
                    "vector elements {start} .. {} outside the vector memory",
                    start.saturating_add(n)
                )
            })
    }

    /// `v[dst + i] = f(v[a + i])` for `i < n`; returns the sum of the results.
    fn map1(
        &mut self,
        dst: i64,
        a: i64,
        n: usize,
        f: impl Fn(i64) -> Result<i64, Fault>,
    ) -> Result<i64, Fault> {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        for &x in self.slice(a, n)? {
            out.push(f(x as i64)?);
        }
        let sum = out.iter().sum();
        let stored = self.store(dst, &out);
        self.scratch = out;
        stored.map(|()| sum)
    }

    /// `v[dst + i] = f(v[a + i], v[b + i])` for `i < n`.
    fn map2(
        &mut self,
        dst: i64,
        a: i64,
        b: i64,
        n: usize,
        f: impl Fn(i64, i64) -> Result<i64, Fault>,
    ) -> Result<(), Fault> {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        for (&x, &y) in self.slice(a, n)?.iter().zip(self.slice(b, n)?) {
            out.push(f(x as i64, y as i64)?);
        }
        let stored = self.store(dst, &out);
        self.scratch = out;
        stored
    }

    /// The normalisations' buffers, `n` elements from `src` in the first and room for as many
    /// results in the second; [`Iss::give_back`] returns them.
    fn norm_buffers(&mut self, src: i64, n: usize) -> Result<(Vec<i64>, Vec<i32>), Fault> {
        let (mut values, mut out) = (
            std::mem::take(&mut self.norm_in),
            std::mem::take(&mut self.norm_out),
        );
        values.clear();
        values.extend(self.slice(src, n)?.iter().map(|&v| v as i64));
        out.clear();
        out.resize(n, 0);
        Ok((values, out))
    }

    /// Keep the normalisations' buffers for the next one.
    fn give_back(&mut self, (values, out): (Vec<i64>, Vec<i32>)) {
        (self.norm_in, self.norm_out) = (values, out);
    }

    /// Store `values` from element `start`; each must fit the elements of the memory it goes to.
    fn store(&mut self, start: i64, values: &[i64]) -> Result<(), Fault> {
        let n = values.len();
        if n == 0 {
            return Ok(());
        }
        let start = address(start)?;
        let memory = self
            .target
            .memory_of(start..start.saturating_add(n))
            .ok_or_else(|| {
                format!(
                    "vector elements {start} .. {} do not lie in one memory",
                    start.saturating_add(n)
                )
            })?;
        let unfit = if memory.holds_all(values) {
            None
        } else {
            values.iter().find(|&&v| !memory.holds(v))
        };
        if let Some(v) = unfit {
            return Err(format!(
                "result {v} does not fit the {}-bit elements of the {} memory",
                memory.bits(),
                memory.name()
            ));
        }
        for (o, &v) in self.vector[start..start + n].iter_mut().zip(values) {
            *o = v as i32;
        }
        Ok(())
    }

    fn store32(&mut self, start: i64, values: &[i32]) -> Result<(), Fault> {
        let mut wide = std::mem::take(&mut self.scratch);
        wide.clear();
        wide.extend(values.iter().map(|&v| v as i64));
        let stored = self.store(start, &wide);
        self.scratch = wide;
        stored
    }

    /// Store at `dst` the results that `fill` leaves in `buffers.out` (cleared before): every
    /// other buffer of [`Buffers`] is `fill`'s to use, and all of them are kept for the next
    /// instruction.
    fn produce(
        &mut self,
        dst: i64,
        fill: impl FnOnce(&Iss, &mut Buffers) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        let mut buffers = std::mem::take(&mut self.buffers);
        buffers.out.clear();
        let done = fill(self, &mut buffers).and_then(|()| self.store(dst, &buffers.out));
        self.buffers = buffers;
        done
    }

    /// The bytes of `count` matrix words from `start`.
    fn words(&self, start: i64, count: usize) -> Result<&[i8], Fault> {
        let lanes = self.target.lanes;
        let start = address(start)?;
        self.matrix
            .get(start.saturating_mul(lanes)..start.saturating_add(count).saturating_mul(lanes))
            .ok_or_else(|| {
                format!(
                    "matrix words {start} .. {} outside the matrix memory",
                    start.saturating_add(count)
                )
            })
    }

    /// Byte `lane` of matrix word `word`.
    fn matrix_at(&self, word: usize, lane: usize) -> Result<i8, Fault> {
        self.matrix
            .get(word.saturating_mul(self.target.lanes).saturating_add(lane))
            .copied()
            .ok_or_else(|| format!("matrix word {word} outside the matrix memory"))
    }

    fn matrix_set(&mut self, word: usize, lane: usize, value: i8) -> Result<(), Fault> {
        let lanes = self.target.lanes;
        *self
            .matrix
            .get_mut(word.saturating_mul(lanes).saturating_add(lane))
            .ok_or_else(|| format!("matrix word {word} outside the matrix memory"))? = value;
        Ok(())
    }

    /// Execute one operation at position `pos`.
    fn execute(&mut self, op: &Op, pos: usize) -> Result<(), Fault> {
        let lanes = self.target.lanes;
        let n = |raw: i64| length(raw, pos);
        match *op {
            Op::Nop { .. } | Op::End { .. } => {}
            Op::Li { dst, imm } => self.set(dst, imm)?,
            // (Operands of 48 bits: no i64 arithmetic overflows; `set` refuses a result wider
            // than a register.)
            Op::Addi { dst, a, imm } => self.set(dst, self.reg(a) + imm)?,
            Op::Add { dst, a, b } => self.set(dst, self.reg(a) + self.reg(b))?,
            Op::Sub { dst, a, b } => self.set(dst, self.reg(a) - self.reg(b))?,
            Op::Max { dst, a, b } => self.set(dst, self.reg(a).max(self.reg(b)))?,
            Op::Shri { dst, a, imm } => self.set(dst, self.reg(a) >> imm)?,
            Op::Andi { dst, a, imm } => self.set(dst, self.reg(a) & imm)?,
            Op::Muli { dst, a, imm } => {
                self.set(dst, multiplicand(self.reg(a))? * multiplicand(imm)?)?
            }
            Op::Rsqrt { mant, exp, a } | Op::Recip { mant, exp, a } => {
                let x = u64::try_from(self.reg(a)).map_err(|_| "negative operand".to_string())?;
                let r = if matches!(op, Op::Rsqrt { .. }) {
                    rsqrt(x)
                } else {
                    recip(x)
                };
                self.set(mant, r.mant as i64)?;
                self.set(exp, r.exp as i64)?;
            }
            Op::Matvec {
                dst,
                w,
                wreg,
                x,
                rows,
                cols,
            } => {
                let (rows, cols) = (n(rows), cols as usize);
                self.produce(dst, |iss, b| {
                    // The input memory holds int8 values only, so each product fits 16 bits
                    // (the loops below then take a 16-bit multiply, which every x86-64 has in
                    // SIMD).
                    int16s(iss.slice(x, cols)?, &mut b.xs)?;
                    let words = iss.words(
                        checked(w.checked_add(iss.reg(wreg)))?,
                        rows.div_ceil(lanes) * cols,
                    )?;
                    // Lane i of block k accumulates row k * lanes + i, one word per column.
                    b.out.resize(rows, 0);
                    b.acc.resize(lanes, 0);
                    for (k, block) in b.out.chunks_mut(lanes).enumerate() {
                        b.acc.fill(0);
                        for (j, &xj) in b.xs.iter().enumerate() {
                            let word = &words[(k * cols + j) * lanes..][..lanes];
                            for (a, &wv) in b.acc.iter_mut().zip(word) {
                                *a += (wv as i16 * xj) as i32;
                            }
                        }
                        for (o, &a) in block.iter_mut().zip(&b.acc) {
                            *o = a as i64;
                        }
                    }
                    Ok(())
                })?;
            }
            Op::Dotv {
                dst,
                w,
                wreg,
                x,
                rows,
                cols,
            } => {
                let (rows, cols) = (n(rows), cols as usize);
                self.produce(dst, |iss, b| {
                    int16s(iss.slice(x, rows)?, &mut b.xs)?;
                    let words = iss.words(
                        checked(w.checked_add(iss.reg(wreg)))?,
                        rows.div_ceil(lanes) * cols,
                    )?;
                    // Column j: each block's word times the block of x, lanes summed.
                    b.out.resize(cols, 0);
                    for (k, xb) in b.xs.chunks(lanes).enumerate() {
                        for (j, o) in b.out.iter_mut().enumerate() {
                            let word = &words[(k * cols + j) * lanes..][..xb.len()];
                            let dot: i32 = word
                                .iter()
                                .zip(xb)
                                .map(|(&wv, &xv)| (wv as i16 * xv) as i32)
                                .sum();
                            *o += dot as i64;
                        }
                    }
                    Ok(())
                })?;
            }
            Op::Mload { dst, src, n: len } => self.produce(dst, |iss, b| {
                for i in 0..n(len) {
                    b.out
                        .push(iss.matrix_at(src as usize + i / lanes, i % lanes)? as i64);
                }
                Ok(())
            })?,
            Op::Norm {
                dst,
                src,
                n: len,
                bits,
                ein,
                eout,
                mag,
            } => {
                let (values, mut out) = self.norm_buffers(src, n(len))?;
                let (ein, bits) = (exponent(self.reg(ein))?, width(bits)?);
                let exp = if mag == 0 {
                    normalize(&values, ein, bits, &mut out)
                } else {
                    let given = self.magnitude_register(mag)?;
                    let found = magnitude(values.iter().copied());
                    if bit_length(found) > bit_length(given) {
                        return Err(format!(
                            "norm's mag=r{mag} holds {given}, of a shorter bit length than its \
                             input's largest magnitude ({found}): the normalisation would not fit"
                        ));
                    }
                    normalize_by(&values, ein, bits, given, &mut out)
                };
                self.store32(dst, &out)?;
                self.give_back((values, out));
                self.set(eout, exp as i64)?;
            }
            Op::Normg {
                dst,
                src,
                n: len,
                exps,
                bits,
                eout,
                max,
                top,
            } => {
                let (values, mut out) = self.norm_buffers(src, n(len))?;
                let mut element_exps = std::mem::take(&mut self.buffers.exps);
                element_exps.clear();
                for &e in self.slice(exps, values.len())? {
                    element_exps.push(exponent(e as i64)?);
                }
                let bits = width(bits)?;
                let exp = if top == 0 {
                    Ok(normalize_grouped(&values, &element_exps, 1, bits, &mut out))
                } else {
                    let given = exponent(self.reg(top))?;
                    match grouped_top(&values, &element_exps, 1) {
                        Some(found) if found > given => Err(format!(
                            "normg's top=r{top} holds {given}, below the top bit of its largest \
                             value ({found}): the normalisation would not fit"
                        )),
                        _ => Ok(normalize_grouped_by(
                            &values,
                            &element_exps,
                            1,
                            bits,
                            given,
                            &mut out,
                        )),
                    }
                };
                self.buffers.exps = element_exps;
                let exp = exp?;
                self.store32(dst, &out)?;
                let largest = out.iter().max().copied().unwrap_or(0) as i64;
                self.give_back((values, out));
                self.set(eout, exp as i64)?;
                self.set(max, largest)?;
            }
            Op::Mul {
                dst,
                a,
                b,
                n: len,
                mag,
                sh,
            } => {
                let sh = sh as i32;
                self.map2(dst, a, b, n(len), |p, q| {
                    Ok(multiplicand(shift_round(p, sh))? * multiplicand(q)?)
                })?;
                self.set_magnitude(mag, dst, n(len))?;
            }
            Op::Muls {
                dst,
                a,
                n: len,
                s,
                mag,
            } => {
                let k = multiplicand(self.reg(s))?;
                self.map1(dst, a, n(len), |v| Ok(multiplicand(v)? * k))?;
                self.set_magnitude(mag, dst, n(len))?;
            }
            Op::Addalign {
                dst,
                a,
                b,
                n: len,
                ea,
                eb,
                eout,
                mag,
            } => {
                let (ea, eb) = (exponent(self.reg(ea))?, exponent(self.reg(eb))?);
                let e = residual_exponent(ea, eb);
                self.map2(dst, a, b, n(len), |p, q| {
                    Ok(shift_round(p, e - ea) + shift_round(q, e - eb))
                })?;
                self.set(eout, e as i64)?;
                self.set_magnitude(mag, dst, n(len))?;
            }
            Op::Rope {
                dst,
                src,
                cs,
                n: len,
                mag,
            } => {
                let len = n(len);
                self.produce(dst, |iss, b| {
                    let (x, cs) = (iss.slice(src, len)?, iss.slice(cs, len)?);
                    for (x, cs) in x.chunks(2).zip(cs.chunks(2)) {
                        let (x0, x1) = (multiplicand(x[0] as i64)?, multiplicand(x[1] as i64)?);
                        let (cos, sin) = (multiplicand(cs[0] as i64)?, multiplicand(cs[1] as i64)?);
                        b.out.push(x0 * cos - x1 * sin);
                        b.out.push(x0 * sin + x1 * cos);
                    }
                    Ok(())
                })?;
                self.set_magnitude(mag, dst, len)?;
            }
            Op::Sincos { dst, src, n: len } => self.produce(dst, |iss, b| {
                for (i, &step) in iss.slice(src, n(len))?.iter().enumerate() {
                    let (sin, cos) = sin_cos_q14(rope_phase(pos, step as u32));
                    b.out.push(if i % 2 == 0 { cos } else { sin });
                }
                Ok(())
            })?,
            Op::Fill { dst, n: len, s } => {
                let k = self.reg(s);
                self.produce(dst, |_, b| {
                    b.out.resize(n(len), k);
                    Ok(())
                })?;
            }
            Op::Silu {
                dst,
                src,
                n: len,
                e,
                mag,
            } => {
                let shift = -(exponent(self.reg(e))? + SIGMOID_INPUT_FRACTION_BITS as i32);
                self.map1(dst, src, n(len), |m| {
                    Ok(multiplicand(m)? * sigmoid_q14(shift_round(m, shift)))
                })?;
                self.set_magnitude(mag, dst, n(len))?;
            }
            Op::Expneg {
                dst,
                src,
                n: len,
                max,
                mant,
                shift,
                sum,
            } => {
                let (max, shift) = (scalar32(self.reg(max))?, exponent(self.reg(shift))?);
                let total = self.map1(dst, src, n(len), |s| {
                    let u = -shift_round(multiplicand(s - max)? * mant, shift);
                    if u < 0 {
                        return Err(format!(
                            "expneg of {s}: (value - max) * mant is positive (max {max}, mant {mant})"
                        ));
                    }
                    Ok(exp2_neg_q15(u.min(EXP2_INPUT_LIMIT)))
                })?;
                self.set(sum, total)?;
            }
            Op::Shrv {
                dst,
                a,
                b,
                n: len,
                s,
                mag,
            } => {
                let k = exponent(self.reg(s))?;
                self.map2(dst, a, b, n(len), |p, q| {
                    Ok(shift_round(p, exponent(k as i64 - q)?))
                })?;
                self.set_magnitude(mag, dst, n(len))?;
            }
            Op::Addsv { dst, a, n: len, s } => {
                let k = scalar32(self.reg(s))?;
                self.map1(dst, a, n(len), |v| Ok(v + k))?;
            }
            Op::Sumsq { dst, src, n: len } => {
                let mut total = 0i64;
                for &m in self.slice(src, n(len))? {
                    let m = multiplicand(m as i64)?;
                    total += m * m;
                }
                self.set(dst, total)?;
            }
            Op::Sum { dst, src, n: len } => {
                let v = self.slice(src, n(len))?.iter().map(|&x| x as i64).sum();
                self.set(dst, v)?;
            }
            Op::Vmax { dst, src, n: len } => {
                let v = self.slice(src, n(len))?.iter().max().copied().unwrap_or(0);
                self.set(dst, v as i64)?;
            }
            Op::Argmax { dst, src, n: len } => {
                let v = argmax(self.slice(src, n(len))?);
                self.set(dst, v as i64)?;
            }
            Op::Onehot { dst, n: len, idx } => {
                let k = self.reg(idx);
                self.produce(dst, |_, b| {
                    b.out.extend((0..n(len) as i64).map(|i| i64::from(i == k)));
                    Ok(())
                })?;
            }
            Op::Getv { dst, src, idx } => {
                let at = address(checked(src.checked_add(self.reg(idx)))?)?;
                check_element(&self.target, Role::VxuRead, at)?;
                let v = self.vector[at];
                self.set(dst, v as i64)?;
            }
            Op::Setv { dst, idx, src } => {
                let at = address(checked(dst.checked_add(self.reg(idx)))?)?;
                check_element(&self.target, Role::VxuWrite, at)?;
                let v = self.reg(src);
                self.store(at as i64, &[v])?;
            }
            Op::Kvstore { dst, src, n: len } => {
                let len = len as usize;
                self.slice(src, len)?;
                let src = src as usize;
                for d in 0..len {
                    let v = int8(self.vector[src + d])?;
                    self.matrix_set(dst as usize + (pos / lanes) * len + d, pos % lanes, v)?;
                }
            }
            Op::Kvexp { dst, src } => {
                let v = cache_exponent(self.reg(src));
                self.matrix_set(dst as usize + pos / lanes, pos % lanes, v)?;
            }
            Op::Copy { dst, src, n: len } => self.produce(dst, |iss, b| {
                b.out
                    .extend(iss.slice(src, n(len))?.iter().map(|&v| v as i64));
                Ok(())
            })?,
        }
        Ok(())
    }
}

impl Machine for Iss {
    fn record_values(&mut self, on: bool) {
        self.recording.all(on);
    }

    fn record_only(&mut self, steps: &[ModelStep]) {
        self.recording.only(steps);
    }

    fn step(&mut self, token: u32, pos: usize) -> Result<StepResult, MachineError> {
        let m = &self.bundle.manifest;
        check_request(m.model.vocab_size, m.context, token, pos)?;
        self.regs = [0; REGISTERS];
        self.regs[REG_POS as usize] = pos as i64;
        self.regs[REG_TOKEN as usize] = token as i64;
        let target = self.target.clone();
        let mut clock = Clock::new(&target, pos);
        let mut values = Vec::new();
        let mut next = None;
        let mut cycles = 0;
        for index in 0..self.bundle.program.len() {
            let instr = self.bundle.program[index];
            let fault = |message: String| MachineError::Fault {
                index,
                text: instr.to_string(),
                pos,
                message,
                other: None,
            };
            let c = match self.fixed[index] {
                Some(c) => c,
                None => {
                    self.step_accesses[index] = instr.op.accesses_on(&target, pos);
                    cost(&instr.op, &target, pos)
                }
            };
            let issued = clock
                .issue_costed(&instr, c)
                .map_err(|d| fault(d.message))?;
            self.step_times[index] = (issued.issue, issued.complete);
            let mine = &self.step_accesses[index];
            for candidate in &self.candidates[index] {
                let other = candidate.index as usize;
                let (issue, complete) = self.step_times[other];
                if complete <= issued.issue {
                    continue;
                }
                let earlier = self.bundle.program[other];
                let chain = match candidate.fixed_chain {
                    Some(chain) => chain,
                    None => {
                        let theirs = &self.step_accesses[other];
                        if !theirs.conflicts(mine) {
                            continue;
                        }
                        // The vector unit chains a stream to the streams before it.
                        chain_verdict(&earlier.op, theirs, &instr.op, mine, &target, pos)
                    }
                };
                match chain {
                    Some(distance) if issued.issue >= issue + distance => {}
                    Some(distance) => {
                        return Err(fault(format!(
                            "hazard: issues at cycle {}, {} cycles after instruction {other} \
                             (`{earlier}`), whose results it reads; the vector unit chains the \
                             two {distance} cycles apart at the least",
                            issued.issue,
                            issued.issue - issue
                        )))
                    }
                    None => {
                        // Where the two would not clash if the register-indexed reach were
                        // its base alone, the check's rule for it is the cause: said so.
                        let at_base = |op: &Op| op.accesses(target.lanes, pos, 1);
                        let indexed = [&instr, &earlier]
                            .into_iter()
                            .find(|i| i.op.indexed_by_register())
                            .filter(|_| !at_base(&instr.op).conflicts(&at_base(&earlier.op)))
                            .map(|i| {
                                format!(
                                    " (`{}` addresses by a register, which the check takes as \
                                     reaching every element or word from its base)",
                                    i.op.spec().mnemonic
                                )
                            })
                            .unwrap_or_default();
                        let message = format!(
                            "hazard: issues at cycle {} while instruction {other} (`{earlier}`), \
                             which touches the same data{indexed}, is still running",
                            issued.issue
                        );
                        return Err(MachineError::Fault {
                            index,
                            text: instr.to_string(),
                            pos,
                            message,
                            other: Some(other),
                        });
                    }
                }
            }
            if !self.prechecked[index] {
                instr.op.check(&target, pos).map_err(|e| fault(e.message))?;
            }
            // The sequencer stops a step whose `end` has not issued by the step limit's last
            // cycle, as the RTL does (the host port answers STEP with an error).
            if stopped_at_step_limit(issued.issue + 1) {
                return Err(fault(format!(
                    "the step reaches the step limit of {STEP_LIMIT_CYCLES} cycles before its \
                     `end` (this instruction issues at cycle {}): the core would stop it, and \
                     its host port answer the STEP with an error",
                    issued.issue
                )));
            }
            self.execute(&instr.op, pos).map_err(fault)?;
            cycles = issued.complete;
            if self.recording.on {
                for &c in self.recording.after(index) {
                    let spec = &self.bundle.manifest.checkpoints[c];
                    let step = self.recording.step(c);
                    if !self.recording.wants(step) {
                        continue;
                    }
                    let mut mant = Vec::new();
                    let mut exps = Vec::new();
                    for part in &spec.parts {
                        match part.vector {
                            Some(v) => {
                                mant.extend_from_slice(
                                    self.slice(v as i64, part.len as usize).map_err(&fault)?,
                                );
                                exps.push(self.regs[part.register as usize] as i32);
                            }
                            None => mant.push(self.regs[part.register as usize] as i32),
                        }
                    }
                    values.push(StepValues {
                        step,
                        layer: spec.layer,
                        mant,
                        exps,
                    });
                }
            }
            // The step ends at its first `end`, as the sequencer goes idle there: what follows
            // it never issues.
            if let Op::End { token } = instr.op {
                let vocab_size = self.bundle.manifest.model.vocab_size;
                next = Some(check_answer(vocab_size, self.reg(token)).map_err(fault)?);
                break;
            }
        }
        let next = next.ok_or_else(|| MachineError::Input("the program has no `end`".into()))?;
        Ok(StepResult {
            next,
            cycles,
            values,
        })
    }
}
