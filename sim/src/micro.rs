//! The small core's micro-machine: runs the routines of `contract::micro` on the ISA's state.
//!
//! It is the proof that the routines compute what the instruction-set simulator computes
//! (`sim/tests/micro.rs` runs every routine beside [`crate::Iss::execute_with`] on random
//! operands), and the reference that the small core's RTL is checked against
//! (`sim/tests/small_rtl.rs`). It executes the ROM's encoded words, so the encoding is what is
//! tested, and counts cycles as the small core spends them.

use monorail_contract::isa::{length, REGISTERS, REG_POS, REG_TOKEN};
use monorail_contract::micro::{
    program, MicroOp, MicroWord, Operand, Reg, Step, COUNTERS, DISPATCH_CYCLES, INDEX_LATCHES,
    MICRO_OP_CYCLES, MICRO_REGISTERS, POINTERS, START_CYCLES,
};

/// What one instruction did on the micro-machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Executed {
    /// Cycles, from dispatch to the routine's end.
    pub cycles: u64,
    /// The token an `end` outputs.
    pub token: Option<i64>,
}

/// The micro-machine's state between micro-operations.
#[derive(Clone, Debug)]
pub struct MicroMachine {
    /// `u0 .. u63`: the ISA's registers; then the temporaries.
    u: [i64; MICRO_REGISTERS],
    /// Register numbers from the instruction's register fields.
    x: [u8; INDEX_LATCHES],
    /// Element addresses in the vector space.
    ptr: [usize; POINTERS],
    counter: [u64; COUNTERS],
    /// The loops the sequencer is in, innermost last: their counter and their body's start.
    loops: Vec<(u8, usize)>,
    /// The last `Gt`'s outcome.
    flag: bool,
    /// Matrix lanes.
    lanes: usize,
    /// The matrix cursor: a word and a lane.
    word: usize,
    lane: usize,
    /// The lanes' accumulators. // (lanes,)
    acc: Vec<i64>,
    /// The lanes' x registers of `dot`. // (lanes,)
    xs: Vec<i64>,
    /// The lane that `Drain` and `LoadX` serve next.
    lane_counter: usize,
    /// Elements `Drain` and `LoadX` still move.
    limit: u64,
}

impl MicroMachine {
    /// A micro-machine with `lanes` matrix lanes, its registers zero.
    pub fn new(lanes: usize) -> MicroMachine {
        MicroMachine {
            u: [0; MICRO_REGISTERS],
            x: [0; INDEX_LATCHES],
            ptr: [0; POINTERS],
            counter: [0; COUNTERS],
            loops: Vec::new(),
            flag: false,
            lanes,
            word: 0,
            lane: 0,
            acc: vec![0; lanes],
            xs: vec![0; lanes],
            lane_counter: 0,
            limit: 0,
        }
    }

    /// The ISA's registers.
    pub fn registers(&self) -> [i64; REGISTERS] {
        let mut r = [0; REGISTERS];
        r.copy_from_slice(&self.u[..REGISTERS]);
        r
    }

    /// Set the ISA's registers (`r0` stays zero).
    pub fn set_registers(&mut self, registers: &[i64; REGISTERS]) {
        self.u[..REGISTERS].copy_from_slice(registers);
        self.u[0] = 0;
    }

    fn index(&self, r: Reg) -> usize {
        match r {
            Reg::U(n) => n as usize,
            Reg::X(k) => self.x[k as usize] as usize,
        }
    }

    fn read(&self, r: Reg) -> i64 {
        self.u[self.index(r)]
    }

    fn write(&mut self, r: Reg, v: i64) {
        let i = self.index(r);
        if i != 0 {
            self.u[i] = v;
        }
    }

