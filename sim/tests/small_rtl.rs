//! The small core's RTL in Verilator against its definitions in `contract::micro`
//! (`docs/small-core.md`): the ALU, every function on the datapath's extreme values and on
//! seeded random ones; the core, every routine on random operands against the micro-machine,
//! and token steps of `tales-nano` against the ISS, in the cycles the compiler predicted.

mod common;

use common::cases::{
    checked_operands, fill, hint_registers, iss_for, registers, small_target,
    tales_nano_on_icebreaker, value,
};
use common::{build_root, Rng};
use monorail_contract::isa::{Instr, REGISTERS, SPECS};
use monorail_contract::micro::{cycles, sign_extend, AluFn, DATAPATH_BITS, INSTRUCTION_ELEMENTS};
use monorail_contract::target::Target;
use monorail_sim::micro::MicroMachine;
use monorail_sim::verilated::{build, Model, PortId, Waveforms};
use monorail_sim::{Iss, Machine};

/// Values where a 48-bit datapath breaks first: zero, one, the ends of the register, of the
/// multiplier's 18 bits and of an element's 32, and shift amounts around the width.
fn edges() -> Vec<i64> {
    let top = (1i64 << (DATAPATH_BITS - 1)) - 1;
    let mut v = vec![
        0,
        1,
        -1,
        2,
        -2,
        top,
        -top,
        -top - 1,
        131_071,
        -131_072,
        65_535,
    ];
    v.extend([
        i32::MAX as i64,
        i32::MIN as i64,
        1 << 46,
        -(1 << 46),
        1 << 17,
        1 << 32,
    ]);
    v.extend((-70..=70).step_by(1));
    v
}

#[test]
fn the_alu_computes_every_function_as_the_micro_isa_defines_it() {
    let verilog = monorail_hw::small::alu("top");
    let built = build(&verilog, "small-alu", Waveforms::Off, &build_root())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut model = Model::load(&built, &[]).unwrap();
    let mask = (1u64 << DATAPATH_BITS) - 1;
    let mut rng = Rng(0x0a1);
    let edges = edges();
    let mut cases = 0;
    for (code, &f) in AluFn::ALL.iter().enumerate() {
        let mut pairs: Vec<(i64, i64)> = Vec::new();
        for &a in &edges {
            for &b in &edges {
                pairs.push((a, b));
            }
        }
        for _ in 0..2000 {
            let a = sign_extend((rng.next() << 31 ^ rng.next()) as i64, DATAPATH_BITS);
            let b = match rng.range(0, 2) {
                0 => rng.range(-80, 80),
                1 => sign_extend(rng.next() as i64, 18),
                _ => sign_extend((rng.next() << 31 ^ rng.next()) as i64, DATAPATH_BITS),
            };
            pairs.push((a, b));
        }
        // Every pair with the flag clear and set (only Sel reads it).
        let flags: &[bool] = if f == AluFn::Sel {
            &[false, true]
        } else {
            &[false]
        };
        for (&(a, b), &flag_in) in pairs
            .iter()
            .flat_map(|p| flags.iter().map(move |fl| (p, fl)))
        {
            model.set("f", code as u64).unwrap();
            model.set("a", a as u64 & mask).unwrap();
            model.set("b", b as u64 & mask).unwrap();
            model.set("flag_in", flag_in as u64).unwrap();
            model.tick(1);
            let result = sign_extend(model.get("result").unwrap() as i64, DATAPATH_BITS);
            let flag = model.get("flag").unwrap() != 0;
            assert_eq!(
                (result, flag),
                f.apply(a, b, flag_in),
                "{f:?}({a}, {b}) with the flag {flag_in}"
            );
            cases += 1;
        }
    }
    eprintln!("{cases} cases");
}

/// The small core of a target in Verilator, driven through its load-and-inspect ports.
struct SmallCore {
    model: Model,
    target: Target,
    /// Ports looked up once. // (name,)
    ports: std::collections::HashMap<&'static str, PortId>,
}

/// What a run of the core left.
#[derive(Debug, PartialEq, Eq)]
struct Ran {
    /// Clock cycles from the first cycle after `start` to the one that raised `done`.
    cycles: u64,
    /// The core's own count (`out_cycles`).
    counted: u64,
    token: u64,
    aborted: bool,
}

