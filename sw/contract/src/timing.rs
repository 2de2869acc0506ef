//! The timing of the core: what each instruction costs, and when the sequencer issues it.
//!
//! Every instruction has a fixed cost given the target and the position (lengths may follow the
//! position, nothing follows the data): its *occupancy* (cycles its unit cannot accept another
//! instruction) and its *latency* (cycles until its results are written). The sequencer issues
//! one instruction per cycle, in order; an instruction issues when its unit is free and its wait
//! (if any) is satisfied. A unit's completions are in order. So the cycles of a token step are a
//! function of the position only, and [`Clock`] computes them: the compiler to predict, the
//! instruction-set simulator to count, the RTL to match.

use crate::isa::{length, Access, Instr, Op, Unit};
use crate::target::{Core, Target};

/// Cycles from a matrix-unit instruction's issue to the first write of its last result block,
/// counted from the last issue-relative read: the issue register, the decode register (the
/// front end's, which holds the matrix-memory address, so that no decode reaches a block RAM's
/// address in the cycle it is made), matrix-memory read and output register, multiply,
/// accumulate, and two stages that line `matvec` and `mload` up with `dotv`'s two-stage adder
/// tree. Every matrix-unit result then drains `lanes / vector_lanes` words, one per cycle.
pub const MXU_PIPELINE_CYCLES: u64 = 8;
/// Stages of the vector unit from issue to the write of a result: the issue register, the decode
/// register (the front end's, so that no decode reaches a memory address in the cycle it is
/// made), memory read, operand register, five execution stages (E1 to E5: shift, round and table
/// address, saturation and second product, add, write). Every streamed operation takes all of
/// them, so writes leave in the order of the reads and never contend.
pub const VXU_PIPELINE_CYCLES: u64 = 9;
/// Latency of a scalar operation (and of `muli`): operands registered at issue, the result
/// registered, then written.
pub const SXU_CYCLES: u64 = 3;
/// Latency of a scalar table operation (`rsqrt`, `recip`): the leading one, then the table index
/// (a shift by it), then the table entry written, a register stage each.
pub const SXU_TABLE_CYCLES: u64 = 4;
/// Cycles a scalar table operation holds the unit: until no later operation's write can meet
/// its own.
pub const SXU_TABLE_OCCUPANCY: u64 = SXU_TABLE_CYCLES - SXU_CYCLES + 1;

/// The most instructions of one unit that can still be running when another of that unit
/// issues, on `target`. A unit's next instruction issues once the previous one's occupancy is
/// over, so instructions overlap by their latency beyond their occupancy: at most
/// [`VXU_PIPELINE_CYCLES`] plus the reduction tree's `log2(V)` levels on the vector unit, whose
/// shortest occupancy is a cycle; the matrix unit's [`MXU_PIPELINE_CYCLES`] beyond a drain that
/// its occupancy also covers, and the scalar unit's few cycles, overlap less. The compiled models
/// keep at most 5 running.
pub fn most_running(target: &Target) -> usize {
    most_running_at(target.vector_lanes)
}

/// [`most_running`] with `vector_lanes` vector lanes.
pub(crate) fn most_running_at(vector_lanes: usize) -> usize {
    VXU_PIPELINE_CYCLES as usize + vector_lanes.trailing_zeros() as usize
}

/// The completion times the sequencer keeps per unit (a ring) on `target`: more than
/// [`most_running`], so a wait never names an instruction that has left the ring while it
/// runs. A power of two, at least 16 (a distributed RAM's depth): 16 up to 64 vector lanes,
/// 32 beyond, two 16-deep distributed RAMs.
pub fn completion_ring(target: &Target) -> usize {
    completion_ring_at(target.vector_lanes)
}

/// [`completion_ring`] with `vector_lanes` vector lanes.
pub(crate) fn completion_ring_at(vector_lanes: usize) -> usize {
    (most_running_at(vector_lanes) + 1)
        .next_power_of_two()
        .max(16)
}

/// The step limit: a token step that has not ended after this many cycles (a
/// program without its `end`, or waiting for a completion that never comes, as only a damaged
/// or partly loaded program can) is stopped by the sequencer, and the host port answers the
/// STEP with an error (0.67 s at 100 MHz, 2.5 s at 27 MHz). The compiler refuses a program
/// whose step would take as long or longer; the compiled models take at most a few hundredths of it.
pub const STEP_LIMIT_CYCLES: u64 = 1 << 26;

/// Whether the sequencer stops a step that has run `cycles` cycles (an instruction issuing at
/// cycle `t` has run `t + 1`; a whole step the completion of its `end`): at the limit's last
/// cycle nothing more issues.
pub fn stopped_at_step_limit(cycles: u64) -> bool {
    cycles >= STEP_LIMIT_CYCLES
}

