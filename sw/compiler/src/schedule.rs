//! Pass `schedule`: orders the instructions, renames their temporaries, and writes the static
//! schedule down as waits.
//!
//! Consumes the lowered instructions and checkpoints; produces the program: the instructions in
//! an order chosen by list scheduling (an instruction moves ahead of others it does not depend on
//! when its unit is free earlier), with the temporaries renamed so that only the values'
//! true dependences order them (see `Renaming`), each with the wait that makes it issue only
//! after every earlier instruction it depends on has completed; where it depends on more than
//! one unit, `nop`s carry the extra waits. A vector stream that reads what an earlier stream
//! writes needs no wait when the vector unit chains them: when the earlier one's occupancy,
//! which the later one waits out anyway, covers their chain distance at every position.
//! Checkpoints are nodes of the dependence graph too (they read their values), so no value is
//! overwritten before its checkpoint.
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
/// the waits. The registers from `first_temp` up are temporaries, renamed (see
/// `Renaming`); where the renamed values do not fit them, the program keeps its registers.
pub fn schedule(
    lowered: &[Tagged],
    checkpoints: &[CheckpointSpec],
    target: &Target,
    context: usize,
    first_temp: u8,
) -> Scheduled {
    let renaming = Renaming::of(lowered, checkpoints, target, first_temp);
    renaming
        .and_then(|r| schedule_with(lowered, checkpoints, target, context, Some(&r)))
        .unwrap_or_else(|| {
            schedule_with(lowered, checkpoints, target, context, None)
                .expect("a schedule that keeps its registers always exists")
        })
}

/// The values of a token step's temporaries, for renaming them: the scheduler orders the
/// instructions by their values' true dependences alone (a write after a read or a write of the
/// same temporary does not hold an instruction back) and gives each value, as its writer is
/// scheduled, the temporary free earliest among those whose value no instruction still to
/// come reads; the writer then waits for that value's writer and readers. The emitter hands its
/// temporaries out in turn, so without renaming head h+4 of a layer would wait for the
/// registers of head h.
struct Renaming {
    /// The first temporary; the registers below it keep their meaning.
    first_temp: u8,
    /// The registers of the target.
    registers: u8,
    /// For each node, the values it reads: (field index, or part index for a checkpoint;
    /// value).
    reads: Vec<Vec<(usize, usize)>>,
    /// For each node, the values it writes: (field index, value).
    writes: Vec<Vec<(usize, usize)>>,
    /// For each value, the node that writes it.
    writer: Vec<usize>,
    /// For each value, the nodes that read it, each once.
    readers: Vec<Vec<usize>>,
}

/// With renaming, a node more than this many nodes (in program order) after the first one not
/// yet scheduled waits: hoisted further, values read much later (constants above all) would
/// fill the temporaries until no ready node found a free one. 100 gave the fastest schedules of
/// 64, 100 and 150.
const RENAMING_WINDOW: usize = 100;

impl Renaming {
    /// The values of `lowered` (and the checkpoints' reads of them), in the nodes' order of
    /// [`nodes_in_order`]; `None` when the target has no temporaries, or one is read before
    /// the step writes it.
    fn of(
        lowered: &[Tagged],
        checkpoints: &[CheckpointSpec],
        target: &Target,
        first_temp: u8,
    ) -> Option<Renaming> {
        if first_temp as usize >= target.registers {
            return None;
        }
        let nodes = nodes_in_order(lowered, checkpoints);
        let temp = |r: u8| r >= first_temp;
        let mut last_value = [None; 64];
        let mut renaming = Renaming {
            first_temp,
            registers: target.registers as u8,
            reads: Vec::with_capacity(nodes.len()),
            writes: Vec::with_capacity(nodes.len()),
            writer: Vec::new(),
            readers: Vec::new(),
        };
        for (k, node) in nodes.iter().enumerate() {
            let mut reads = Vec::new();
            let mut written = Vec::new();
            match *node {
                Node::Instr(i) => {
                    for f in lowered[i].instr.op.register_fields() {
                        if !temp(f.register) {
                            continue;
                        }
                        if f.read {
                            reads.push((f.index, last_value[f.register as usize]?));
                        } else {
                            written.push((f.index, f.register));
                        }
                    }
                }
                Node::Checkpoint(c) => {
                    for (part, p) in checkpoints[c].parts.iter().enumerate() {
                        if p.register != 0 && temp(p.register) {
                            reads.push((part, last_value[p.register as usize]?));
                        }
                    }
                }
            }
            for &(_, value) in &reads {
                let readers: &mut Vec<usize> = &mut renaming.readers[value];
                if readers.last() != Some(&k) {
                    readers.push(k);
                }
            }
            let mut writes = Vec::with_capacity(written.len());
            for (field, register) in written {
                let value = renaming.writer.len();
                renaming.writer.push(k);
                renaming.readers.push(Vec::new());
                last_value[register as usize] = Some(value);
                writes.push((field, value));
            }
            renaming.reads.push(reads);
            renaming.writes.push(writes);
        }
        Some(renaming)
    }

