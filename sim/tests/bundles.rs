//! Malformed bundles are refused with the file and the reason.

use std::path::Path;

use monorail_compiler::{compile, CompileOptions, Compiled};
use monorail_contract::bundle::BUNDLE_VERSION;
use monorail_contract::target::Target;
use monorail_model::quant::QuantModel;
use monorail_model::synth;
use monorail_sim::{Iss, Machine};

/// A seeded nano model compiled for built-in target `target`.
fn seeded_nano_on(target: &str, seed: u64) -> (Target, Compiled) {
    let config = synth::parse_shape("nano").unwrap();
    let quant = QuantModel::quantize(&synth::synthesize(config, seed));
    let target = Target::builtin(target).unwrap();
    let compiled = compile(&quant, &target, CompileOptions::default()).unwrap();
    (target, compiled)
}

fn write_bundle(dir: &Path) -> Target {
    let (target, compiled) = seeded_nano_on("sim-tiny", 3);
    compiled.bundle.write(dir, &target).unwrap();
    target
}

fn refused(dir: &Path, target: &Target, needle: &str) {
    let err = match Iss::load(dir, target.clone()) {
        Ok(_) => panic!("a bad bundle was accepted ({needle})"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(needle), "{err} lacks {needle}");
}

#[test]
fn a_written_bundle_loads_and_runs() {
    let tmp = tempfile::TempDir::new().unwrap();
    let target = write_bundle(tmp.path());
    let mut iss = Iss::load(tmp.path(), target).unwrap();
    let r = iss.step(1, 0).unwrap();
    assert_eq!(r.cycles, iss.bundle().manifest.predicted_cycles[0]);
    assert!(iss
        .step(100_000, 1)
        .unwrap_err()
        .to_string()
        .contains("vocabulary"));
    assert!(iss.step(1, 64).unwrap_err().to_string().contains("context"));
}

#[test]
fn bundles_of_wide_targets_read_back_unchanged() {
    // 64 lanes: matrix words are 128 hex digits; 16 vector lanes of 18 bits, 72.
    let config = synth::parse_shape("stories260k").unwrap();
    let quant = QuantModel::quantize(&synth::synthesize(config, 4));
    let target = Target::builtin("ulx3s-85f").unwrap();
    let compiled = compile(&quant, &target, CompileOptions::default()).unwrap();
    let tmp = tempfile::TempDir::new().unwrap();
    compiled.bundle.write(tmp.path(), &target).unwrap();
    let read = monorail_contract::bundle::Bundle::read(tmp.path(), &target).unwrap();
    assert!(
        read == compiled.bundle,
        "the bundle changed on its way through the files"
    );
    let mut iss = Iss::load(tmp.path(), target).unwrap();
    assert_eq!(
        iss.step(1, 0).unwrap().cycles,
        read.manifest.predicted_cycles[0]
    );
}

#[test]
fn malformed_bundles_are_refused() {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path();
    let target = write_bundle(dir);
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(manifest.contains(from), "{from}");
        std::fs::write(dir.join("manifest.json"), manifest.replacen(from, to, 1)).unwrap();
    };
    edit("\"monorail-bundle\"", "\"other-bundle\"");
    refused(dir, &target, "magic");
    edit(&format!("\"version\": {BUNDLE_VERSION}"), "\"version\": 7");
    refused(dir, &target, "version 7");
    std::fs::write(dir.join("manifest.json"), &manifest).unwrap();
    refused(
        dir,
        &Target::builtin("ulx3s-85f").unwrap(),
        "recompile for this target",
    );
    let hash = format!("{:016x}", target.config_hash());
    edit(
        &format!("\"config_hash\": \"{hash}\""),
        "\"config_hash\": \"0123456789abcdef\"",
    );
    refused(
        dir,
        &target,
        &format!(
            "compiled for another definition of target sim-tiny (config 0123456789abcdef, \
             where the target's is {hash})"
        ),
    );
    std::fs::write(dir.join("manifest.json"), &manifest).unwrap();
    let program = std::fs::read(dir.join("program.bin")).unwrap();
    std::fs::write(dir.join("program.bin"), &program[..program.len() - 5]).unwrap();
    refused(
        dir,
        &target,
        &format!(
            "program.bin: {} bytes, not a whole number of 16-byte instructions: cut short?",
            program.len() - 5
        ),
    );
    std::fs::write(dir.join("program.bin"), &program[..program.len() - 16]).unwrap();
    refused(dir, &target, "the manifest says");
    let mut bad = program.clone();
    bad[0] = 0xee;
    std::fs::write(dir.join("program.bin"), &bad).unwrap();
    refused(dir, &target, "unknown opcode 0xee");
    // The `end` made a `nop` (opcode 0, its field a count): the step would never end.
    let mut endless = program.clone();
    let end = program
        .chunks(16)
        .rposition(|word| word[0] == 0x01)
        .unwrap();
    endless[end * 16] = 0x00;
    std::fs::write(dir.join("program.bin"), &endless).unwrap();
    refused(dir, &target, "program.bin: has no `end`");
    std::fs::write(dir.join("program.bin"), &program).unwrap();
    // Files far longer than the target's memories: refused by their length, before they are
    // read (sparse: they take no disk).
    for (file, says) in [
        ("program.bin", "67108864 instructions exceed the target's"),
        (
            "matrix_tile_00.hex",
            "more than this file of a bundle can be",
        ),
        ("vector.hex", "more than this file of a bundle can be"),
        ("manifest.json", "more than this file of a bundle can be"),
    ] {
        let kept = std::fs::read(dir.join(file)).unwrap();
        std::fs::File::options()
            .write(true)
            .open(dir.join(file))
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        refused(dir, &target, &format!("{file}: 1073741824 bytes"));
        refused(dir, &target, says);
        std::fs::write(dir.join(file), kept).unwrap();
    }
    edit("\"size\": 512", "\"size\": 99999999");
    refused(dir, &target, "lies outside the matrix memory");
    // A prediction edited by hand: the program's own cycles say otherwise.
    let first = monorail_contract::bundle::Manifest::read(dir)
        .unwrap()
        .predicted_cycles[0];
    edit(
        &format!("\"predicted_cycles\": [\n    {first},"),
        &format!("\"predicted_cycles\": [\n    {},", first - 1),
    );
    refused(
        dir,
        &target,
        &format!(
            "predicts {} cycles at position 0, and the program takes {first}",
            first - 1
        ),
    );
    // What the machines and the host take from the manifest as given: the context, the
    // checkpoints' steps and layers, and the logits' shape.
    let context = monorail_contract::bundle::Manifest::read(dir)
        .unwrap()
        .context;
    edit(&format!("\"context\": {context},"), "\"context\": 0,");
    refused(
        dir,
        &target,
        "context 0 is outside 1 ..= the model's seq_len",
    );
    edit("\"step\": \"final_norm\"", "\"step\": \"softmax\"");
    refused(dir, &target, "checkpoint softmax: no such model step");
    edit("\"layer\": 0", "\"layer\": 9");
    refused(dir, &target, "layer 9 is not one of the step's");
    edit("\"layer\": null", "\"layer\": 0");
    refused(
        dir,
        &target,
        "checkpoint embedding: layer 0 is not one of the step's",
    );
    // A field that the rules between fields would divide by.
    let n_heads = monorail_contract::bundle::Manifest::read(dir)
        .unwrap()
        .model
        .n_heads;
    edit(&format!("\"n_heads\": {n_heads},"), "\"n_heads\": 0,");
    refused(dir, &target, "model: `n_heads` is 0; it must be positive");
    edit("\"step\": \"classifier\"", "\"step\": \"final_norm\"");
    refused(
        dir,
        &target,
        "0 classifier checkpoints, where the host reads the logits from one",
    );
    let classifier = manifest.find("\"step\": \"classifier\"").unwrap();
    let vector = classifier + manifest[classifier..].find("\"vector\": ").unwrap();
    let digits = manifest[vector + 10..].find(',').unwrap();
    let register_logits = format!(
        "{}\"vector\": null{}",
        &manifest[..vector],
        &manifest[vector + 10 + digits..]
    );
    std::fs::write(dir.join("manifest.json"), register_logits).unwrap();
    refused(
        dir,
        &target,
        "checkpoint classifier: the host reads the vocabulary's 512 logits from vector memory, \
         with one exponent, where its parts hold 512 values, one of them in a register",
    );
    std::fs::write(dir.join("manifest.json"), &manifest).unwrap();
    let accumulator = std::fs::read_to_string(dir.join("accumulator.hex")).unwrap();
    std::fs::write(dir.join("accumulator.hex"), &accumulator[1..]).unwrap();
    refused(
        dir,
        &target,
        "accumulator.hex: line 1: expected 32 hex digits",
    );
    std::fs::write(dir.join("accumulator.hex"), &accumulator).unwrap();
    // Files of another compile, each well-formed: another model's weights, another program's
    // memory image beside this program.
    let other = tempfile::TempDir::new().unwrap();
    let (_, compiled) = seeded_nano_on("sim-tiny", 4);
    compiled.bundle.write(other.path(), &target).unwrap();
    for file in [
        "matrix_tile_00.hex",
        "vector.hex",
        "program.hex",
        "listing.s",
    ] {
        let mine = std::fs::read(dir.join(file)).unwrap();
        let theirs = std::fs::read(other.path().join(file)).unwrap();
        assert!(mine != theirs, "{file} is the same in both");
        std::fs::write(dir.join(file), theirs).unwrap();
        refused(
            dir,
            &target,
            &format!("{file}: not the file this bundle's manifest was written with"),
        );
        std::fs::write(dir.join(file), mine).unwrap();
    }
    // program.hex another program's, though the manifest was written with it: its first line
    // with a stray top bit.
    let hex = std::fs::read_to_string(dir.join("program.hex")).unwrap();
    let stray = format!("f{}", &hex[1..]);
    let fnv = |bytes: &[u8]| format!("{:016x}", monorail_contract::fnv1a(bytes));
    let listed = format!("\"program.hex\": \"{}\"", fnv(hex.as_bytes()));
    edit(
        &listed,
        &format!("\"program.hex\": \"{}\"", fnv(stray.as_bytes())),
    );
    std::fs::write(dir.join("program.hex"), &stray).unwrap();
    refused(
        dir,
        &target,
        "program.hex: line 1: not program.bin's instruction 0: the two images of the program \
         differ",
    );
    // Without its last newline: the end said, not a line past the program.
    let cut = &hex[..hex.len() - 1];
    edit(
        &listed,
        &format!("\"program.hex\": \"{}\"", fnv(cut.as_bytes())),
    );
    std::fs::write(dir.join("program.hex"), cut).unwrap();
    refused(
        dir,
        &target,
        "program.hex: ends early, or without its last newline",
    );
    std::fs::write(dir.join("program.hex"), &hex).unwrap();
    std::fs::write(dir.join("manifest.json"), &manifest).unwrap();
    assert!(Iss::load(dir, target.clone()).is_ok());
    // The listing, for people, may go; the rest may not.
    let listing = std::fs::read(dir.join("listing.s")).unwrap();
    std::fs::remove_file(dir.join("listing.s")).unwrap();
    assert!(Iss::load(dir, target.clone()).is_ok());
    std::fs::write(dir.join("listing.s"), listing).unwrap();
    std::fs::remove_file(dir.join("vector.hex")).unwrap();
    refused(dir, &target, "vector.hex: missing");
    refused(dir, &target, "this one is incomplete; compile it again");
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    refused(dir, &target, "no bundle here (no manifest.json)");
}

