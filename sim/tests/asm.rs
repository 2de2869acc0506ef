//! A bundle's program as text (`monorail disasm`), edited and assembled back (`monorail asm`):
//! the text round-trips, an edited program runs on the instruction-set simulator with the cycles
//! predicted for it and its checkpoints where its `.checkpoint` lines put them, and a text that
//! cannot run is refused with its line.

use monorail_compiler::{compile, CompileOptions, Compiled};
use monorail_contract::asm::{disassemble, reassemble};
use monorail_contract::bundle::Bundle;
use monorail_contract::target::Target;
use monorail_model::quant::QuantModel;
use monorail_model::synth;
use monorail_sim::{Iss, Machine, StepResult};

/// A seeded model of `shape` compiled for built-in target `target`.
fn compiled_on(shape: &str, target: &str, seed: u64) -> (Target, Compiled) {
    let config = synth::parse_shape(shape).unwrap();
    let quant = QuantModel::quantize(&synth::synthesize(config, seed));
    let target = Target::builtin(target).unwrap();
    let compiled = compile(&quant, &target, CompileOptions::default()).unwrap();
    (target, compiled)
}

/// `positions` greedy steps from token 1 with every checkpoint's values recorded.
fn run(target: &Target, bundle: Bundle, positions: usize) -> Vec<StepResult> {
    let mut iss = Iss::new(target.clone(), bundle).unwrap();
    iss.record_values(true);
    let mut token = 1;
    (0..positions)
        .map(|pos| {
            let result = iss.step(token, pos).unwrap();
            token = result.next;
            result
        })
        .collect()
}

#[test]
fn a_disassembled_program_assembles_back_to_the_same_bundle() {
    for (shape, target) in [
        ("nano", "sim-tiny"),
        ("nano", "gw2a-18"),
        ("stories260k", "ulx3s-85f"),
        ("nano", "icebreaker"),
    ] {
        let (target, compiled) = compiled_on(shape, target, 3);
        let text = disassemble(&compiled.bundle, &target);
        let back = reassemble(&compiled.bundle, &text, &target)
            .unwrap_or_else(|e| panic!("{}: {e}", target.name))
            .bundle;
        assert_eq!(back.program, compiled.bundle.program, "{}", target.name);
        assert_eq!(back.manifest, compiled.bundle.manifest, "{}", target.name);
        assert_eq!(back.listing, text, "{}", target.name);
        let checkpoints = text
            .lines()
            .filter(|l| l.starts_with(".checkpoint "))
            .count();
        assert_eq!(checkpoints, compiled.bundle.manifest.checkpoints.len());
    }
}

#[test]
fn an_edited_program_runs_with_its_own_cycles_and_checkpoints() {
    let (target, compiled) = compiled_on("nano", "sim-tiny", 4);
    let text = disassemble(&compiled.bundle, &target);
    // Five idle cycles before the first instruction: every value the same, every token step
    // five cycles longer, every checkpoint one instruction later.
    let (header, body): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with('#'));
    let edited = format!(
        "{}\nnop cycles=5   # added by hand\n{}\n",
        header.join("\n"),
        body.join("\n")
    );
    let assembled = reassemble(&compiled.bundle, &edited, &target).unwrap();
    let bundle = assembled.bundle;
    let before = &compiled.bundle.manifest;
    // The first instruction is the `nop`, on the line after the header.
    assert_eq!(assembled.lines[0], header.len() + 1);
    assert_eq!(bundle.manifest.instructions, before.instructions + 1);
    for (new, old) in bundle.manifest.checkpoints.iter().zip(&before.checkpoints) {
        assert_eq!(new.after, old.after + 1, "{}", new.step);
    }
    for (new, old) in bundle
        .manifest
        .predicted_cycles
        .iter()
        .zip(&before.predicted_cycles)
    {
        assert_eq!(*new, old + 5);
    }
    let positions = 6;
    let original = run(&target, compiled.bundle.clone(), positions);
    let edited = run(&target, bundle.clone(), positions);
    for (pos, (e, o)) in edited.iter().zip(&original).enumerate() {
        assert_eq!(e.next, o.next, "pos {pos}");
        assert_eq!(e.values, o.values, "pos {pos}");
        assert_eq!(e.cycles, bundle.manifest.predicted_cycles[pos], "pos {pos}");
        assert_eq!(e.cycles, o.cycles + 5, "pos {pos}");
    }
    // A checkpoint moved too early is taken where it is marked: the simulator reports the
    // values as they stand there, and they differ from the golden model's.
    let attn_norm = before.checkpoints[1].after;
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| *l != ".checkpoint attn_norm.0")
        .collect();
    let at = lines
        .iter()
        .position(|l| l.contains(&format!("# {:5}:", attn_norm - 3)))
        .unwrap();
    lines.insert(at + 1, ".checkpoint attn_norm.0");
    let early = reassemble(&compiled.bundle, &lines.join("\n"), &target)
        .unwrap()
        .bundle;
    assert_eq!(early.manifest.checkpoints[1].after, attn_norm - 3);
    let early_run = run(&target, early, 1);
    assert_eq!(early_run[0].next, original[0].next);
    assert_ne!(early_run[0].values[1], original[0].values[1]);
}