    /// Run a token step of `program` (encoded instructions) for `token` at `pos`: the registers
    /// cleared but for the position and the token (in [`START_CYCLES`]), then every instruction
    /// in order to `end`. Returns the next token and the cycles.
    pub fn token_step(
        &mut self,
        program: &[u128],
        token: u32,
        pos: usize,
        vector: &mut [i32],
        matrix: &mut [i8],
    ) -> Result<(i64, u64), String> {
        let mut registers = [0; REGISTERS];
        registers[REG_POS as usize] = pos as i64;
        registers[REG_TOKEN as usize] = token as i64;
        self.set_registers(&registers);
        let mut cycles = START_CYCLES;
        for (index, &instruction) in program.iter().enumerate() {
            let done = self
                .run(instruction, pos, vector, matrix)
                .map_err(|e| format!("instruction {index}: {e}"))?;
            cycles += done.cycles;
            if let Some(next) = done.token {
                return Ok((next, cycles));
            }
        }
        Err("the program has no `end`".into())
    }

    /// The matrix byte at the cursor's word `word + k` and lane `lane`.
    fn byte_at(&self, k: usize, lane: usize) -> usize {
        (self.word + k) * self.lanes + lane
    }

    fn step(&mut self, step: Step) {
        match step {
            Step::Word => self.word += 1,
            Step::Lane => {
                self.lane += 1;
                if self.lane == self.lanes {
                    self.lane = 0;
                    self.word += 1;
                }
            }
        }
    }

