//! The small core's routines against the instruction-set simulator: for every instruction,
//! random operands (seeded) executed both ways must leave the same
//! registers and the same vector space, and the micro-machine must take the cycles
//! `contract::micro::cycles` counts from the routine's structure.

mod common;

use common::cases::{
    checked_operands, fill, hint_registers, iss_for, registers, small_target,
    tales_nano_on_icebreaker, value,
};
use common::Rng;
use monorail_contract::isa::{Instr, Op, SPECS};
use monorail_contract::micro::{cycles, program};
use monorail_sim::micro::MicroMachine;
use monorail_sim::{Iss, Machine};

#[test]
fn every_routine_computes_what_the_iss_computes_in_the_cycles_counted() {
    for lanes in [4, 8] {
        routines_against_the_iss(lanes);
    }
}

fn routines_against_the_iss(lanes: usize) {
    let target = small_target(lanes, 2048);
    let mut iss = iss_for(&target);
    let mut rng = Rng(0x5eed_0001 + lanes as u64);
    let mut report = Vec::new();
    for spec in SPECS {
        let (mut ran, mut faulted) = (0, 0);
        for case in 0..1000 {
            let pos = rng.range(0, 12) as usize;
            let op = checked_operands(&mut rng, spec, &target, pos);
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
    let (target, bundle, program) = tales_nano_on_icebreaker();
    let predicted = bundle.manifest.predicted_cycles.clone();
    let mut iss = Iss::new(target.clone(), bundle).unwrap();
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