/// What an instruction costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cost {
    /// Cycles its unit is busy (cannot issue another instruction).
    pub occupancy: u64,
    /// Cycles from issue until its results are written.
    pub latency: u64,
}

fn log2(n: usize) -> u64 {
    n.trailing_zeros() as u64
}

/// How an instruction's cost follows from its fields: the one definition of the timing, which
/// [`cost`] evaluates and the RTL generator turns into the sequencer's cost logic. Fields are
/// named as in the instruction table; `c(start, n)` is the number of vector-space words that `n`
/// elements from `start` touch, `b(n) = ceil(n / L)`, `D = L / V` (the words of one matrix-unit
/// result block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostRule {
    /// The sequencer idles `max(1, cycles)` cycles.
    Idle {
        /// The field with the cycle count.
        cycles: &'static str,
    },
    /// Issues once every unit has completed; the step ends a cycle later.
    End,
    /// A fixed occupancy and latency.
    Fixed {
        /// Occupancy.
        occupancy: u64,
        /// Latency.
        latency: u64,
    },
    /// A streamed vector instruction.
    Vector(Stream),
    /// One element through the vector pipeline: occupancy 1, latency 1 +
    /// [`VXU_PIPELINE_CYCLES`], plus `log2(V)` when it leaves through the reduction tree into a
    /// register.
    Element {
        /// Whether a register result leaves through the reduction tree.
        reduce: bool,
    },
    /// A matrix-unit instruction: occupancy `b(rows) * max(cols, D)` (`cols` absent: `D`), plus
    /// `D` when an x block loads first; latency occupancy + [`MXU_PIPELINE_CYCLES`] + `D`.
    Matrix {
        /// The row (or element) count field.
        rows: &'static str,
        /// The column count field.
        cols: Option<&'static str>,
        /// Whether an x block of `L` elements loads before the first row block (`dotv`).
        x_block: bool,
    },
    /// A read-modify-write of matrix words: occupancy `2 * n` (`n` a field, or one word),
    /// latency occupancy + [`VXU_PIPELINE_CYCLES`].
    MatrixStore {
        /// The word count field (none: one word).
        n: Option<&'static str>,
    },
}

/// A streamed vector instruction: occupancy `passes * c(start, n) * pace + gap` (at least one),
/// latency occupancy + [`VXU_PIPELINE_CYCLES`], plus `log2(V)` through the reduction tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stream {
    /// The field of the operand whose lane the stream starts in.
    pub start: &'static str,
    /// The length field.
    pub n: &'static str,
    /// Cycles per word: 1, or `V / 2` for two elements a cycle.
    pub pace: Pace,
    /// Passes over the operands (2 for the normalisations, which stream at least one word a
    /// pass).
    pub passes: u64,
    /// Whether `log2(V) + 1` cycles separate the passes (the normalisations' tree and shift).
    pub gap: bool,
    /// Whether a register result leaves through the reduction tree.
    pub reduce: bool,
    /// The register field of a magnitude (`isa`'s *Magnitudes*), or of `normg`'s top bit (a
    /// bound that stands for the magnitude its first pass would find), if it has one: when it
    /// names a register (not `r0`), [`Stream::with_magnitude`].
    pub magnitude_field: Option<&'static str>,
}

/// What a stream does with the magnitude register its `magnitude_field` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MagnitudeRole {
    /// A normalisation reads it at issue: its shift, so the search pass and the gap go.
    Reads,
    /// A producer writes its results' magnitude to it, through the reduction tree.
    Writes,
}

impl Stream {
    /// What it does with a magnitude register, if it has a field for one: a normalisation (two
    /// passes) reads it, any other stream writes it.
    pub fn magnitude_role(self) -> Option<MagnitudeRole> {
        self.magnitude_field.map(|_| {
            if self.passes == 2 {
                MagnitudeRole::Reads
            } else {
                MagnitudeRole::Writes
            }
        })
    }

    /// The stream with its magnitude register named ([`Stream::magnitude_role`]).
    pub fn with_magnitude(self) -> Stream {
        match self.magnitude_role() {
            Some(MagnitudeRole::Reads) => Stream {
                passes: 1,
                gap: false,
                ..self
            },
            Some(MagnitudeRole::Writes) => Stream {
                reduce: true,
                ..self
            },
            None => self,
        }
    }

    /// The stream `op` makes as issued: this rule, [`Stream::with_magnitude`] where `op` names
    /// a magnitude register.
    pub fn as_issued(self, op: &Op) -> Stream {
        match self.magnitude_field {
            Some(f) if field(op, f) != 0 => self.with_magnitude(),
            _ => self,
        }
    }
}

/// Cycles per vector-space word of a streamed instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// A word per cycle.
    Word,
    /// Two elements per cycle (`V / 2` cycles per word): `sincos`'s two sine-table reads.
    Pairs,
}