#[test]
fn a_wait_taken_out_makes_a_hazard_the_simulator_reports() {
    let (target, compiled) = compiled_on("nano", "sim-tiny", 3);
    let text = disassemble(&compiled.bundle, &target);
    // The first vector instruction that waits for the matrix unit reads its results.
    let line = text
        .lines()
        .find(|l| !l.starts_with('#') && l.contains(" wait=mxu:1"))
        .unwrap();
    let edited = text.replacen(line, &line.replacen(" wait=mxu:1", "", 1), 1);
    let bundle = reassemble(&compiled.bundle, &edited, &target)
        .unwrap()
        .bundle;
    let mut iss = Iss::new(target, bundle).unwrap();
    let err = iss.step(1, 0).unwrap_err().to_string();
    assert!(
        err.contains("hazard") && err.contains(line.split(" wait=").next().unwrap()),
        "{err}"
    );
}

/// The text with every address that the comments name written by that name instead
/// (`w=m576` as `w=@layer0.wqkv+64`), and how many were.
fn by_name(text: &str) -> (String, usize) {
    let mut count = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let Some((code, comment)) = line.split_once(" # ").filter(|_| !line.starts_with('#'))
            else {
                return line.to_string();
            };
            let names: Vec<(&str, &str)> = comment
                .split_whitespace()
                .filter_map(|t| t.split_once('=').filter(|(_, v)| v.starts_with('@')))
                .collect();
            let code: Vec<String> = code
                .split_whitespace()
                .map(|token| {
                    let field = token.split('=').next().unwrap();
                    match names.iter().find(|(f, _)| *f == field) {
                        Some((f, name)) => {
                            count += 1;
                            format!("{f}={name}")
                        }
                        None => token.to_string(),
                    }
                })
                .collect();
            code.join(" ")
        })
        .collect();
    (lines.join("\n"), count)
}

#[test]
fn addresses_written_by_name_assemble_to_the_same_program() {
    // Every address the disassembly names, written by its name: the same program, on the
    // built-in targets' two kinds of core and the stories260K shape.
    for (shape, target) in [("nano", "sim-tiny"), ("stories260k", "ulx3s-85f")] {
        let (target, compiled) = compiled_on(shape, target, 3);
        let text = disassemble(&compiled.bundle, &target);
        assert!(
            text.contains(" w=@layer0.wqkv") && text.contains(" x=@xb"),
            "{text}"
        );
        let (named, count) = by_name(&text);
        assert!(count > compiled.bundle.program.len() / 2, "{count} names");
        let back = reassemble(&compiled.bundle, &named, &target)
            .unwrap_or_else(|e| panic!("{}: {e}", target.name))
            .bundle;
        assert_eq!(back.program, compiled.bundle.program, "{}", target.name);
        // The compiler's listing names them alike.
        let listed = compiled
            .bundle
            .listing
            .lines()
            .find(|l| l.contains(" matvec "));
        assert!(
            listed.is_some_and(|l| l.contains("  # ") && l.contains(" w=@layer0.wqkv")),
            "{listed:?}"
        );
    }
    // Names that are not the bundle's, or not for the field, or past their region's end: the
    // line and column, and what is wrong.
    let (target, compiled) = compiled_on("nano", "sim-tiny", 3);
    let text = disassemble(&compiled.bundle, &target);
    let refused = |line: &str, needle: &str| {
        let edited = format!("{text}{line}\n");
        let err = reassemble(&compiled.bundle, &edited, &target)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        let number = text.lines().count() + 1;
        assert!(
            err.contains(&format!("line {number}, column 6: {needle}")),
            "{err} lacks {needle}"
        );
    };
    refused(
        "fill dst=@nowhere n=1 s=r0",
        "dst=@nowhere: no region of the bundle's memory map is named `nowhere` (manifest.json's \
         `regions`; `monorail disasm` names each address it can in its comments)",
    );
    refused(
        "fill dst=@layer0.wo n=1 s=r0",
        "dst=@layer0.wo: `layer0.wo` is a region of the matrix memory (words), and this field \
         addresses the vector space (elements)",
    );
    let regions = &compiled.bundle.manifest.regions;
    let xb = regions.iter().find(|r| r.name == "xb").unwrap().size;
    refused(
        &format!("fill dst=@xb+{xb} n=1 s=r0"),
        &format!(
            "dst=@xb+{xb}: `xb` holds {xb} elements: offsets 0 to {}",
            xb - 1
        ),
    );
    refused(
        "fill dst=@+3 n=1 s=r0",
        "dst=@+3: expected @NAME or @NAME+OFFSET",
    );
    refused("fill dst=@xb+y n=1 s=r0", "dst=@xb+y: `y` is not a number");
    // Without a bundle there are no names.
    let err = monorail_contract::isa::Instr::parse("fill dst=@xb n=1 s=r0").unwrap_err();
    assert!(err.message.contains("needs a bundle's memory map"), "{err}");
}

