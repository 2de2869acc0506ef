//! Pass `schedule`: orders the instructions and writes the static schedule down as waits.
//!
//! Consumes the lowered instructions and checkpoints; produces the program: the instructions in
//! an order chosen by list scheduling (an instruction moves ahead of others it does not depend on
//! when its unit is free earlier), each with the wait that makes it issue only after every earlier
//! instruction it depends on has completed; where it depends on more than one unit, `nop`s carry
//! the extra waits. A vector stream that reads what an earlier stream writes needs no wait when
//! the vector unit chains them: when the earlier one's occupancy, which the later one waits out
//! anyway, covers their chain distance at every position. Checkpoints are nodes of the dependence
//! graph too (they read their values), so no value is overwritten before its checkpoint.
//! Guarantees that executing the program one instruction at a time in order, and executing it with
//! the units overlapped by the timing rules, give the same results at every position (dependences
//! are taken over the whole range of position-dependent lengths). Also measures the longest chain
//! of dependences ([`DependenceChain`]): how close the schedule comes to the fewest cycles any
//! schedule of these instructions could take.

use monorail_contract::bundle::CheckpointSpec;
use monorail_contract::isa::{Access, Instr, Op, Unit, Wait};
use monorail_contract::steps::ModelStep;
use monorail_contract::target::Target;
use monorail_contract::timing::{chain_distance, cost};

use crate::lower::Tagged;

/// The scheduled program.
pub struct Scheduled {
    /// Instructions with waits (and `nop`s for extra waits).
    pub code: Vec<Tagged>,
    /// Checkpoints, `after` indexing `code`.
    pub checkpoints: Vec<CheckpointSpec>,
    /// The longest chain of dependences through the token step.
    pub chain: DependenceChain,
}

/// The longest chain of dependences through a token step, each link a producer's latency (or
/// its chain distance, where the vector unit chains the two): the fewest cycles any schedule of
/// these instructions could take, however many units it overlapped. Where a schedule comes close
/// to it, only fewer or shorter steps along the chain make a token faster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DependenceChain {
    /// The position it is measured at (the middle of the context, where the schedule's
    /// priorities are).
    pub position: usize,
    /// Its length in cycles.
    pub cycles: u64,
    /// Its links in order: an instruction (its index in the scheduled code) and the cycles from
    /// its issue to the next link's (its latency, or the chain distance), or to the end of the
    /// chain; they add up to `cycles`.
    pub links: Vec<(usize, u64)>,
    /// Its cycles by model step, in [`ModelStep::ALL`]'s order (steps it does not pass through
    /// left out); they add up to `cycles`.
    pub by_step: Vec<(ModelStep, u64)>,
}

/// What an instruction may touch at any position of the context: a cache store's row block at
/// every position, not only the first and the last.
fn span(op: &Op, target: &Target, context: usize) -> Access {
    op.accesses_on(target, 0)
        .spanning(&op.accesses_on(target, context - 1))
}

/// What reading a checkpoint touches.
fn checkpoint_span(c: &CheckpointSpec) -> Access {
    let mut a = Access::default();
    for p in &c.parts {
        if let Some(v) = p.vector {
            a.vector_reads.push(v as usize..(v + p.len) as usize);
        }
        if p.register != 0 {
            a.register_reads |= 1 << p.register;
        }
    }
    a
}

/// Whether `used` may issue right after `made` on the vector unit at every position of the
/// context: the unit is busy for `made`'s occupancy, so `used` issues at least that late, which
/// must cover their chain distance.
fn chains(made: &Op, used: &Op, target: &Target, context: usize) -> bool {
    let at = |pos: usize| {
        chain_distance(made, used, target, pos)
            .is_some_and(|d| d <= cost(made, target, pos).occupancy)
    };
    let last = context - 1;
    let fixed = |op: &Op| op.accesses_on(target, 0) == op.accesses_on(target, last);
    if fixed(made) && fixed(used) {
        at(0)
    } else {
        (0..context).all(at)
    }
}

/// A node of the dependence graph: an instruction, or a checkpoint's reading.
enum Node {
    Instr(usize),
    Checkpoint(usize),
}