/// The cost rule of an operation.
pub fn rule(op: &Op) -> CostRule {
    use CostRule::*;
    let stream = |start, n| Stream {
        start,
        n,
        pace: Pace::Word,
        passes: 1,
        gap: false,
        reduce: false,
        magnitude_field: None,
    };
    let vector = |start, n| Vector(stream(start, n));
    let producer = |start, n| {
        Vector(Stream {
            magnitude_field: Some("mag"),
            ..stream(start, n)
        })
    };
    let reduce = |start, n| {
        Vector(Stream {
            reduce: true,
            ..stream(start, n)
        })
    };
    match op {
        Op::Nop { .. } => Idle { cycles: "cycles" },
        Op::End { .. } => End,
        Op::Rsqrt { .. } | Op::Recip { .. } => Fixed {
            occupancy: SXU_TABLE_OCCUPANCY,
            latency: SXU_TABLE_CYCLES,
        },
        Op::Muli { .. }
        | Op::Li { .. }
        | Op::Addi { .. }
        | Op::Add { .. }
        | Op::Sub { .. }
        | Op::Max { .. }
        | Op::Shri { .. }
        | Op::Andi { .. } => Fixed {
            occupancy: 1,
            latency: SXU_CYCLES,
        },
        // Each block's results drain while the next block streams.
        Op::Matvec { .. } => Matrix {
            rows: "rows",
            cols: Some("cols"),
            x_block: false,
        },
        // The x block of the next row block loads while the current one streams.
        Op::Dotv { .. } => Matrix {
            rows: "rows",
            cols: Some("cols"),
            x_block: true,
        },
        Op::Mload { .. } => Matrix {
            rows: "n",
            cols: None,
            x_block: false,
        },
        // A max-abs pass, its tree and the shift, then the shifting pass; or, with the
        // magnitude in a register, the shifting pass alone. Its exponent is written with its
        // last slot; normg's largest mantissa leaves through the reduction tree.
        Op::Norm { .. } => Vector(Stream {
            passes: 2,
            gap: true,
            magnitude_field: Some("mag"),
            ..stream("src", "n")
        }),
        Op::Normg { .. } => Vector(Stream {
            passes: 2,
            gap: true,
            reduce: true,
            magnitude_field: Some("top"),
            ..stream("src", "n")
        }),
        Op::Sincos { .. } => Vector(Stream {
            pace: Pace::Pairs,
            ..stream("src", "n")
        }),
        Op::Mul { .. } | Op::Muls { .. } | Op::Addalign { .. } | Op::Shrv { .. } => {
            producer("a", "n")
        }
        Op::Addsv { .. } => vector("a", "n"),
        Op::Rope { .. } | Op::Silu { .. } => producer("src", "n"),
        Op::Copy { .. } => vector("src", "n"),
        Op::Onehot { .. } | Op::Fill { .. } => vector("dst", "n"),
        Op::Sumsq { .. } | Op::Sum { .. } | Op::Vmax { .. } | Op::Argmax { .. } => {
            reduce("src", "n")
        }
        Op::Expneg { .. } => reduce("src", "n"),
        Op::Getv { .. } => Element { reduce: true },
        Op::Setv { .. } => Element { reduce: false },
        Op::Kvexp { .. } => MatrixStore { n: None },
        Op::Kvstore { .. } => MatrixStore { n: Some("n") },
    }
}

/// The value of field `name` of `op`. The scheduler evaluates the rules millions of times per
/// compilation and the simulators for every instruction of every step, so the names are
/// compared by address first (the rules and the instruction table spell them with the same
/// literals, which an optimised build merges), then byte by byte without a call to `memcmp`.
fn field(op: &Op, name: &str) -> i64 {
    let spec = op.spec();
    let same = |f: &&str| {
        std::ptr::eq(*f, name)
            || (f.len() == name.len() && f.bytes().zip(name.bytes()).all(|(a, b)| a == b))
    };
    let i = spec
        .fields
        .iter()
        .position(|f| same(&f.name))
        .unwrap_or_else(|| panic!("{} has no field {name}", spec.mnemonic));
    op.value(i)
}

