//! The small core's routines against the instruction-set simulator: for every instruction,
//! random operands (seeded) executed both ways must leave the same
//! registers and the same vector space, and the micro-machine must take the cycles
//! `contract::micro::cycles` counts from the routine's structure.

mod common;

use common::Rng;
use monorail_contract::isa::{
    length, FieldKind, Instr, Op, OpSpec, LEN_POSITIONS_FLAG, REGISTERS, SPECS,
};
use monorail_contract::micro::{cycles, program};
use monorail_contract::numerics::{bit_length, magnitude};
use monorail_contract::target::{RawTarget, Target, VectorMemory};
use monorail_sim::micro::MicroMachine;
use monorail_sim::{Iss, Machine};

/// A value of a random width up to `bits` (signed), so that small and large values both come.
fn value(rng: &mut Rng, bits: u32) -> i64 {
    let width = rng.range(0, bits as i64 - 1);
    let top = (1i64 << width) - 1;
    rng.range(-top, top)
}

/// A start element in a random memory of the vector space with room for `n` elements.
fn element(rng: &mut Rng, target: &Target, n: usize) -> i64 {
    let memory = VectorMemory::ALL[rng.range(0, 3) as usize];
    let range = target.range_of(memory);
    rng.range(range.start as i64, (range.end - n) as i64)
}

/// Random operands for `spec`, lengths first so that addresses leave room for them.
fn operands(rng: &mut Rng, spec: &OpSpec, target: &Target, pos: usize) -> Op {
    let mut values = vec![0i64; spec.fields.len()];
    let mut longest = 1;
    for (i, f) in spec.fields.iter().enumerate() {
        if f.kind == FieldKind::N {
            let base = rng.range(0, 17);
            values[i] = if rng.range(0, 3) == 0 {
                base | LEN_POSITIONS_FLAG
            } else {
                base
            };
            longest = longest.max(monorail_contract::isa::length(values[i], pos));
        }
    }
    for (i, f) in spec.fields.iter().enumerate() {
        values[i] = match f.kind {
            FieldKind::N => values[i],
            // An optional register is left out (r0) half the time.
            FieldKind::R if f.optional && rng.range(0, 1) == 0 => 0,
            FieldKind::R => rng.range(0, REGISTERS as i64 - 1),
            FieldKind::V => element(rng, target, longest),
            FieldKind::M => rng.range(0, target.matrix_words() as i64 - 1),
            FieldKind::U => rng.range(0, (1 << f.bits.min(40)) - 1) >> rng.range(0, f.bits as i64),
            FieldKind::I => value(rng, f.bits.min(48)),
        };
    }
    Op::from_values(spec.opcode, &values).expect("a value per field")
}

/// Registers as a program leaves them: small counts and exponents, mantissas, wide sums.
fn registers(rng: &mut Rng) -> [i64; REGISTERS] {
    let mut r = [0i64; REGISTERS];
    for v in r.iter_mut().skip(1) {
        *v = match rng.range(0, 2) {
            0 => rng.range(-40, 40),
            1 => value(rng, 18),
            _ => value(rng, 41),
        };
    }
    r
}

/// Fill the vector space with values each memory holds.
fn fill(rng: &mut Rng, target: &Target, vector: &mut [i32]) {
    for memory in VectorMemory::ALL {
        for v in &mut vector[target.range_of(memory)] {
            *v = value(rng, memory.bits()) as i32;
        }
    }
}

/// A target of small memories (each case copies them) and the fewest vector lanes (so that
/// random operands rarely break the lane rule of streamed operands, which the small core has no
/// use for).
fn small_target(lanes: usize) -> Target {
    let text = r#"
        name = "micro-test"
        description = "small memories for the micro-machine's tests"
        lanes = LANES
        vector_lanes = 2
        clock_hz = 12_000_000
        [memory]
        matrix_tiles = 1
        matrix_tile_words = 2048
        vector_words = 2048
        accumulator_words = 512
        wide_words = 512
        input_words = 512
        program_words = 256
    "#;
    RawTarget::parse(&text.replace("LANES", &lanes.to_string()))
        .unwrap()
        .validate()
        .unwrap()
}

/// Registers that hold what a program puts in them: an offset in a matrix offset register,
/// exponents in exponent registers, and in `norm`'s `mag` the magnitude of its input (or a
/// longer one), so that the cases run rather than fault.
fn hint_registers(
    rng: &mut Rng,
    op: &Op,
    registers: &mut [i64; REGISTERS],
    vector: &[i32],
    pos: usize,
) {
    let spec = op.spec();
    for (i, f) in spec.fields.iter().enumerate() {
        let r = op.value(i) as usize;
        if f.kind != FieldKind::R || r == 0 {
            continue;
        }
        match (spec.mnemonic, f.name) {
            (_, "wreg") => registers[r] = rng.range(0, 64),
            (_, "ein" | "ea" | "eb" | "e" | "shift" | "off") | ("shrv", "s") => {
                registers[r] = rng.range(-40, 40)
            }
            ("norm", "mag") => {
                let (src, n) = (op.value(1) as usize, length(op.value(2), pos));
                let m = magnitude(vector[src..src + n].iter().map(|&v| v as i64));
                let longer = rng.range(0, 31 - bit_length(m) as i64);
                registers[r] = (m | (1 << longer >> 1)) as i64;
            }
            _ => {}
        }
    }
}