impl SmallCore {
    fn new(target: &Target, name: &str) -> SmallCore {
        let verilog = monorail_hw::small::core(target, "top");
        let built =
            build(&verilog, name, Waveforms::Off, &build_root()).unwrap_or_else(|e| panic!("{e}"));
        let model = Model::load(&built, &[]).unwrap();
        let names = [
            "reset",
            "start",
            "start_one",
            "start_pos",
            "start_token",
            "busy",
            "done",
            "aborted",
            "out_token",
            "out_cycles",
            "mem_addr",
            "vector_write",
            "matrix_write",
            "vector_wdata",
            "matrix_wdata",
            "vector_rdata",
            "matrix_rdata",
            "reg_addr",
            "reg_write",
            "reg_wdata",
            "reg_rdata",
        ];
        let ports = names
            .iter()
            .map(|&n| (n, model.port_id(n).unwrap()))
            .collect();
        let mut core = SmallCore {
            model,
            target: target.clone(),
            ports,
        };
        core.set("reset", 1);
        core.model.tick(2);
        core.set("reset", 0);
        core
    }

    fn set(&mut self, port: &str, value: u64) {
        let id = self.ports[port];
        self.model.set_id(id, value);
    }

    fn get(&mut self, port: &str) -> u64 {
        let id = self.ports[port];
        self.model.read(id)
    }

    fn write_vector(&mut self, at: usize, value: u32) {
        self.set("mem_addr", at as u64);
        self.set("vector_wdata", value as u64);
        self.set("vector_write", 1);
        self.model.tick(1);
        self.set("vector_write", 0);
    }

    fn read_vector(&mut self, at: usize) -> i32 {
        self.set("mem_addr", at as u64);
        self.model.tick(1);
        self.get("vector_rdata") as u32 as i32
    }

    /// Matrix word `word` from its lanes' bytes.
    fn write_matrix(&mut self, word: usize, bytes: &[i8]) {
        let packed = bytes
            .iter()
            .rev()
            .fold(0u64, |w, &b| w << 8 | b as u8 as u64);
        self.set("mem_addr", word as u64);
        self.set("matrix_wdata", packed);
        self.set("matrix_write", 1);
        self.model.tick(1);
        self.set("matrix_write", 0);
    }

    fn read_matrix(&mut self, word: usize) -> Vec<i8> {
        self.set("mem_addr", word as u64);
        self.model.tick(1);
        let packed = self.get("matrix_rdata");
        (0..self.target.lanes)
            .map(|l| (packed >> (8 * l)) as u8 as i8)
            .collect()
    }

    fn write_register(&mut self, r: usize, value: i64) {
        self.set("reg_addr", r as u64);
        self.set("reg_wdata", value as u64 & ((1 << DATAPATH_BITS) - 1));
        self.set("reg_write", 1);
        self.model.tick(1);
        self.set("reg_write", 0);
    }

    fn read_register(&mut self, r: usize) -> i64 {
        self.set("reg_addr", r as u64);
        self.model.tick(1);
        sign_extend(self.get("reg_rdata") as i64, DATAPATH_BITS)
    }

    /// Instruction `index` of the program: its four 32-bit elements after the vector space.
    fn write_instruction(&mut self, index: usize, word: u128) {
        let base = self.target.vector_space() + INSTRUCTION_ELEMENTS * index;
        for k in 0..INSTRUCTION_ELEMENTS {
            self.write_vector(base + k, (word >> (32 * k)) as u32);
        }
    }

    fn load(&mut self, vector: &[i32], matrix: &[i8]) {
        for (at, &v) in vector.iter().enumerate() {
            self.write_vector(at, v as u32);
        }
        let lanes = self.target.lanes;
        for (word, bytes) in matrix.chunks(lanes).enumerate() {
            self.write_matrix(word, bytes);
        }
    }

    /// Start (`start` or `start_one`) at `pos` with `token`, and run until `done`, at most
    /// `limit` cycles.
    fn run(&mut self, how: &str, pos: usize, token: u32, limit: u64) -> Ran {
        self.set("start_pos", pos as u64);
        self.set("start_token", token as u64);
        self.set(how, 1);
        self.model.tick(1);
        self.set(how, 0);
        let mut cycles = 0;
        loop {
            self.model.tick(1);
            cycles += 1;
            if self.get("done") != 0 {
                break;
            }
            assert!(cycles < limit, "no `done` after {limit} cycles");
        }
        Ran {
            cycles,
            counted: self.get("out_cycles"),
            token: self.get("out_token"),
            aborted: self.get("aborted") != 0,
        }
    }