/// The cost of `op` on `target` at position `pos`: its [`rule`], evaluated.
///
/// A vector instruction streams its operands a memory word (`vector_lanes` elements) per cycle:
/// `c(n)` is the number of words its `n` elements touch, which depends on the lane it starts in.
/// The matrix unit streams a matrix word per cycle and moves its `lanes` results to the
/// accumulator memory `lanes / vector_lanes` words at a time.
///
/// On the small core ([`Core::Small`]) an instruction runs alone from its dispatch to the next
/// one's: its occupancy and latency are its routine's cycles ([`crate::micro::cycles`]).
pub fn cost(op: &Op, target: &Target, pos: usize) -> Cost {
    if target.core == Core::Small {
        let c = crate::micro::cycles(op, target.lanes, pos);
        return Cost {
            occupancy: c,
            latency: c,
        };
    }
    let lanes = target.lanes;
    let v = target.vector_lanes;
    let log_v = log2(v);
    // Cycles to move one block of `lanes` results to or from the vector space.
    let drain = (lanes / v) as u64;
    match rule(op) {
        CostRule::Idle { cycles } => {
            let c = (field(op, cycles) as u64).max(1);
            Cost {
                occupancy: c,
                latency: c,
            }
        }
        CostRule::End => Cost {
            occupancy: 1,
            latency: 1,
        },
        CostRule::Fixed { occupancy, latency } => Cost { occupancy, latency },
        CostRule::Vector(stream) => {
            let Stream {
                start,
                n,
                pace,
                passes,
                gap,
                reduce,
                ..
            } = stream.as_issued(op);
            let per_word = match pace {
                Pace::Word => 1,
                Pace::Pairs => (v as u64).div_ceil(2),
            };
            let c = pass_words(op, start, n, passes, target, pos) * per_word;
            let occupancy = (passes * c + if gap { pass_gap_cycles(v) } else { 0 }).max(1);
            Cost {
                occupancy,
                latency: occupancy + VXU_PIPELINE_CYCLES + if reduce { log_v } else { 0 },
            }
        }
        CostRule::Element { reduce } => Cost {
            occupancy: 1,
            latency: 1 + VXU_PIPELINE_CYCLES + if reduce { log_v } else { 0 },
        },
        CostRule::Matrix {
            rows,
            cols,
            x_block,
        } => {
            let blocks = length(field(op, rows), pos).div_ceil(lanes) as u64;
            let per_block = cols.map_or(drain, |c| (field(op, c) as u64).max(drain));
            let occupancy = (blocks * per_block).max(1) + if x_block { drain } else { 0 };
            Cost {
                occupancy,
                latency: occupancy + MXU_PIPELINE_CYCLES + drain,
            }
        }
        CostRule::MatrixStore { n } => {
            let words = n.map_or(1, |f| field(op, f) as u64).max(1);
            Cost {
                occupancy: 2 * words,
                latency: 2 * words + VXU_PIPELINE_CYCLES,
            }
        }
    }
}

/// Cycles between the two passes of a normalisation (a [`Stream`] with `gap`) on `vector_lanes`
/// lanes: the fast maximum tree's `log2(V)` levels and the register of the shift it gives.
pub fn pass_gap_cycles(vector_lanes: usize) -> u64 {
    log2(vector_lanes) + 1
}

/// Words of the vector space touched by `n` elements from element `start`, on `v` lanes.
fn words(start: i64, n: usize, v: usize) -> u64 {
    if n == 0 {
        0
    } else {
        ((start as usize % v) + n).div_ceil(v) as u64
    }
}

/// Words a pass of a streamed instruction streams: the words its elements touch (both passes of
/// a normalisation stream a word even over no elements).
fn pass_words(op: &Op, start: &str, n: &str, passes: u64, target: &Target, pos: usize) -> u64 {
    let c = words(
        field(op, start),
        length(field(op, n), pos),
        target.vector_lanes,
    );
    if passes == 2 {
        c.max(1)
    } else {
        c
    }
}

/// Cycles from the issue of a streamed vector instruction to the issue of a later one whose first
/// slot reads the word that the first one's first writing slot writes, at the least. Slot `i` of
/// a streamed instruction issued in cycle `t` presents its read addresses in cycle `t + 2 + i`
/// (after the issue and front-end registers) and writes its results at the end of cycle
/// `t + VXU_PIPELINE_CYCLES + i` (E5); every memory of the vector space reads at a clock edge and
/// returns what was written before it, so the read sees the write when its edge comes later.
pub const VXU_CHAIN_CYCLES: u64 = VXU_PIPELINE_CYCLES - 1;

/// The vector unit's *chaining*: how many cycles after the streamed vector instruction `producer`
/// issues the later streamed vector instruction `consumer` may issue and still read, in every
/// slot, the elements of the vector space that `producer` writes as written. Both stream their
/// operands in slots, a word of each operand per slot from the operand's first word, in one
/// pipeline; so a consumer that reads an operand starting `d` words after the producer's
/// destination may issue `VXU_CHAIN_CYCLES + d` cycles after the producer's first writing slot
/// (`d` may be negative). A normalisation that searches its input writes in its second pass
/// only, which starts `c(n) + log2(V) + 1` slots in; one given its magnitude, from its first. `Some(0)` when `consumer` reads nothing `producer` writes;
/// `None` when either is not streamed a word a cycle (`sincos`, the cache stores, `getv` and
/// `setv`), which then waits for the other's completion.
///
/// Writes after writes and writes after reads need no distance: a later instruction of the unit
/// issues after the earlier one's last slot, and every slot takes the same stages. Registers are
/// not chained: a register operand is read at issue, and a register result is written at
/// completion.
pub fn chain_distance(producer: &Op, consumer: &Op, target: &Target, pos: usize) -> Option<u64> {
    chain_distance_of(
        producer,
        &producer.accesses_on(target, pos),
        consumer,
        &consumer.accesses_on(target, pos),
        target,
        pos,
    )
}