#[test]
fn malformed_programs_fault_instead_of_panicking() {
    let (target, compiled) = seeded_nano_on("sim-tiny", 3);
    // sim-tiny's vector space: vector 0.., accumulator 32768.., wide 40960.., input 45056...
    let cases = [
        (
            "li dst=r20 imm=-5\ngetv dst=r21 src=v0 idx=r20 wait=sxu:1",
            "negative",
        ),
        (
            "li dst=r20 imm=40000\ngetv dst=r21 src=v5056 idx=r20 wait=sxu:1",
            "in the input memory, which is not read by the vector unit",
        ),
        (
            "li dst=r20 imm=140737488355327\nmuli dst=r21 a=r20 imm=1000 wait=sxu:1",
            "multiplier input 140737488355327",
        ),
        // Register results past 48 bits, either way.
        (
            "li dst=r20 imm=140737488355327\naddi dst=r21 a=r20 imm=1 wait=sxu:1",
            "r21 = 140737488355328 does not fit a register's 48 bits",
        ),
        (
            "li dst=r20 imm=-140737488355328\nli dst=r22 imm=1\nsub dst=r21 a=r20 b=r22 wait=sxu:2",
            "r21 = -140737488355329 does not fit a register's 48 bits",
        ),
        (
            "li dst=r20 imm=300000\nmuls dst=v40960 a=v0 n=4 s=r20 wait=sxu:1",
            "multiplier input 300000",
        ),
        // mul's first operand after its shift (100,000 fits 18 bits, twice it does not).
        (
            "li dst=r20 imm=100000\nfill dst=v0 n=4 s=r20 wait=sxu:1\n\
             mul dst=v40960 a=v0 b=v0 n=4 sh=-1 wait=vxu:1",
            "multiplier input 200000",
        ),
        (
            "li dst=r20 imm=200000\nfill dst=v0 n=4 s=r20 wait=sxu:1",
            "does not fit the 18-bit elements of the vector memory",
        ),
        (
            "li dst=r20 imm=99999999\nsilu dst=v0 src=v0 n=4 e=r20 wait=sxu:1",
            "exponent",
        ),
        ("norm dst=v0 src=v0 n=4 bits=0 ein=r0 eout=r20", "bits=0"),
        // A normalisation given a magnitude that is not one, or shorter than its input's (the
        // vector memory's first elements are the program's, not all zero).
        (
            "li dst=r20 imm=-1\nnorm dst=v40960 src=v0 n=4 bits=16 ein=r0 eout=r21 mag=r20 wait=sxu:1",
            "norm's mag=r20 holds -1, not a magnitude",
        ),
        (
            "li dst=r20 imm=4294967296\nnorm dst=v40960 src=v0 n=4 bits=16 ein=r0 eout=r21 mag=r20 wait=sxu:1",
            "not a magnitude (0 .. 2^32)",
        ),
        (
            "li dst=r20 imm=300\nfill dst=v0 n=4 s=r20 wait=sxu:1\nli dst=r22 imm=255\n\
             norm dst=v40960 src=v0 n=4 bits=16 ein=r0 eout=r21 mag=r22 wait=vxu:1",
            "mag=r22 holds 255, of a shorter bit length than its input's largest magnitude (300)",
        ),
        // A grouped normalisation given a top bit below its values' (300 has 9 bits, at
        // exponent 2).
        (
            "li dst=r20 imm=300\nfill dst=v0 n=4 s=r20 wait=sxu:1\nli dst=r23 imm=2\n\
             fill dst=v4 n=4 s=r23 wait=sxu:2\nli dst=r22 imm=10\n\
             normg dst=v40960 src=v0 n=4 exps=v4 bits=16 eout=r21 max=r24 top=r22 \
             wait=vxu:2",
            "normg's top=r22 holds 10, below the top bit of its largest value (11)",
        ),
        (
            "matvec dst=v32768 w=m1048575 wreg=r0 x=v45056 rows=4 cols=4",
            "outside the matrix memory",
        ),
        (
            "matvec dst=v0 w=m0 wreg=r0 x=v45056 rows=4 cols=4",
            "not written by the matrix unit",
        ),
        (
            "matvec dst=v32770 w=m0 wreg=r0 x=v45056 rows=4 cols=4",
            "does not start on a word",
        ),
        ("mul dst=v0 a=v1 b=v0 n=4", "in lane 1"),
        (
            "mul dst=v0 a=v40960 b=v40964 n=4",
            "two operands from the wide memory",
        ),
        (
            "norm dst=v65535 src=v65535 n=4 bits=8 ein=r0 eout=r20",
            "does not lie in one memory",
        ),
        // Missing waits: a register read before its write, a stream chained one word short of
        // the chain distance (7 words on sim-tiny's 4 lanes), a chained stream reading a
        // register its producer writes.
        ("li dst=r20 imm=5\nmuls dst=v40960 a=v0 n=4 s=r20", "hazard"),
        (
            "copy dst=v40960 src=v0 n=28\ncopy dst=v41024 src=v40960 n=28",
            "hazard: issues at cycle 7, 7 cycles after instruction 0 (`copy dst=v40960 src=v0 \
             n=28`), whose results it reads; the vector unit chains the two 8 cycles apart",
        ),
        (
            "norm dst=v40960 src=v0 n=32 bits=16 ein=r0 eout=r20\n\
             muls dst=v41024 a=v40960 n=32 s=r20",
            "hazard",
        ),
    ];
    // A reader of a long product's results, which the whole window of the scalar unit's
    // completion ring separates from it in the program, while it still runs.
    let long_product = format!(
        "matvec dst=v32768 w=m0 wreg=r0 x=v45056 rows=4 cols=64\n{}copy dst=v40960 src=v32768 n=4",
        "li dst=r20 imm=1\n".repeat(20)
    );
    // A step past the step limit, which the core stops (2^26 cycles: 1,025 of the longest nop).
    let past_the_limit = "nop cycles=65535\n".repeat(1025);
    let cases = cases.into_iter().chain([
        (
            long_product.as_str(),
            "which touches the same data, is still running",
        ),
        // A register-indexed read is taken as reaching every element from its base, and the
        // message says so.
        (
            "matvec dst=v32768 w=m0 wreg=r0 x=v45056 rows=4 cols=64\n\
             getv dst=r21 src=v0 idx=r2",
            "(`getv` addresses by a register, which the check takes as reaching every element \
             or word from its base), is still running",
        ),
        // Where the indexed read's base is what the product writes, the clash is real: no note.
        (
            "matvec dst=v32768 w=m0 wreg=r0 x=v45056 rows=4 cols=64\n\
             getv dst=r21 src=v32768 idx=r2",
            "which touches the same data, is still running",
        ),
        (
            past_the_limit.as_str(),
            "the step reaches the step limit of 67108864 cycles before its `end`",
        ),
    ]);
    for (prefix, needle) in cases {
        let mut bundle = compiled.bundle.clone();
        let mut program = monorail_contract::isa::assemble(prefix).unwrap();
        let shift = program.len();
        program.extend(bundle.program.iter().copied());
        bundle.program = program;
        bundle.manifest.instructions = bundle.program.len();
        for c in &mut bundle.manifest.checkpoints {
            c.after += shift;
        }
        let mut iss = Iss::new(target.clone(), bundle).unwrap();
        let err = iss.step(1, 0).unwrap_err().to_string();
        assert!(err.contains(needle), "`{prefix}`: {err}");
        assert!(err.contains("instruction"), "{err}");
    }
}