    /// Run a token step expected to take `expected` cycles: `done` must come on the last.
    fn token_step(&mut self, pos: usize, token: u32, expected: u64) -> Ran {
        self.set("start_pos", pos as u64);
        self.set("start_token", token as u64);
        self.set("start", 1);
        self.model.tick(1);
        self.set("start", 0);
        self.model.tick(expected - 1);
        assert_eq!(
            self.get("busy"),
            1,
            "position {pos}: done before {expected} cycles"
        );
        self.model.tick(1);
        assert_eq!(
            self.get("done"),
            1,
            "position {pos}: not done after {expected} cycles"
        );
        Ran {
            cycles: expected,
            counted: self.get("out_cycles"),
            token: self.get("out_token"),
            aborted: self.get("aborted") != 0,
        }
    }
}

#[test]
fn the_small_core_runs_every_routine_as_the_micro_machine_does() {
    for lanes in [4, 8] {
        routines_against_the_micro_machine(lanes);
    }
}

/// Every routine on random operands (those the ISS runs without a fault), one after another on
/// the RTL and on the micro-machine from the same state: the same registers, memories, token
/// and cycles.
fn routines_against_the_micro_machine(lanes: usize) {
    let target = small_target(lanes, 256);
    let mut core = SmallCore::new(&target, &format!("small-core-{lanes}"));
    let mut rng = Rng(0x5c0_0000 + lanes as u64);
    let mut vector = vec![0; target.vector_space()];
    fill(&mut rng, &target, &mut vector);
    let mut matrix: Vec<i8> = (0..target.matrix_bytes())
        .map(|_| value(&mut rng, 8) as i8)
        .collect();
    core.load(&vector, &matrix);
    let mut iss = iss_for(&target);
    let mut micro = MicroMachine::new(lanes);
    let mut ran = 0;
    for spec in SPECS {
        let ran_before = ran;
        for case in 0..60 {
            let pos = rng.range(0, 12) as usize;
            let op = checked_operands(&mut rng, spec, &target, pos);
            let mut before = registers(&mut rng);
            hint_registers(&mut rng, &op, &mut before, &vector, pos);
            // Only what the ISS runs: its checks are what keep the multiplicands int8.
            let (vector_iss, matrix_iss) = iss.memories_mut();
            vector_iss.copy_from_slice(&vector);
            matrix_iss.copy_from_slice(&matrix);
            if iss.execute_with(&op, pos, &mut before.clone()).is_err() {
                continue;
            }
            let context = format!("{lanes} lanes, case {case}: `{}` at {pos}", Instr::new(op));
            let word = Instr::new(op).encode().unwrap();
            let (vector_before, matrix_before) = (vector.clone(), matrix.clone());
            micro.set_registers(&before);
            let expected = micro
                .run(word, pos, &mut vector, &mut matrix)
                .unwrap_or_else(|e| panic!("{context}: {e}"));

            for (r, &v) in before.iter().enumerate().skip(1) {
                core.write_register(r, v);
            }
            core.write_instruction(0, word);
            let done = core.run("start_one", pos, 0, 1 << 20);
            assert!(!done.aborted, "{context}: aborted");
            assert_eq!(
                (done.cycles, done.counted),
                (expected.cycles, expected.cycles),
                "{context}: cycles"
            );
            assert_eq!(done.cycles, cycles(&op, lanes, pos), "{context}");
            if let Some(token) = expected.token {
                assert_eq!(done.token, token as u64 & 0xffff, "{context}: token");
            }
            let after = micro.registers();
            for (r, &v) in after.iter().enumerate().take(REGISTERS) {
                assert_eq!(core.read_register(r), v, "{context}: r{r}");
            }
            // What the routine wrote, and now and then everything.
            let everything = ran % 16 == 15;
            for e in 0..vector.len() {
                if everything || vector[e] != vector_before[e] {
                    assert_eq!(core.read_vector(e), vector[e], "{context}: element {e}");
                }
            }
            for w in 0..target.matrix_words() {
                let bytes = &matrix[w * lanes..][..lanes];
                if everything || bytes != &matrix_before[w * lanes..][..lanes] {
                    assert_eq!(core.read_matrix(w), bytes, "{context}: matrix word {w}");
                }
            }
            ran += 1;
        }
        // Random operands fault on the ISS now and then; most run.
        let of_this = ran - ran_before;
        assert!(of_this >= 12, "{}: only {of_this} cases ran", spec.mnemonic);
    }
    eprintln!("{lanes} lanes: {ran} instructions run alike");
}