/// [`chain_distance`] of two instructions whose accesses at `pos` are known (a simulator keeps
/// them).
pub fn chain_distance_of(
    producer: &Op,
    producer_access: &Access,
    consumer: &Op,
    consumer_access: &Access,
    target: &Target,
    pos: usize,
) -> Option<u64> {
    let (CostRule::Vector(made), CostRule::Vector(used)) = (rule(producer), rule(consumer)) else {
        return None;
    };
    let (made, used) = (made.as_issued(producer), used.as_issued(consumer));
    if made.pace != Pace::Word || used.pace != Pace::Word {
        return None;
    }
    let v = target.vector_lanes;
    // Slots before the first writing one: every pass but the last, and the gaps between them.
    let gap = if made.gap { pass_gap_cycles(v) } else { 0 };
    let write_slot = (made.passes - 1)
        * (pass_words(producer, made.start, made.n, made.passes, target, pos) + gap);
    let written = &producer_access.vector_writes;
    let read = &consumer_access.vector_reads;
    let word = |e: usize| (e / v) as i64;
    let mut distance = 0i64;
    for w in written.iter() {
        for r in read.iter().filter(|r| r.start < w.end && w.start < r.end) {
            let lead = word(r.start) - word(w.start);
            distance = distance.max((VXU_CHAIN_CYCLES + write_slot) as i64 + lead);
        }
    }
    Some(distance as u64)
}

/// When an instruction issued and completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Issued {
    /// Cycle of issue.
    pub issue: u64,
    /// Cycle at which its results are written (and its unit's completion count rises).
    pub complete: u64,
    /// Its unit.
    pub unit: Unit,
    /// Its 1-based index among its unit's instructions (0 for the sequencer).
    pub unit_index: u32,
}

/// A program whose wait cannot be satisfied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadlock {
    /// The waiting instruction's index.
    pub index: usize,
    /// What it waits for.
    pub message: String,
    /// Whether its `wait` field is at fault (a wait for what never issues), rather than the
    /// instruction as a whole.
    pub at_wait: bool,
}

/// The issue clock of one token step.
#[derive(Clone, Debug)]
pub struct Clock<'t> {
    target: &'t Target,
    pos: usize,
    next_issue: u64,
    unit_free: [u64; 3],
    completions: [Vec<u64>; 3],
    issued: usize,
}