/// Order by list scheduling with the costs at the middle position of the context, then add
/// the waits.
pub fn schedule(
    lowered: &[Tagged],
    checkpoints: &[CheckpointSpec],
    target: &Target,
    context: usize,
) -> Scheduled {
    // The nodes in program order: each checkpoint right after its instruction.
    let mut nodes = Vec::with_capacity(lowered.len() + checkpoints.len());
    let mut by_instr = vec![Vec::new(); lowered.len()];
    for (c, spec) in checkpoints.iter().enumerate() {
        by_instr[spec.after].push(c);
    }
    // The `end` stays last: it waits for every unit by the timing rules.
    let mut end = None;
    for (i, cs) in by_instr.iter().enumerate() {
        if matches!(lowered[i].instr.op, Op::End { .. }) {
            end = Some(i);
            continue;
        }
        nodes.push(Node::Instr(i));
        nodes.extend(cs.iter().map(|&c| Node::Checkpoint(c)));
    }
    let access: Vec<Access> = nodes
        .iter()
        .map(|n| match *n {
            Node::Instr(i) => span(&lowered[i].instr.op, target, context),
            Node::Checkpoint(c) => checkpoint_span(&checkpoints[c]),
        })
        .collect();
    let n = nodes.len();
    let op_of = |k: usize| match nodes[k] {
        Node::Instr(i) => Some(&lowered[i].instr.op),
        Node::Checkpoint(_) => None,
    };
    // Costs at a representative position.
    let pos = context / 2;
    // Dependences: j after i when they conflict. The end waits for everything anyway. A
    // dependence is chained when j may issue as soon as the vector unit is free after i, at every
    // position (see `chains`): j then carries no wait for i, and may issue the chain distance
    // after i's issue in the schedule below.
    let mut preds: Vec<Vec<(usize, bool)>> = vec![Vec::new(); n]; // (predecessor, chained)
    let mut succs: Vec<Vec<(usize, Option<u64>)>> = vec![Vec::new(); n]; // (successor, distance)
    for j in 0..n {
        for i in 0..j {
            if access[j].conflicts(&access[i]) {
                let distance = match (op_of(i), op_of(j)) {
                    (Some(made), Some(used))
                        if !access[j].conflicts_outside_vector_space(&access[i])
                            && chains(made, used, target, context) =>
                    {
                        chain_distance(made, used, target, pos)
                    }
                    _ => None,
                };
                preds[j].push((i, distance.is_some()));
                succs[i].push((j, distance));
            }
        }
    }
    let costs: Vec<(Option<usize>, u64, u64)> = nodes
        .iter()
        .map(|node| match *node {
            Node::Instr(i) => {
                let op = &lowered[i].instr.op;
                let c = cost(op, target, pos);
                (op.spec().unit.slot(), c.occupancy, c.latency)
            }
            Node::Checkpoint(_) => (None, 0, 0),
        })
        .collect();
    // Priority: the longest path to the end, each step the latency or the chain distance.
    let mut priority = vec![0u64; n];
    for k in (0..n).rev() {
        priority[k] = succs[k]
            .iter()
            .map(|&(s, distance)| distance.unwrap_or(costs[k].2) + priority[s])
            .fold(costs[k].2, u64::max);
    }
    let chain_links = longest_chain(&priority, &succs, &costs, &nodes);
    // List scheduling: repeatedly take the ready node that can issue first.
    let mut remaining: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut ready_at = vec![0u64; n]; // when all of a node's predecessors allow it to issue
    let mut completes = vec![0u64; n]; // when the node completes in this schedule
    let mut ready: Vec<usize> = (0..n).filter(|&k| remaining[k] == 0).collect();
    let mut unit_free = [0u64; 3];
    let mut next_issue = 0u64;
    let mut order = Vec::with_capacity(n);
    // When node k could issue: its inputs ready, the sequencer and its unit free.
    let start_of =
        |k: usize, ready_at: &[u64], next_issue: u64, unit_free: &[u64; 3]| match costs[k].0 {
            Some(u) => ready_at[k].max(next_issue).max(unit_free[u]),
            None => ready_at[k],
        };
    while !ready.is_empty() {
        let (slot, k) = ready
            .iter()
            .enumerate()
            .min_by_key(|&(_, &k)| {
                let start = start_of(k, &ready_at, next_issue, &unit_free);
                (start, std::cmp::Reverse(priority[k]), k)
            })
            .map(|(slot, &k)| (slot, k))
            .expect("ready is not empty");
        ready.swap_remove(slot);
        let start = start_of(k, &ready_at, next_issue, &unit_free);
        let complete = match costs[k].0 {
            Some(u) => {
                unit_free[u] = start + costs[k].1;
                next_issue = start + 1;
                start + costs[k].2
            }
            None => start,
        };
        completes[k] = complete;
        order.push(k);
        for &(s, distance) in &succs[k] {
            let allowed = distance.map_or(complete, |d| start + d);
            ready_at[s] = ready_at[s].max(allowed);
            remaining[s] -= 1;
            if remaining[s] == 0 {
                ready.push(s);
            }
        }
    }
    assert_eq!(order.len(), n, "the dependence graph is acyclic");

    // Waits, in the new order.
    let mut counts = [0u32; 3];
    let mut position_of = vec![0usize; n];
    for (p, &k) in order.iter().enumerate() {
        position_of[k] = p;
    }
    let mut unit_index = vec![None; n];
    for &k in &order {
        if let Some(u) = costs[k].0 {
            counts[u] += 1;
            unit_index[k] = Some((u, counts[u]));
        }
    }
    // An instruction that depends on several units carries the wait that completes last (by
    // the schedule above) itself, and `nop`s before it carry the others, earliest first: a `nop`
    // then never holds the sequencer past the moment its instruction could issue.
    let mut satisfied = [0u32; 3];
    let mut by_unit_index: [Vec<usize>; 3] = [vec![usize::MAX], vec![usize::MAX], vec![usize::MAX]];
    for &k in &order {
        if let Some((u, _)) = unit_index[k] {
            by_unit_index[u].push(k);
        }
    }
    let mut code = Vec::with_capacity(lowered.len() * 5 / 4);
    let mut code_index = vec![usize::MAX; lowered.len()]; // (lowered index -> index in `code`)
    let mut out_checkpoints = Vec::with_capacity(checkpoints.len());
    for &k in &order {
        match nodes[k] {
            Node::Checkpoint(c) => {
                out_checkpoints.push(CheckpointSpec {
                    after: code.len() - 1,
                    ..checkpoints[c].clone()
                });
            }
            Node::Instr(i) => {
                let mut need = [0u32; 3];
                for &(p, _) in preds[k].iter().filter(|(_, chained)| !chained) {
                    if let Some((u, count)) = unit_index[p] {
                        debug_assert!(position_of[p] < position_of[k]);
                        need[u] = need[u].max(count);
                    }
                }
                let completion = |s: usize| completes[by_unit_index[s][need[s] as usize]];
                let mut waits: Vec<usize> = (0..3).filter(|&s| need[s] > satisfied[s]).collect();
                waits.sort_by_key(|&s| (completion(s), s));
                let wait_of = |s: usize| Wait {
                    unit: Unit::EXECUTION[s],
                    count: need[s],
                };
                let t = &lowered[i];
                let last = waits.pop().map(wait_of);
                for w in waits.into_iter().map(wait_of) {
                    code.push(Tagged {
                        instr: Instr {
                            op: Op::Nop { cycles: 1 },
                            wait: Some(w),
                        },
                        step: t.step,
                        layer: t.layer,
                    });
                    satisfied[w.unit.slot().expect("execution unit")] = w.count;
                }
                if let Some(w) = last {
                    satisfied[w.unit.slot().expect("execution unit")] = w.count;
                }
                code_index[i] = code.len();
                code.push(Tagged {
                    instr: Instr {
                        op: t.instr.op,
                        wait: last,
                    },
                    step: t.step,
                    layer: t.layer,
                });
            }
        }
    }
    if let Some(i) = end {
        code.push(lowered[i].clone());
    }
    let mut by_step = [0u64; ModelStep::ALL.len()];
    for &(i, link) in &chain_links {
        by_step[lowered[i].step.index()] += link;
    }
    let chain = DependenceChain {
        position: pos,
        cycles: by_step.iter().sum(),
        links: chain_links
            .iter()
            .map(|&(i, link)| (code_index[i], link))
            .collect(),
        by_step: ModelStep::ALL
            .iter()
            .zip(by_step)
            .filter(|&(_, c)| c > 0)
            .map(|(&s, c)| (s, c))
            .collect(),
    };
    Scheduled {
        code,
        checkpoints: out_checkpoints,
        chain,
    }
}

/// The chain that sets the largest priority, as (lowered instruction, link) pairs: from its
/// first node, each time the link to the successor that sets the node's priority (or the node's
/// own latency, at the chain's end). Checkpoints on the chain (links of no cycles) are left out.
fn longest_chain(
    priority: &[u64],
    succs: &[Vec<(usize, Option<u64>)>],
    costs: &[(Option<usize>, u64, u64)],
    nodes: &[Node],
) -> Vec<(usize, u64)> {
    let mut links = Vec::new();
    // The first node of the longest chain (the earliest, on a tie).
    let mut k = (0..priority.len()).max_by_key(|&k| (priority[k], std::cmp::Reverse(k)));
    while let Some(node) = k {
        let latency = costs[node].2;
        let next = succs[node]
            .iter()
            .map(|&(s, distance)| (distance.unwrap_or(latency) + priority[s], s, distance))
            .filter(|&(total, _, _)| total > latency)
            .max_by_key(|&(total, s, _)| (total, std::cmp::Reverse(s)));
        if let Node::Instr(i) = nodes[node] {
            links.push((i, next.map_or(latency, |(_, _, d)| d.unwrap_or(latency))));
        }
        k = next.map(|(_, s, _)| s);
    }
    links
}