#[test]
fn every_routine_computes_what_the_iss_computes_in_the_cycles_counted() {
    for lanes in [4, 8] {
        routines_against_the_iss(lanes);
    }
}

fn routines_against_the_iss(lanes: usize) {
    let target = small_target(lanes);
    let bundle = common::bundle(
        &target,
        "end token=r0",
        vec![0; target.matrix_bytes()],
        vec![0; target.vector_space()],
    );
    let mut iss = Iss::new(target.clone(), bundle).unwrap();
    let mut rng = Rng(0x5eed_0001 + lanes as u64);
    let mut report = Vec::new();
    for spec in SPECS {
        let (mut ran, mut faulted) = (0, 0);
        for case in 0..1000 {
            let pos = rng.range(0, 12) as usize;
            // Operands the ISA allows (the checks every loaded program passes).
            let Some(op) = (0..1000)
                .map(|_| operands(&mut rng, spec, &target, pos))
                .find(|op| op.check(&target, pos).is_ok())
            else {
                panic!("{}: no operands pass the checks", spec.mnemonic)
            };
            let (vector_iss, matrix_iss) = iss.memories_mut();
            fill(&mut rng, &target, vector_iss);
            for w in matrix_iss.iter_mut() {
                *w = value(&mut rng, 8) as i8;
            }
            let vector_before = vector_iss.to_vec();
            let matrix_before = matrix_iss.to_vec();
            // The registers after the memories, whose values the hints read.
            let mut before = registers(&mut rng);
            hint_registers(&mut rng, &op, &mut before, &vector_before, pos);

            let mut expected = before;
            if iss.execute_with(&op, pos, &mut expected).is_err() {
                faulted += 1;
                continue;
            }
            ran += 1;
            let word = Instr::new(op).encode().unwrap();
            let mut micro = MicroMachine::new(target.lanes);
            micro.set_registers(&before);
            let (mut vector, mut matrix) = (vector_before, matrix_before);
            let done = micro
                .run(word, pos, &mut vector, &mut matrix)
                .unwrap_or_else(|e| panic!("case {case}: `{op:?}` at {pos}: {e}"));
            let context = || format!("case {case}: `{}` at position {pos}", Instr::new(op));
            assert_eq!(micro.registers(), expected, "{}: registers", context());
            let (vector_iss, matrix_iss) = iss.memories_mut();
            if let Some(e) = (0..vector.len()).find(|&e| vector[e] != vector_iss[e]) {
                panic!(
                    "{}: element {e} is {} on the micro-machine, {} on the ISS",
                    context(),
                    vector[e],
                    vector_iss[e]
                );
            }
            if let Some(b) = (0..matrix.len()).find(|&b| matrix[b] != matrix_iss[b]) {
                panic!(
                    "{}: matrix byte {b} is {} on the micro-machine, {} on the ISS",
                    context(),
                    matrix[b],
                    matrix_iss[b]
                );
            }
            let counted = cycles(&op, target.lanes, pos);
            assert_eq!(done.cycles, counted, "{}: cycles", context());
            if let Op::End { token } = op {
                assert_eq!(done.token, Some(before[token as usize]));
            }
        }
        // Random operands fault now and then (a product too wide for its memory); most run.
        assert!(
            ran >= 60,
            "{}: {ran} cases ran, {faulted} faulted",
            spec.mnemonic
        );
        report.push(format!("{} {ran}", spec.mnemonic));
    }
    eprintln!(
        "{lanes} lanes: cases run: {}; micro-program: {} words",
        report.join(", "),
        program().rom.len()
    );
}

#[test]
fn the_small_core_tells_the_tales_nano_story_the_iss_tells_in_the_cycles_predicted() {
    // The built-in sibling model compiled for the iCEBreaker's small core: each token step run
    // by the micro-program, beside the ISS, leaves the same token, vector space and matrix
    // memory (the cache), in the cycles the compiler predicted.
    let target = Target::builtin("icebreaker").unwrap();
    let (checkpoint, _) = monorail_model::builtin::by_name("tales-nano")
        .unwrap()
        .load()
        .unwrap();
    let quant = monorail_model::quant::QuantModel::quantize(&checkpoint);
    let compiled = monorail_compiler::compile(&quant, &target, Default::default()).unwrap();
    let program: Vec<u128> = compiled
        .bundle
        .program
        .iter()
        .map(|i| i.encode().unwrap())
        .collect();
    let predicted = compiled.bundle.manifest.predicted_cycles.clone();
    let mut iss = Iss::new(target.clone(), compiled.bundle).unwrap();
    let (mut vector, mut matrix) = (iss.vector().to_vec(), iss.matrix().to_vec());
    let mut micro = MicroMachine::new(target.lanes);
    let mut token = 1;
    for (pos, &predicted) in predicted.iter().enumerate().take(24) {
        let expected = iss.step(token, pos).unwrap();
        let (next, cycles) = micro
            .token_step(&program, token, pos, &mut vector, &mut matrix)
            .unwrap();
        assert_eq!(next, expected.next as i64, "position {pos}: token");
        assert_eq!(cycles, expected.cycles, "position {pos}: cycles");
        assert_eq!(cycles, predicted, "position {pos}: predicted cycles");
        assert!(vector == iss.vector(), "position {pos}: vector space");
        assert!(matrix == iss.matrix(), "position {pos}: matrix memory");
        token = expected.next;
    }
}