impl<'t> Clock<'t> {
    /// A clock at cycle 0 of the token step at `pos`. (The small core issues its first
    /// instruction after [`crate::micro::START_CYCLES`], which clear the registers.)
    pub fn new(target: &'t Target, pos: usize) -> Clock<'t> {
        Clock {
            target,
            pos,
            next_issue: match target.core {
                Core::Small => crate::micro::START_CYCLES,
                Core::Wide => 0,
            },
            unit_free: [0; 3],
            completions: Default::default(),
            issued: 0,
        }
    }

    /// Issue the next instruction.
    pub fn issue(&mut self, instr: &Instr) -> Result<Issued, Deadlock> {
        let cost = cost(&instr.op, self.target, self.pos);
        self.issue_costed(instr, cost)
    }

    /// Issue the next instruction whose cost at this clock's position is already known (a
    /// simulator caches the costs that do not depend on the position).
    pub fn issue_costed(&mut self, instr: &Instr, cost: Cost) -> Result<Issued, Deadlock> {
        let index = self.issued;
        self.issued += 1;
        let unit = instr.op.spec().unit;
        let mut t = self.next_issue;
        if let Some(w) = instr.wait {
            let done = &self.completions[w.unit.slot().expect("waits name execution units")];
            let Some(&at) = done.get(w.count as usize - 1) else {
                return Err(Deadlock {
                    index,
                    at_wait: true,
                    message: format!(
                        "waits for {} instruction {} but only {} before it",
                        w.unit.name(),
                        w.count,
                        match done.len() {
                            1 => "1 was issued".to_string(),
                            n => format!("{n} were issued"),
                        }
                    ),
                });
            };
            t = t.max(at);
        }
        if self.target.core == Core::Small {
            // One instruction at a time: each issues when the one before it has finished, so
            // every wait is met.
            let complete = t + cost.latency;
            self.next_issue = complete;
            let unit_index = unit.slot().map_or(0, |s| {
                self.completions[s].push(complete);
                self.completions[s].len() as u32
            });
            return Ok(Issued {
                issue: t,
                complete,
                unit,
                unit_index,
            });
        }
        if let Op::End { .. } = instr.op {
            let last = self.completions.iter().filter_map(|c| c.last()).max();
            t = t.max(last.copied().unwrap_or(0));
        }
        match unit.slot() {
            Some(s) => {
                t = t.max(self.unit_free[s]);
                // The sequencer keeps the completion times of a unit's last `completion_ring`
                // instructions; an older one must have completed.
                let ring = completion_ring(self.target);
                let done = &self.completions[s];
                if done.len() >= ring && done[done.len() - ring] > t {
                    return Err(Deadlock {
                        index,
                        at_wait: false,
                        message: format!(
                            "issues at cycle {t} with {ring} {} instructions still running (the \
                             sequencer tracks at most {})",
                            unit.name(),
                            ring - 1
                        ),
                    });
                }
                self.unit_free[s] = t + cost.occupancy;
                let previous = self.completions[s].last().copied().unwrap_or(0);
                let complete = (t + cost.latency).max(previous);
                self.completions[s].push(complete);
                self.next_issue = t + 1;
                Ok(Issued {
                    issue: t,
                    complete,
                    unit,
                    unit_index: self.completions[s].len() as u32,
                })
            }
            None => {
                self.next_issue = t + cost.occupancy;
                Ok(Issued {
                    issue: t,
                    complete: t + cost.latency,
                    unit,
                    unit_index: 0,
                })
            }
        }
    }
}

/// Cycles of a whole token step at `pos`: the completion of its `end`.
pub fn token_cycles(program: &[Instr], target: &Target, pos: usize) -> Result<u64, Deadlock> {
    let mut clock = Clock::new(target, pos);
    let mut last = 0;
    for instr in program {
        last = clock.issue(instr)?.complete;
        // The sequencer goes idle at the step's first `end`: nothing after it issues.
        if matches!(instr.op, Op::End { .. }) {
            break;
        }
    }
    Ok(last)
}

/// The timing of each instruction in words, for the ISA manual, written from the same constants
/// as [`cost`] (which is the definition). `L` is `lanes`, `V` is `vector_lanes`, `c(n)` the
/// number of vector-space words that `n` elements from the instruction's first streamed operand
/// touch (`ceil((start mod V + n) / V)`), `b(n) = ceil(n / L)`.
pub fn describe(mnemonic: &str) -> String {
    let (mxu, vxu) = (MXU_PIPELINE_CYCLES, VXU_PIPELINE_CYCLES);
    match mnemonic {
        "nop" => "sequencer idle for `max(1, cycles)` cycles".into(),
        "end" => "issues once every unit has completed; the token step ends one cycle later".into(),
        "rsqrt" | "recip" => {
            format!("occupancy {SXU_TABLE_OCCUPANCY}, latency {SXU_TABLE_CYCLES}")
        }
        "matvec" => format!(
            "occupancy `b(rows) * max(cols, L/V)` (each block's results drain while the next streams), latency occupancy + {mxu} + L/V"
        ),
        "dotv" => format!(
            "occupancy `L/V + b(rows) * max(cols, L/V)` (the x block of the next row block loads meanwhile), latency occupancy + {mxu} + L/V"
        ),
        "mload" => format!("occupancy `b(n) * L/V`, latency occupancy + {mxu} + L/V"),
        "norm" => format!(
            "occupancy `2 c(n) + log2(V) + 1` (max-abs pass, its tree and the shift, shifting pass), or `c(n)` with `mag` (the shifting pass), latency occupancy + {vxu}"
        ),
        "normg" => format!(
            "occupancy `2 c(n) + log2(V) + 1` (max-abs pass, its tree and the shift, shifting pass), or `c(n)` with `top` (the shifting pass), latency occupancy + log2(V) + {vxu}"
        ),
        "mul" | "muls" | "addalign" | "silu" | "shrv" | "rope" => format!(
            "occupancy `c(n)`, latency occupancy + {vxu}, plus log2(V) with `mag` (the reduction tree)"
        ),
        "sumsq" | "sum" | "vmax" | "argmax" | "expneg" => {
            format!("occupancy `c(n)`, latency occupancy + log2(V) + {vxu} (the reduction tree)")
        }
        "sincos" => format!("occupancy `c(n) * V/2` (two table reads per cycle), latency occupancy + {vxu}"),
        "getv" => format!("occupancy 1, latency 1 + log2(V) + {vxu} (the reduction tree)"),
        "setv" => format!("occupancy 1, latency {}", 1 + vxu),
        "kvexp" => format!(
            "occupancy 2 (read, modify and write a matrix word), latency {}",
            2 + vxu
        ),
        "kvstore" => format!(
            "occupancy `2 n` (read, modify and write `n` matrix words), latency `2 n` + {vxu}"
        ),
        "li" | "addi" | "add" | "sub" | "max" | "shri" | "andi" | "muli" => {
            format!("occupancy 1, latency {SXU_CYCLES}")
        }
        _ => format!("occupancy `c(n)`, latency occupancy + {vxu}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::{Instr, Wait};

    /// 64 matrix lanes and 16 vector lanes (a matrix block drains in 4 words).
    fn target() -> Target {
        let (_, text) = crate::target::BUILTIN_TARGETS
            .iter()
            .find(|(name, _)| *name == "ulx3s-85f")
            .unwrap();
        let mut raw = crate::target::RawTarget::parse(text).unwrap();
        raw.vector_lanes = 16;
        raw.validate().unwrap()
    }

    #[test]
    fn units_overlap_and_waits_serialise() {
        let t = target();
        let program = crate::isa::assemble(
            "matvec dst=v0 w=m0 wreg=r0 x=v0 rows=128 cols=64\n\
             sumsq dst=r3 src=v4096 n=64\n\
             norm dst=v0 src=v0 n=128 bits=16 ein=r0 eout=r4 wait=mxu:1\n\
             end token=r4",
        )
        .unwrap();
        let mut clock = Clock::new(&t, 0);
        let a = clock.issue(&program[0]).unwrap();
        let b = clock.issue(&program[1]).unwrap();
        let c = clock.issue(&program[2]).unwrap();
        let d = clock.issue(&program[3]).unwrap();
        assert_eq!((a.issue, a.complete), (0, 128 + MXU_PIPELINE_CYCLES + 4));
        assert_eq!(b.issue, 1, "the vector unit runs beside the matrix unit");
        assert_eq!(
            c.issue, a.complete,
            "the wait holds the norm until the matvec is done"
        );
        assert_eq!(d.complete, c.complete.max(d.issue + 1));
        assert_eq!(token_cycles(&program, &t, 0).unwrap(), d.complete);
    }

    #[test]
    fn position_dependent_lengths_cost_more_later() {
        let t = target();
        let scores = Instr::parse("matvec dst=v0 w=m0 wreg=r0 x=v0 rows=P cols=8")
            .unwrap()
            .unwrap();
        let at = |pos| cost(&scores.op, &t, pos).occupancy;
        assert_eq!((at(0), at(63), at(64), at(255)), (8, 8, 16, 32));
    }

    #[test]
    fn vector_instructions_pay_for_the_words_they_touch() {
        let t = target();
        assert_eq!((t.lanes, t.vector_lanes), (64, 16));
        let at = |text: &str| cost(&Instr::parse(text).unwrap().unwrap().op, &t, 0);
        // 16 elements from lane 0 touch one word; from lane 8, two.
        assert_eq!(at("mul dst=v0 a=v16 b=v32 n=16").occupancy, 1);
        assert_eq!(at("mul dst=v8 a=v24 b=v40 n=16").occupancy, 2);
        assert_eq!(at("sum dst=r3 src=v8 n=8").occupancy, 1);
        // The matrix unit drains 64 results in 4 words; a block streams at least that long.
        assert_eq!(at("mload dst=v0 src=m0 n=128").occupancy, 2 * 4);
        assert_eq!(
            at("matvec dst=v0 w=m0 wreg=r0 x=v0 rows=128 cols=2").occupancy,
            2 * 4
        );
        // A cache store reads, modifies and writes each word.
        assert_eq!(at("kvstore dst=m0 src=v0 n=8").occupancy, 16);
    }

    #[test]
    fn chains_follow_the_words_a_stream_writes_and_reads() {
        let t = target();
        let op = |text: &str| Instr::parse(text).unwrap().unwrap().op;
        let distance = |made: &str, used: &str| chain_distance(&op(made), &op(used), &t, 0);
        let c = VXU_CHAIN_CYCLES;
        // 16 lanes: a word is 16 elements. The same words, two words in, a word before.
        let made = "mul dst=v1024 a=v0 b=v256 n=128";
        assert_eq!(distance(made, "copy dst=v2048 src=v1024 n=128"), Some(c));
        assert_eq!(distance(made, "copy dst=v2048 src=v1056 n=96"), Some(c + 2));
        assert_eq!(distance(made, "copy dst=v2048 src=v1008 n=32"), Some(c - 1));
        // Either operand, and only what overlaps: nothing read, nothing to wait for.
        assert_eq!(
            distance(made, "mul dst=v2048 a=v512 b=v1040 n=16"),
            Some(c + 1)
        );
        assert_eq!(distance(made, "copy dst=v1024 src=v0 n=16"), Some(0));
        // A normalisation writes after its first pass of 8 words and its tree (log2 16 + 1).
        let norm = "norm dst=v1024 src=v0 n=128 bits=16 ein=r0 eout=r3";
        assert_eq!(
            distance(norm, "copy dst=v2048 src=v1024 n=128"),
            Some(c + 8 + 5)
        );
        assert_eq!(cost(&op(norm), &t, 0).occupancy, 8 + 5 + 8);
        // Streams of two elements a cycle and cache stores are not chained.
        assert_eq!(distance(made, "sincos dst=v2048 src=v1024 n=16"), None);
        assert_eq!(distance(made, "kvstore dst=m0 src=v1024 n=8"), None);
    }

    #[test]
    fn magnitude_registers_make_one_pass_through_the_tree() {
        let t = target();
        let op = |text: &str| Instr::parse(text).unwrap().unwrap().op;
        let at = |text: &str| cost(&op(text), &t, 0);
        let log_v = log2(t.vector_lanes);
        // A producer's magnitude leaves through the reduction tree: log2(V) cycles later.
        let plain = at("mul dst=v1024 a=v0 b=v256 n=128");
        let with = at("mul dst=v1024 a=v0 b=v256 n=128 mag=r5");
        assert_eq!(with.occupancy, plain.occupancy);
        assert_eq!(with.latency, plain.latency + log_v);
        // A normalisation given the magnitude makes the shifting pass alone (8 words), and
        // writes from its first slot.
        let norm = "norm dst=v2048 src=v1024 n=128 bits=16 ein=r0 eout=r3 mag=r5";
        assert_eq!(at(norm).occupancy, 8);
        assert_eq!(at(norm).latency, 8 + VXU_PIPELINE_CYCLES);
        assert_eq!(
            chain_distance(&op(norm), &op("copy dst=v0 src=v2048 n=128"), &t, 0),
            Some(VXU_CHAIN_CYCLES)
        );
        // Over nothing it still takes a cycle.
        assert_eq!(
            at("norm dst=v2048 src=v1024 n=0 bits=16 ein=r0 eout=r3 mag=r5").occupancy,
            1
        );
        // r0 names no register: the rules without one.
        assert_eq!(
            at("norm dst=v2048 src=v1024 n=128 bits=16 ein=r0 eout=r3 mag=r0").occupancy,
            8 + 5 + 8
        );
    }

    /// Every instruction, in its shortest form, issued once and then every instruction back to
    /// back after it, without waits, on targets from the fewest lanes to the most: no more run
    /// at once than `most_running` says, the bound is met, and the ring is larger.
    #[test]
    fn no_program_outruns_the_completion_ring() {
        use crate::isa::{FieldKind, Op, SPECS};
        let shortest = |spec: &crate::isa::OpSpec| {
            let values: Vec<i64> = spec
                .fields
                .iter()
                .map(|f| match f.kind {
                    FieldKind::R => 3,
                    FieldKind::N | FieldKind::U => 1,
                    FieldKind::V | FieldKind::M | FieldKind::I => 0,
                })
                .collect();
            Instr {
                op: Op::from_values(spec.opcode, &values).unwrap(),
                wait: None,
            }
        };
        let units: Vec<_> = SPECS.iter().filter(|s| s.unit.slot().is_some()).collect();
        for (lanes, vector_lanes, ring) in [
            (4, 2, 16),
            (64, 8, 16),
            (256, 2, 16),
            (256, 64, 16),
            (256, 128, 32),
            (256, 256, 32),
        ] {
            let mut t = target();
            t.lanes = lanes;
            t.vector_lanes = vector_lanes;
            assert_eq!(completion_ring(&t), ring, "{lanes}/{vector_lanes} lanes");
            let mut worst = 0;
            for first in &units {
                for then in units.iter().filter(|s| s.unit == first.unit) {
                    let mut clock = Clock::new(&t, 0);
                    let mut completions = Vec::new();
                    let program = std::iter::once(shortest(first))
                        .chain(std::iter::repeat_n(shortest(then), 2 * ring));
                    for instr in program {
                        let issued = clock.issue(&instr).unwrap_or_else(|d| {
                            panic!(
                                "{} after {} on {lanes}/{vector_lanes} lanes: {}",
                                then.mnemonic, first.mnemonic, d.message
                            )
                        });
                        let running = completions.iter().filter(|&&c| c > issued.issue).count();
                        worst = worst.max(running);
                        completions.push(issued.complete);
                    }
                }
            }
            assert_eq!(worst, most_running(&t), "{lanes}/{vector_lanes} lanes");
            assert!(most_running(&t) < ring);
        }
    }

    #[test]
    fn waiting_for_the_future_is_a_deadlock() {
        let t = target();
        let mut i = Instr::parse("add dst=r3 a=r1 b=r2").unwrap().unwrap();
        i.wait = Some(Wait {
            unit: Unit::Vxu,
            count: 1,
        });
        assert!(Clock::new(&t, 0).issue(&i).is_err());
    }
}