    /// Execute `instruction` (encoded) at position `pos` on the vector space and the matrix
    /// memory: its routine from dispatch to `Done` (or `Finish`).
    pub fn run(
        &mut self,
        instruction: u128,
        pos: usize,
        vector: &mut [i32],
        matrix: &mut [i8],
    ) -> Result<Executed, String> {
        let p = program();
        let opcode = (instruction & 0xff) as usize;
        let mut pc = p.entry[opcode]
            .ok_or_else(|| format!("the small core has no routine for opcode {opcode:#04x}"))?
            as usize;
        let mut cycles = DISPATCH_CYCLES;
        loop {
            let encoded = p.rom.get(pc).ok_or("ran past the ROM")?.encode();
            let MicroWord { op, ends_loop } =
                MicroWord::decode(encoded).ok_or("an undecodable ROM word")?;
            cycles += MICRO_OP_CYCLES;
            pc += 1;
            // The end of the innermost loop's body, after the operation below.
            let close = |m: &mut MicroMachine, pc: &mut usize| -> Result<(), String> {
                let &(counter, back) = m.loops.last().ok_or("a loop's end outside a loop")?;
                let c = &mut m.counter[counter as usize];
                *c -= 1;
                if *c != 0 {
                    *pc = back;
                } else {
                    m.loops.pop();
                }
                Ok(())
            };
            match op {
                MicroOp::Alu { f, dst, a, b } => {
                    let b = match b {
                        Operand::R(r) => self.read(r),
                        Operand::Imm(i) => i as i64,
                    };
                    let (v, flag) = f.apply(self.read(a), b, self.flag);
                    self.flag = flag;
                    self.write(dst, v);
                }
                MicroOp::Field { dst, field } => self.write(dst, field.extract(instruction)),
                MicroOp::Length { dst, field } => {
                    self.write(dst, length(field.extract(instruction), pos) as i64)
                }
                MicroOp::Index { latch, field } => {
                    self.x[latch as usize] = field.extract(instruction) as u8
                }
                MicroOp::Lookup { dst, a, table } => {
                    let entries = table.entries();
                    let i = self.read(a) as usize & (entries.len().next_power_of_two() - 1);
                    self.write(dst, entries.get(i).copied().unwrap_or(0) as i64);
                }
                MicroOp::Point { ptr, a } => {
                    let at = self.read(a);
                    self.ptr[ptr as usize] =
                        usize::try_from(at).map_err(|_| format!("pointer to element {at}"))?;
                }
                MicroOp::Load { dst, ptr } => {
                    let at = self.ptr[ptr as usize];
                    let v = *vector
                        .get(at)
                        .ok_or_else(|| format!("load from element {at}"))?;
                    self.write(dst, v as i64);
                    self.ptr[ptr as usize] += 1;
                }
                MicroOp::Store { ptr, a } => {
                    let at = self.ptr[ptr as usize];
                    *vector
                        .get_mut(at)
                        .ok_or_else(|| format!("store to element {at}"))? = self.read(a) as i32;
                    self.ptr[ptr as usize] += 1;
                }
                MicroOp::Loop {
                    counter,
                    count,
                    exit,
                } => {
                    let n = count.of(count.field.extract(instruction), pos, self.lanes);
                    self.counter[counter as usize] = n;
                    if n == 0 {
                        pc = exit as usize;
                    } else {
                        if self.loops.len() == COUNTERS {
                            return Err("loops nested deeper than the counters".into());
                        }
                        self.loops.push((counter, pc));
                    }
                }
                MicroOp::Skip { field, to } => {
                    if field.extract(instruction) != 0 {
                        pc = to as usize;
                    }
                }
                MicroOp::Next { counter, back } => {
                    if self.loops.last() != Some(&(counter, back as usize)) {
                        return Err(format!("a Next on counter {counter} outside its loop"));
                    }
                    close(self, &mut pc)?;
                }
                MicroOp::Position { dst, part } => self.write(dst, part.of(pos, self.lanes)),
                MicroOp::Cursor { word, lane } => {
                    let at = self.read(word);
                    self.word =
                        usize::try_from(at).map_err(|_| format!("cursor at matrix word {at}"))?;
                    self.lane = self.read(lane) as usize % self.lanes;
                }
                MicroOp::LoadByte { dst, step } => {
                    let at = self.byte_at(0, self.lane);
                    let v = *matrix
                        .get(at)
                        .ok_or_else(|| format!("load from matrix byte {at}"))?;
                    self.write(dst, v as i64);
                    self.step(step);
                }
                MicroOp::StoreByte { a, step } => {
                    let at = self.byte_at(0, self.lane);
                    *matrix
                        .get_mut(at)
                        .ok_or_else(|| format!("store to matrix byte {at}"))? = self.read(a) as i8;
                    self.step(step);
                }
                MicroOp::MacClear => {
                    self.acc.fill(0);
                    self.lane_counter = 0;
                }
                MicroOp::Mac { ptr } => {
                    let at = self.ptr[ptr as usize];
                    let x = *vector
                        .get(at)
                        .ok_or_else(|| format!("load from element {at}"))?
                        as i64;
                    let w = matrix
                        .get(self.byte_at(0, 0)..self.byte_at(1, 0))
                        .ok_or_else(|| format!("load from matrix word {}", self.word))?;
                    for (a, &w) in self.acc.iter_mut().zip(w) {
                        *a += w as i64 * x;
                    }
                    self.word += 1;
                    self.ptr[ptr as usize] += 1;
                }
                MicroOp::Limit { count } => {
                    self.limit = count.of(count.field.extract(instruction), pos, self.lanes)
                }
                MicroOp::Drain { ptr } => {
                    if self.limit > 0 {
                        let at = self.ptr[ptr as usize];
                        *vector
                            .get_mut(at)
                            .ok_or_else(|| format!("store to element {at}"))? =
                            self.acc[self.lane_counter % self.lanes] as i32;
                        self.ptr[ptr as usize] += 1;
                        self.limit -= 1;
                    }
                    self.lane_counter += 1;
                }
                MicroOp::LoadX { ptr } => {
                    let x = if self.limit > 0 {
                        let at = self.ptr[ptr as usize];
                        self.ptr[ptr as usize] += 1;
                        self.limit -= 1;
                        *vector
                            .get(at)
                            .ok_or_else(|| format!("load from element {at}"))?
                            as i64
                    } else {
                        0
                    };
                    self.xs[self.lane_counter % self.lanes] = x;
                    self.lane_counter += 1;
                }
                MicroOp::Dot { dst } => {
                    let w = matrix
                        .get(self.byte_at(0, 0)..self.byte_at(1, 0))
                        .ok_or_else(|| format!("load from matrix word {}", self.word))?;
                    let dot = w.iter().zip(&self.xs).map(|(&w, &x)| w as i64 * x).sum();
                    self.write(dst, dot);
                    self.word += 1;
                }
                MicroOp::Finish { a } => {
                    return Ok(Executed {
                        cycles,
                        token: Some(self.read(a)),
                    })
                }
                MicroOp::Done => {
                    if !self.loops.is_empty() {
                        return Err("a routine done inside a loop".into());
                    }
                    return Ok(Executed {
                        cycles,
                        token: None,
                    });
                }
            }
            if ends_loop {
                close(self, &mut pc)?;
            }
        }
    }
}