#[test]
fn programs_naming_registers_the_target_lacks_are_refused() {
    // gw2a-18 has 32 registers: its compiled programs keep to them, and a program naming r40
    // (which the encoding's 6 bits allow) is refused on load, naming the instruction.
    let (target, compiled) = seeded_nano_on("gw2a-18", 5);
    assert_eq!(target.registers, 32);
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path();
    compiled.bundle.write(dir, &target).unwrap();
    let mut iss = Iss::load(dir, target.clone()).unwrap();
    assert_eq!(
        iss.step(1, 0).unwrap().cycles,
        compiled.bundle.manifest.predicted_cycles[0]
    );
    let mut program = std::fs::read(dir.join("program.bin")).unwrap();
    let li = monorail_contract::isa::Instr::parse("li dst=r40 imm=1")
        .unwrap()
        .unwrap();
    program[16..32].copy_from_slice(&li.encode().unwrap().to_le_bytes());
    std::fs::write(dir.join("program.bin"), &program).unwrap();
    refused(
        dir,
        &target,
        "instruction 1: dst=r40 is not a register of target gw2a-18 (it has r0 .. r31)",
    );
}

/// The hazard check looks only at each instruction's candidates (each unit's last instructions
/// that can touch the same data); on programs whose waits are randomly dropped, it reports
/// exactly the first hazard that checking every running instruction finds.
#[test]
fn the_hazard_check_finds_what_checking_every_running_instruction_finds() {
    use monorail_contract::timing::{chain_distance, Clock};
    let (target, compiled) = seeded_nano_on("sim-tiny", 3);
    let context = compiled.bundle.manifest.context;
    // The first hazard by checking every pair still running: (instruction, earlier one).
    let reference = |program: &[monorail_contract::isa::Instr], pos: usize| {
        let mut clock = Clock::new(&target, pos);
        let mut issued = Vec::new();
        for (i, instr) in program.iter().enumerate() {
            let Ok(now) = clock.issue(instr) else {
                return Err("deadlock");
            };
            let mine = instr.op.accesses_on(&target, pos);
            for (j, then) in issued.iter().enumerate() {
                let (then, earlier): &(monorail_contract::timing::Issued, _) = then;
                if then.complete <= now.issue {
                    continue;
                }
                let theirs = program[j].op.accesses_on(&target, pos);
                if !theirs.conflicts(&mine) {
                    continue;
                }
                let distance = if theirs.conflicts_outside_vector_space(&mine) {
                    None
                } else {
                    chain_distance(earlier, &instr.op, &target, pos)
                };
                if distance.is_none_or(|d| now.issue < then.issue + d) {
                    return Ok(Some((i, j)));
                }
            }
            issued.push((now, instr.op));
        }
        Ok(None)
    };
    // One wait dropped per trial, from a seeded sequence of the instructions that have one.
    let waiting: Vec<usize> = (0..compiled.bundle.program.len())
        .filter(|&i| compiled.bundle.program[i].wait.is_some())
        .collect();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let (mut hazards, mut clean) = (0, 0);
    for trial in 0..48 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let mut bundle = compiled.bundle.clone();
        bundle.program[waiting[(seed >> 33) as usize % waiting.len()]].wait = None;
        let program = bundle.program.clone();
        let mut iss = Iss::new(target.clone(), bundle).unwrap();
        for pos in [0, 1, context / 2, context - 1] {
            let got = iss.step(1, pos);
            match reference(&program, pos) {
                Ok(None) => {
                    clean += 1;
                    assert!(got.is_ok(), "trial {trial} pos {pos}: {:?}", got.err());
                }
                Ok(Some((i, j))) => {
                    hazards += 1;
                    let err = got.unwrap_err().to_string();
                    assert!(
                        err.starts_with(&format!("instruction {i} (")) && err.contains("hazard"),
                        "trial {trial} pos {pos}: expected {i} after {j}: {err}"
                    );
                    assert!(
                        err.contains(&format!("instruction {j} (`")),
                        "trial {trial} pos {pos}: expected {i} after {j}: {err}"
                    );
                }
                Err(_) => assert!(got.is_err(), "trial {trial} pos {pos}"),
            }
        }
    }
    // Some dropped waits make hazards and some do not, so both verdicts are compared.
    assert!(
        hazards >= 20 && clean >= 20,
        "{hazards} hazards, {clean} clean"
    );
}