    /// The temporaries' bits of a register mask.
    fn mask(&self) -> u64 {
        (self.first_temp..self.registers).fold(0, |m, r| m | 1 << r)
    }
}

/// The temporaries during list scheduling with renaming.
struct Temporaries<'a> {
    renaming: &'a Renaming,
    /// The value each temporary holds.
    holds: Vec<Option<usize>>,
    /// For each value, how many of its readers are not scheduled yet.
    unread: Vec<usize>,
    /// For each value, when its writer and the readers scheduled so far complete.
    done: Vec<u64>,
    /// For each value, its temporary.
    renamed: Vec<u8>,
    /// For each temporary whose value no node still to come reads, when it is free.
    free_at: Vec<Option<u64>>,
}

impl<'a> Temporaries<'a> {
    fn new(renaming: &'a Renaming) -> Temporaries<'a> {
        Temporaries {
            renaming,
            holds: vec![None; renaming.registers as usize],
            unread: renaming.readers.iter().map(Vec::len).collect(),
            done: vec![0; renaming.writer.len()],
            renamed: vec![0; renaming.writer.len()],
            free_at: (0..renaming.registers)
                .map(|t| (t >= renaming.first_temp).then_some(0))
                .collect(),
        }
    }

    /// The temporaries node `k` would take for its values, those free earliest, and when the
    /// last of them is free (their values' writers and readers complete: `k` issues after
    /// that); `None` while fewer are free.
    fn free_for(&self, k: usize) -> Option<(u64, Vec<u8>)> {
        let wanted = self.renaming.writes[k].len();
        if wanted == 0 {
            return Some((0, Vec::new()));
        }
        let mut free: Vec<(u64, u8)> = (self.renaming.first_temp..self.renaming.registers)
            .filter_map(|t| self.free_at[t as usize].map(|at| (at, t)))
            .collect();
        // a temporary whose last reader still to come is `k` itself, which reads it before it
        // writes
        for (n, &(_, value)) in self.renaming.reads[k].iter().enumerate() {
            let first = self.renaming.reads[k][..n].iter().all(|&(_, v)| v != value);
            let t = self.renamed[value];
            if first && self.unread[value] == 1 && self.holds[t as usize] == Some(value) {
                free.push((self.done[value], t));
            }
        }
        if free.len() < wanted {
            return None;
        }
        free.sort_unstable();
        let at = free[wanted - 1].0;
        Some((at, free[..wanted].iter().map(|&(_, t)| t).collect()))
    }

    /// Schedule node `k`, completing at `complete`, its values in `taken`; returns the nodes it
    /// waits for: the writers and readers of the values it overwrites.
    fn take(&mut self, k: usize, taken: &[u8], complete: u64) -> Vec<usize> {
        let renaming = self.renaming;
        for (n, &(_, value)) in renaming.reads[k].iter().enumerate() {
            // a value read by two fields counts once
            if renaming.reads[k][..n].iter().all(|&(_, v)| v != value) {
                self.unread[value] -= 1;
                self.done[value] = self.done[value].max(complete);
                let t = self.renamed[value] as usize;
                if self.unread[value] == 0 && self.holds[t] == Some(value) {
                    self.free_at[t] = Some(self.done[value]);
                }
            }
        }
        let mut waits = Vec::new();
        for (&(_, value), &t) in renaming.writes[k].iter().zip(taken) {
            if let Some(before) = self.holds[t as usize] {
                waits.push(renaming.writer[before]);
                waits.extend(renaming.readers[before].iter().filter(|&&r| r != k));
            }
            self.holds[t as usize] = Some(value);
            self.done[value] = complete;
            self.renamed[value] = t;
            self.free_at[t as usize] = renaming.readers[value].is_empty().then_some(complete);
        }
        waits
    }
}

/// The nodes in program order: each checkpoint right after its instruction, the `end` left
/// out (it stays last: it waits for every unit by the timing rules).
fn nodes_in_order(lowered: &[Tagged], checkpoints: &[CheckpointSpec]) -> Vec<Node> {
    let mut nodes = Vec::with_capacity(lowered.len() + checkpoints.len());
    let mut by_instr = vec![Vec::new(); lowered.len()];
    for (c, spec) in checkpoints.iter().enumerate() {
        by_instr[spec.after].push(c);
    }
    for (i, cs) in by_instr.iter().enumerate() {
        if matches!(lowered[i].instr.op, Op::End { .. }) {
            continue;
        }
        nodes.push(Node::Instr(i));
        nodes.extend(cs.iter().map(|&c| Node::Checkpoint(c)));
    }
    nodes
}

/// [`schedule`], renaming the temporaries with `renaming`, or keeping the registers; `None`
/// when the renamed values do not fit the temporaries.
fn schedule_with(
    lowered: &[Tagged],
    checkpoints: &[CheckpointSpec],
    target: &Target,
    context: usize,
    renaming: Option<&Renaming>,
) -> Option<Scheduled> {
    let nodes = nodes_in_order(lowered, checkpoints);
    let end = lowered
        .iter()
        .position(|t| matches!(t.instr.op, Op::End { .. }));
    // What each node touches; with renaming, not the temporaries, whose true dependences are
    // the values each node reads.
    let temps = renaming.map_or(0, Renaming::mask);
    let access: Vec<Access> = nodes
        .iter()
        .map(|n| {
            let mut a = match *n {
                Node::Instr(i) => span(&lowered[i].instr.op, target, context),
                Node::Checkpoint(c) => checkpoint_span(&checkpoints[c]),
            };
            a.register_reads &= !temps;
            a.register_writes &= !temps;
            a
        })
        .collect();
    let reads_value_of = |j: usize, i: usize| {
        renaming.is_some_and(|r| r.reads[j].iter().any(|&(_, v)| r.writer[v] == i))
    };
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
            let true_dependence = reads_value_of(j, i);
            if true_dependence || access[j].conflicts(&access[i]) {
                let distance = match (op_of(i), op_of(j)) {
                    (Some(made), Some(used))
                        if !true_dependence
                            && !access[j].conflicts_outside_vector_space(&access[i])
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
    // List scheduling: repeatedly take the ready node that can issue first. With renaming, a
    // node that writes temporaries is ready only when as many hold values that no node still to
    // come reads; it takes those free earliest, and issues after their values' readers and
    // writers have completed.
    let mut remaining: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut ready_at = vec![0u64; n]; // when all of a node's predecessors allow it to issue
    let mut completes = vec![0u64; n]; // when the node completes in this schedule
    let mut ready: Vec<usize> = (0..n).filter(|&k| remaining[k] == 0).collect();
    let mut unit_free = [0u64; 3];
    let mut next_issue = 0u64;
    let mut order = Vec::with_capacity(n);
    let mut temporaries = renaming.map(Temporaries::new);
    // When node k could issue: its inputs ready, the sequencer and its unit free.
    let start_of =
        |k: usize, ready_at: &[u64], next_issue: u64, unit_free: &[u64; 3]| match costs[k].0 {
            Some(u) => ready_at[k].max(next_issue).max(unit_free[u]),
            None => ready_at[k],
        };
    let mut scheduled = vec![false; n];
    let mut oldest = 0;
    while !ready.is_empty() {
        while scheduled[oldest] {
            oldest += 1;
        }
        // the best so far: (start, priority, node) to order by, its slot, its temporaries
        type Choice = ((u64, std::cmp::Reverse<u64>, usize), usize, Vec<u8>);
        let mut best: Option<Choice> = None;
        for (slot, &k) in ready.iter().enumerate() {
            if temporaries.is_some() && k > oldest + RENAMING_WINDOW {
                continue;
            }
            let start = start_of(k, &ready_at, next_issue, &unit_free);
            // the temporaries only ever delay a node: one that starts later than the best
            // so far without them is not the best
            if best.as_ref().is_some_and(|(b, ..)| start > b.0) {
                continue;
            }
            let (free_at, taken) = match &temporaries {
                Some(t) => match t.free_for(k) {
                    Some(found) => found,
                    None => continue,
                },
                None => (0, Vec::new()),
            };
            let start = start.max(free_at);
            let key = (start, std::cmp::Reverse(priority[k]), k);
            if best.as_ref().is_none_or(|(b, ..)| key < *b) {
                best = Some((key, slot, taken));
            }
        }
        // With renaming, every ready node may wait for temporaries that only nodes not yet
        // ready would free: the registers as they are then.
        let ((start, ..), slot, taken) = best?;
        let k = ready.swap_remove(slot);
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
        scheduled[k] = true;
        if let Some(t) = &mut temporaries {
            // a wait for each, even where `k` chained to it
            for x in t.take(k, &taken, complete) {
                match preds[k].iter_mut().find(|(p, _)| *p == x) {
                    Some(pred) => pred.1 = false,
                    None => preds[k].push((x, false)),
                }
            }
        }
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
    let renamed = temporaries.map(|t| t.renamed).unwrap_or_default();

    // An instruction with its temporaries renamed.
    let op_renamed = |k: usize, op: &Op| match renaming {
        None => *op,
        Some(renaming) => {
            let reads = renaming.reads[k]
                .iter()
                .map(|&(field, value)| (field, renamed[value]));
            let writes = renaming.writes[k]
                .iter()
                .map(|&(field, value)| (field, renamed[value]));
            op.with_registers(&reads.chain(writes).collect::<Vec<_>>())
        }
    };

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
                let mut spec = CheckpointSpec {
                    after: code.len() - 1,
                    ..checkpoints[c].clone()
                };
                if let Some(renaming) = renaming {
                    for &(part, value) in &renaming.reads[k] {
                        spec.parts[part].register = renamed[value];
                    }
                }
                out_checkpoints.push(spec);
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
                        op: op_renamed(k, &t.instr.op),
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
    Some(Scheduled {
        code,
        checkpoints: out_checkpoints,
        chain,
    })
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