#[test]
fn program_texts_that_cannot_run_are_refused_with_their_line() {
    let (target, compiled) = compiled_on("nano", "sim-tiny", 3);
    let text = disassemble(&compiled.bundle, &target);
    let lines: Vec<&str> = text.lines().collect();
    let first = lines
        .iter()
        .position(|l| !l.starts_with('#') && !l.starts_with('.'))
        .unwrap();
    let refused = |edited: String, needle: &str| {
        let err = reassemble(&compiled.bundle, &edited, &target)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{err} lacks {needle}");
    };
    let with_line = |index: usize, new: &str| {
        let mut edited = lines.clone();
        edited[index] = new;
        edited.join("\n")
    };
    let checkpoint = lines
        .iter()
        .position(|l| l.starts_with(".checkpoint"))
        .unwrap();
    let line_of = |index: usize| format!("line {}", index + 1);
    refused(
        with_line(first, "  frob dst=r3"),
        &format!("{}, column 3: unknown mnemonic `frob`", line_of(first)),
    );
    refused(
        with_line(first, "li dst=r3 imm=1 wait=mxu:9999"),
        &format!(
            "{}, column 17: at position 0: waits for mxu instruction 9999 but only 0 were issued",
            line_of(first)
        ),
    );
    // A placement rule broken names the field, by its column.
    refused(
        with_line(first, "fill  dst=v60000 n=1 s=r0"),
        &format!("{}, column 7: at position 0: dst=v60000", line_of(first)),
    );
    refused(
        with_line(checkpoint, ".align 4"),
        &format!(
            "{}, column 1: unknown directive `.align`",
            line_of(checkpoint)
        ),
    );
    refused(
        with_line(checkpoint, ".checkpoint qkv.99"),
        "`qkv.99` is not one of the bundle's checkpoints (embedding .. argmax)",
    );
    refused(with_line(checkpoint, ".checkpoint"), "takes one model step");
    // A word past the step: at that word.
    refused(
        with_line(checkpoint, ".checkpoint embedding  extra"),
        &format!(
            "{}, column 24: `.checkpoint` takes one model step",
            line_of(checkpoint)
        ),
    );
    refused(
        with_line(checkpoint, ".checkpoint attn_norm.0"),
        "checkpoint `attn_norm.0` comes before `embedding`, which is not marked above it: mark \
         `.checkpoint embedding` first",
    );
    let last = lines
        .iter()
        .rposition(|l| l.starts_with(".checkpoint"))
        .unwrap();
    refused(
        with_line(last, "# the last mark, taken out"),
        "no `.checkpoint argmax`",
    );
    let mut twice = lines.clone();
    twice.insert(checkpoint + 1, lines[checkpoint]);
    refused(
        twice.join("\n"),
        &format!(
            "{}, column 1: checkpoint `embedding` is marked twice (first on line {})",
            line_of(checkpoint + 1),
            checkpoint + 1
        ),
    );
    let mut early = lines.clone();
    let mark = early.remove(checkpoint);
    early.insert(first, mark);
    refused(early.join("\n"), "comes before any instruction");
    refused(
        text.lines()
            .filter(|l| !l.starts_with("end"))
            .collect::<Vec<_>>()
            .join("\n"),
        "the program has no `end`",
    );
    let mut after_end = lines.clone();
    // An `end` before the last instruction, which the last checkpoints follow.
    let end = lines.iter().position(|l| l.starts_with("end")).unwrap();
    let argmax = lines.iter().position(|l| l.starts_with("argmax")).unwrap();
    after_end.insert(argmax, lines[end]);
    refused(after_end.join("\n"), "follows the step's first `end`");
    refused(String::new(), "the text holds no instructions");
    // A text printed from another bundle: another model's, whose immediates these are not.
    // Without its `.bundle` line, it is taken as written for this one.
    let (_, other) = compiled_on("nano", "sim-tiny", 4);
    let theirs = disassemble(&other.bundle, &target);
    refused(
        theirs.clone(),
        "the text was printed from another bundle (target=sim-tiny context=64 images=",
    );
    let unnamed: Vec<&str> = theirs
        .lines()
        .filter(|l| !l.starts_with(".bundle "))
        .collect();
    assert!(reassemble(&compiled.bundle, &unnamed.join("\n"), &target).is_ok());
    // A byte-order mark before the text is no part of it.
    assert!(reassemble(&compiled.bundle, &format!("\u{feff}{text}"), &target).is_ok());
    let long = format!(
        "{}\n{}",
        "nop cycles=1\n".repeat(target.program_words),
        text
    );
    refused(long, "more than target sim-tiny's program memory holds");
}
