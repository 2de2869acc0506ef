//! Pass `schedule`: writes the static schedule down as waits.
//!
//! Consumes the lowered instructions in program order; produces the same instructions, each with
//! the wait that makes it issue only after every earlier instruction it depends on (it reads what
//! they write, writes what they read or write) has completed; where an instruction depends on
//! more than one unit, `nop` instructions carry the extra waits. Guarantees that executing the
//! program one instruction at a time in order and executing it with the units overlapped by the
//! timing rules give the same results, at every position (dependences are taken over the whole
//! range of position-dependent lengths).

use monorail_contract::isa::{Access, Instr, Op, Unit, Wait};
use monorail_contract::target::Target;

use crate::lower::Tagged;

/// The scheduled program and where each lowered instruction went.
pub struct Scheduled {
    /// Instructions with waits (and `nop`s for extra waits).
    pub code: Vec<Tagged>,
    /// `index[i]` = position in `code` of lowered instruction `i`.
    pub index: Vec<usize>,
}

/// What an instruction may touch at any position of the context.
fn span(op: &Op, target: &Target, context: usize) -> Access {
    let dynamic = target.matrix_words().max(target.vector_elements());
    let mut a = op.accesses(target.lanes, 0, dynamic);
    let b = op.accesses(target.lanes, context - 1, dynamic);
    a.vector_reads.extend(b.vector_reads);
    a.vector_writes.extend(b.vector_writes);
    a.matrix_reads.extend(b.matrix_reads);
    a.matrix_writes.extend(b.matrix_writes);
    a.register_reads |= b.register_reads;
    a.register_writes |= b.register_writes;
    a
}

fn unit_slot(unit: Unit) -> Option<usize> {
    Unit::EXECUTION.iter().position(|&u| u == unit)
}

/// Add the waits.
pub fn schedule(lowered: &[Tagged], target: &Target, context: usize) -> Scheduled {
    let accesses: Vec<Access> = lowered
        .iter()
        .map(|t| span(&t.instr.op, target, context))
        .collect();
    // 1-based count of each instruction on its unit.
    let mut counts = [0u32; 3];
    let unit_index: Vec<Option<(usize, u32)>> = lowered
        .iter()
        .map(|t| {
            unit_slot(t.instr.op.spec().unit).map(|s| {
                counts[s] += 1;
                (s, counts[s])
            })
        })
        .collect();
    let mut satisfied = [0u32; 3];
    let mut code = Vec::with_capacity(lowered.len() * 5 / 4);
    let mut index = Vec::with_capacity(lowered.len());
    for (i, t) in lowered.iter().enumerate() {
        let mut need = [0u32; 3];
        for j in (0..i).rev() {
            if let Some((slot, count)) = unit_index[j] {
                if count > need[slot] && accesses[i].conflicts(&accesses[j]) {
                    need[slot] = count;
                }
            }
        }
        let mut waits: Vec<Wait> = (0..3)
            .filter(|&s| need[s] > satisfied[s])
            .map(|s| Wait {
                unit: Unit::EXECUTION[s],
                count: need[s],
            })
            .collect();
        let last = waits.pop();
        for w in waits {
            code.push(Tagged {
                instr: Instr {
                    op: Op::Nop { cycles: 1 },
                    wait: Some(w),
                },
                step: t.step,
                layer: t.layer,
            });
            satisfied[unit_slot(w.unit).expect("execution unit")] = w.count;
        }
        if let Some(w) = last {
            satisfied[unit_slot(w.unit).expect("execution unit")] = w.count;
        }
        index.push(code.len());
        code.push(Tagged {
            instr: Instr {
                op: t.instr.op,
                wait: last,
            },
            step: t.step,
            layer: t.layer,
        });
    }
    Scheduled { code, index }
}
