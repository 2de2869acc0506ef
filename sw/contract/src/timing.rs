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
/// A vector instruction whose vector operands all lie in the wide vector memory runs `lanes`
/// elements per cycle instead of `vector_lanes`; the matrix unit moves a whole word per cycle to
/// or from it.
pub fn cost(op: &Op, target: &Target, pos: usize) -> Cost {
    cost_with(op, target, pos, &op.accesses_on(target, pos))
}

/// [`cost`], given what the instruction touches at `pos` (`op.accesses_on(target, pos)`), for
/// callers that have it already.
pub fn cost_with(op: &Op, target: &Target, pos: usize, access: &crate::isa::Access) -> Cost {
    let lanes = target.lanes;
    let all_wide = target.wide_words > 0
        && access
            .vector_reads
            .iter()
            .chain(access.vector_writes.iter())
            .all(|r| r.is_empty() || target.in_wide(r));
    let vlanes = if all_wide { lanes } else { target.vector_lanes };
    let chunks = |n: i64| length(n, pos).div_ceil(vlanes) as u64;
    let blocks = |rows: i64| length(rows, pos).div_ceil(lanes) as u64;
    // Words of the matrix unit's width moved to or from the vector memory at `start`.
    let drain_at = |start: i64, n: usize| -> u64 {
        let range = start as usize..start as usize + n;
        if target.in_wide(range) {
            1
        } else {
            (lanes / target.vector_lanes) as u64
        }
    };
    let vector = |occupancy: u64| Cost {
        occupancy,
        latency: occupancy + VXU_PIPELINE_CYCLES,
    };
    let reduce = |occupancy: u64| Cost {
        occupancy,
        latency: occupancy + log2(vlanes) + VXU_PIPELINE_CYCLES,
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
        Op::Matvec {
            dst, rows, cols, ..
        } => {
            let occupancy = (blocks(rows) * cols as u64).max(1);
            Cost {
                occupancy,
                latency: occupancy + MXU_PIPELINE_CYCLES + drain_at(dst, length(rows, pos)),
            }
        }
        Op::Mload { dst, n, .. } => {
            let occupancy = blocks(n).max(1) * drain_at(dst, length(n, pos));
            Cost {
                occupancy,
                latency: occupancy + MXU_PIPELINE_CYCLES,
            }
        }
        Op::Dotv { x, rows, cols, .. } => {
            // The x block of the next row block loads while the current one streams.
            let occupancy = drain_at(x, length(rows, pos)) + blocks(rows) * cols as u64;
            Cost {
                occupancy,
                latency: occupancy + MXU_PIPELINE_CYCLES + log2(lanes),
            }
        }
        Op::Norm { n, .. } | Op::Normg { n, .. } => {
            // A max-abs pass, the reduction tree, then the shifting pass.
            reduce(2 * chunks(n) + log2(vlanes))
        }
        Op::Mul { n, .. }
        | Op::Muls { n, .. }
        | Op::Addalign { n, .. }
        | Op::Rope { n, .. }
        | Op::Silu { n, .. }
        | Op::Expneg { n, .. }
        | Op::Shrv { n, .. }
        | Op::Addsv { n, .. }
        | Op::Onehot { n, .. }
        | Op::Copy { n, .. } => vector(chunks(n).max(1)),
        Op::Sumsq { n, .. } | Op::Sum { n, .. } | Op::Vmax { n, .. } | Op::Argmax { n, .. } => {
            reduce(chunks(n).max(1))
        }
        Op::Getv { .. } | Op::Setv { .. } | Op::Kvexp { .. } => vector(1),
        Op::Kvstore { n, .. } => vector((n as u64).max(1)),
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
/// as [`cost`] (which is the definition). `L` is `lanes`, `V` is `vector_lanes` (or `L` for
/// operands all in the wide vector memory, where `L/V` is 1), `c(n) = ceil(n / V)`,
/// `b(n) = ceil(n / L)`.
pub fn describe(mnemonic: &str) -> String {
    let (mxu, vxu) = (MXU_PIPELINE_CYCLES, VXU_PIPELINE_CYCLES);
    match mnemonic {
        "nop" => "sequencer idle for `max(1, cycles)` cycles".into(),
        "end" => "issues once every unit has completed; the token step ends one cycle later".into(),
        "rsqrt" | "recip" => format!("occupancy 1, latency {SXU_TABLE_CYCLES}"),
        "matvec" => format!("occupancy `b(rows) * cols`, latency occupancy + {mxu} + L/V (accumulators drain)"),
        "dotv" => format!(
            "occupancy `L/V + b(rows) * cols` (the x block of the next row block loads meanwhile), latency occupancy + {mxu} + log2(L)"
        ),
        "mload" => format!("occupancy `b(n) * L/V`, latency occupancy + {mxu}"),
        "norm" | "normg" => format!(
            "occupancy `2 c(n) + log2(V)` (max-abs pass, reduction tree, shifting pass), latency occupancy + log2(V) + {vxu}"
        ),
        "sumsq" | "sum" | "vmax" | "argmax" => format!("occupancy `c(n)`, latency occupancy + log2(V) + {vxu}"),
        "getv" | "setv" | "kvexp" => format!("occupancy 1, latency {}", 1 + vxu),
        "kvstore" => format!("occupancy `n` (one matrix word written per cycle), latency `n` + {vxu}"),
        "li" | "addi" | "add" | "sub" | "max" | "shri" | "andi" | "muli" => format!("occupancy 1, latency {SXU_CYCLES}"),
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
    fn the_wide_vector_memory_moves_a_whole_word_per_cycle() {
        let t = target();
        assert_eq!((t.lanes, t.vector_lanes), (64, 16));
        let wide = t.wide_start();
        let at = |text: String| cost(&Instr::parse(&text).unwrap().unwrap().op, &t, 0);
        // 128 elements: 8 chunks of 16 lanes in the vector memory, 2 of 64 in the wide one.
        let narrow = at("expneg dst=v0 src=v128 n=128 max=r0 mant=r0 shift=r0 sum=r0".into());
        let fast = at(format!(
            "expneg dst=v{wide} src=v{} n=128 max=r0 mant=r0 shift=r0 sum=r0",
            wide + 128
        ));
        assert_eq!((narrow.occupancy, fast.occupancy), (8, 2));
        // One operand outside the wide memory: the narrow width.
        let mixed = at(format!("mul dst=v{wide} a=v0 b=v{} n=128", wide + 128));
        assert_eq!(mixed.occupancy, 8);
        // The matrix unit's accumulators drain into the wide memory one word per cycle.
        let drain_narrow = at("mload dst=v0 src=m0 n=128".into());
        let drain_wide = at(format!("mload dst=v{wide} src=m0 n=128"));
        assert_eq!((drain_narrow.occupancy, drain_wide.occupancy), (2 * 4, 2));
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