#[test]
fn the_small_core_tells_the_tales_nano_story_in_the_cycles_predicted() {
    // The built-in sibling model compiled for the iCEBreaker, its bundle loaded into the
    // iCEBreaker's small core: each token step leaves the ISS's token in the cycles the
    // compiler predicted, and then the same vector space and matrix memory (the cache).
    let (target, bundle, program) = tales_nano_on_icebreaker();
    let predicted = bundle.manifest.predicted_cycles.clone();
    let mut iss = Iss::new(target.clone(), bundle).unwrap();
    let mut core = SmallCore::new(&target, "small-core-icebreaker");
    core.load(iss.vector(), iss.matrix());
    for (index, &word) in program.iter().enumerate() {
        core.write_instruction(index, word);
    }
    let mut token = 1;
    let (mut simulated, mut cycles) = (std::time::Duration::ZERO, 0);
    for (pos, &predicted) in predicted.iter().enumerate().take(6) {
        let expected = iss.step(token, pos).unwrap();
        assert_eq!(expected.cycles, predicted, "position {pos}: the ISS");
        let started = std::time::Instant::now();
        let done = core.token_step(pos, token, predicted);
        simulated += started.elapsed();
        cycles += predicted;
        assert!(!done.aborted, "position {pos}: aborted");
        assert_eq!(done.counted, predicted, "position {pos}: the core's count");
        assert_eq!(done.token, expected.next as u64, "position {pos}: token");
        token = expected.next;
    }
    eprintln!(
        "icebreaker small core in Verilator: {cycles} cycles in {:.2} s, {:.2} million cycles/s",
        simulated.as_secs_f64(),
        cycles as f64 / simulated.as_secs_f64() / 1e6
    );
    let lanes = target.lanes;
    for (e, &v) in iss.vector().iter().enumerate() {
        assert_eq!(core.read_vector(e), v, "element {e}");
    }
    for (w, bytes) in iss.matrix().chunks(lanes).enumerate() {
        assert_eq!(core.read_matrix(w), bytes, "matrix word {w}");
    }
}

#[test]
fn a_token_step_starts_from_the_position_and_the_token_and_stops_on_a_bad_program() {
    let target = small_target(4, 256);
    let mut core = SmallCore::new(&target, "small-core-4");
    let assembled = |text: &str| -> Vec<u128> {
        monorail_contract::isa::assemble(text)
            .unwrap()
            .iter()
            .map(|i| i.encode().unwrap())
            .collect()
    };
    let load = |core: &mut SmallCore, program: &[u128]| {
        for (i, &w) in program.iter().enumerate() {
            core.write_instruction(i, w);
        }
    };
    // A step starts with r1 the position, r2 the token and r7 zero (whatever it held).
    let text = "add dst=r5 a=r1 b=r2\nadd dst=r5 a=r5 b=r7\nend token=r5";
    load(&mut core, &assembled(text));
    core.write_register(7, 1000);
    let instrs = monorail_contract::isa::assemble(text).unwrap();
    for (pos, token) in [(0, 7), (9, 300)] {
        let expected = monorail_contract::timing::token_cycles(&instrs, &target, pos).unwrap();
        let done = core.token_step(pos, token, expected);
        assert_eq!(
            (done.token, done.counted),
            (pos as u64 + token as u64, expected)
        );
        assert!(!done.aborted);
    }
    // A program without `end` stops after its last instruction, `aborted` set.
    load(&mut core, &assembled(&"add dst=r5 a=r1 b=r2\n".repeat(4)));
    let done = core.run("start", 3, 1, 1000);
    assert!(done.aborted, "{done:?}");
    assert_eq!(done.counted, done.cycles);
    // So does an opcode that has no routine, after its dispatch.
    core.write_instruction(0, 0xff);
    let done = core.run("start", 3, 1, 1000);
    assert!(done.aborted, "{done:?}");
    use monorail_contract::micro::{DISPATCH_CYCLES, START_CYCLES};
    assert_eq!(
        (done.cycles, done.counted),
        (
            START_CYCLES + DISPATCH_CYCLES,
            START_CYCLES + DISPATCH_CYCLES
        )
    );
}
