//! The timing of the core: what each instruction costs, and when the sequencer issues it.
//!
//! Every instruction has a fixed cost given the target and the position (lengths may follow the
//! position, nothing follows the data): its *occupancy* (cycles its unit cannot accept another
//! instruction) and its *latency* (cycles until its results are written). The sequencer issues
//! one instruction per cycle, in order; an instruction issues when its unit is free and its wait
//! (if any) is satisfied. A unit's completions are in order. So the cycles of a token step are a
//! function of the position only, and [`Clock`] computes them: the compiler to predict, the
//! instruction-set simulator to count, the RTL to match.

use crate::isa::{length, Instr, Op, Unit};
use crate::target::Target;

/// Pipeline depth of the matrix unit: memory read, multiply, accumulate.
pub const MXU_PIPELINE_CYCLES: u64 = 3;
/// Pipeline depth of the vector unit.
pub const VXU_PIPELINE_CYCLES: u64 = 3;
/// Latency of a scalar operation.
pub const SXU_CYCLES: u64 = 1;
/// Latency of a scalar table operation (`rsqrt`, `recip`).
pub const SXU_TABLE_CYCLES: u64 = 2;

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

/// The cost of `op` on `target` at position `pos`.
///
/// A vector instruction streams its operands a memory word (`vector_lanes` elements) per cycle:
/// `c(n)` is the number of words its `n` elements touch, which depends on the lane it starts in.
/// The matrix unit streams a matrix word per cycle and moves its `lanes` results to the
/// accumulator memory `lanes / vector_lanes` words at a time.
pub fn cost(op: &Op, target: &Target, pos: usize) -> Cost {
    let lanes = target.lanes;
    let v = target.vector_lanes;
    // Words of the vector space touched by `n` elements from `start`.
    let words = |start: i64, n: i64| -> u64 {
        let n = length(n, pos);
        if n == 0 {
            0
        } else {
            ((start as usize % v) + n).div_ceil(v) as u64
        }
    };
    let blocks = |rows: i64| length(rows, pos).div_ceil(lanes) as u64;
    // Cycles to move one block of `lanes` results to or from the vector space.
    let drain = (lanes / v) as u64;
    let vector = |occupancy: u64| Cost {
        occupancy: occupancy.max(1),
        latency: occupancy.max(1) + VXU_PIPELINE_CYCLES,
    };
    let reduce = |occupancy: u64| Cost {
        occupancy: occupancy.max(1),
        latency: occupancy.max(1) + log2(v) + VXU_PIPELINE_CYCLES,
    };
    match *op {
        Op::Nop { cycles } => Cost {
            occupancy: (cycles as u64).max(1),
            latency: (cycles as u64).max(1),
        },
        Op::End { .. } => Cost {
            occupancy: 1,
            latency: 1,
        },
        Op::Rsqrt { .. } | Op::Recip { .. } => Cost {
            occupancy: 1,
            latency: SXU_TABLE_CYCLES,
        },
        Op::Li { .. }
        | Op::Addi { .. }
        | Op::Add { .. }
        | Op::Sub { .. }
        | Op::Max { .. }
        | Op::Shri { .. }
        | Op::Andi { .. }
        | Op::Muli { .. } => Cost {
            occupancy: 1,
            latency: SXU_CYCLES,
        },
        Op::Matvec { rows, cols, .. } => {
            // Each block's results drain while the next block streams: a block takes at least
            // the drain's cycles.
            let occupancy = (blocks(rows) * (cols as u64).max(drain)).max(1);
            Cost {
                occupancy,
                latency: occupancy + MXU_PIPELINE_CYCLES + drain,
            }
        }
        Op::Mload { n, .. } => {
            let occupancy = blocks(n).max(1) * drain;
            Cost {
                occupancy,
                latency: occupancy + MXU_PIPELINE_CYCLES,
            }
        }
        Op::Dotv { rows, cols, .. } => {
            // The x block of the next row block loads while the current one streams.
            let occupancy = drain + blocks(rows) * (cols as u64).max(drain);
            Cost {
                occupancy,
                latency: occupancy + MXU_PIPELINE_CYCLES + log2(lanes),
            }
        }
        Op::Norm { src, n, .. } | Op::Normg { src, n, .. } => {
            // A max-abs pass, the reduction tree, then the shifting pass.
            reduce(2 * words(src, n) + log2(v))
        }
        // Two products per element through one multiplier per lane.
        Op::Rope { src, n, .. } => vector(2 * words(src, n)),
        // Two sine-table reads per cycle.
        Op::Sincos { src, n, .. } => vector(words(src, n) * (v as u64).div_ceil(2)),
        Op::Mul { a, n, .. }
        | Op::Muls { a, n, .. }
        | Op::Addalign { a, n, .. }
        | Op::Shrv { a, n, .. }
        | Op::Addsv { a, n, .. } => vector(words(a, n)),
        Op::Silu { src, n, .. } | Op::Expneg { src, n, .. } | Op::Copy { src, n, .. } => {
            vector(words(src, n))
        }
        Op::Onehot { dst, n, .. } | Op::Fill { dst, n, .. } => vector(words(dst, n)),
        Op::Sumsq { src, n, .. }
        | Op::Sum { src, n, .. }
        | Op::Vmax { src, n, .. }
        | Op::Argmax { src, n, .. } => reduce(words(src, n)),
        Op::Getv { .. } | Op::Setv { .. } => vector(1),
        // Read, modify and write a matrix word: two cycles of the matrix memory's second port.
        Op::Kvexp { .. } => vector(2),
        Op::Kvstore { n, .. } => vector(2 * n as u64),
    }
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
    /// A clock at cycle 0 of the token step at `pos`.
    pub fn new(target: &'t Target, pos: usize) -> Clock<'t> {
        Clock {
            target,
            pos,
            next_issue: 0,
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
                    message: format!(
                        "waits for {} instruction {} but only {} were issued before it",
                        w.unit.name(),
                        w.count,
                        done.len()
                    ),
                });
            };
            t = t.max(at);
        }
        if let Op::End { .. } = instr.op {
            let last = self.completions.iter().filter_map(|c| c.last()).max();
            t = t.max(last.copied().unwrap_or(0));
        }
        match unit.slot() {
            Some(s) => {
                t = t.max(self.unit_free[s]);
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
        "rsqrt" | "recip" => format!("occupancy 1, latency {SXU_TABLE_CYCLES}"),
        "matvec" => format!(
            "occupancy `b(rows) * max(cols, L/V)` (each block's results drain while the next streams), latency occupancy + {mxu} + L/V"
        ),
        "dotv" => format!(
            "occupancy `L/V + b(rows) * max(cols, L/V)` (the x block of the next row block loads meanwhile), latency occupancy + {mxu} + log2(L)"
        ),
        "mload" => format!("occupancy `b(n) * L/V`, latency occupancy + {mxu}"),
        "norm" | "normg" => format!(
            "occupancy `2 c(n) + log2(V)` (max-abs pass, reduction tree, shifting pass), latency occupancy + log2(V) + {vxu}"
        ),
        "sumsq" | "sum" | "vmax" | "argmax" => {
            format!("occupancy `c(n)`, latency occupancy + log2(V) + {vxu}")
        }
        "rope" => format!("occupancy `2 c(n)` (two products per element), latency occupancy + {vxu}"),
        "sincos" => format!("occupancy `c(n) * V/2` (two table reads per cycle), latency occupancy + {vxu}"),
        "getv" | "setv" => format!("occupancy 1, latency {}", 1 + vxu),
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

    fn target() -> Target {
        Target::builtin("ulx3s-85f").unwrap()
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
        assert_eq!((a.issue, a.complete), (0, 128 + 3 + 4));
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
