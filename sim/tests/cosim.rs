//! Co-simulation: golden model, instruction-set simulator and Verilated core token by token (seeded
//! nano models on `sim-tiny`, the stories260K shape and the llama2.c fixture on `ulx3s-85f`, the
//! built-in nano model on the 25F's and 45F's cores and on the iCEBreaker's small core, and
//! activations small enough for RMSNorm's eps to outweigh them), and
//! faults injected into the core, each caught and located at the model step it first corrupts; and
//! the small core started from random power-up values.

mod common;

use common::core;
use monorail_compiler::{compile, CompileOptions};
use monorail_contract::numerics::{rms_eps_exp, SUM_SQUARES_SHIFT};
use monorail_contract::steps::ModelStep;
use monorail_contract::target::Target;
use monorail_model::golden::GoldenModel;
use monorail_model::quant::QuantModel;
use monorail_model::synth;
use monorail_sim::cosim::{Cosim, Divergence};

/// Run `steps` positions from `prompt` (then greedily); the first divergence, if any.
fn cosim(
    quant: QuantModel,
    target: &str,
    prompt: &[u32],
    steps: usize,
    plusargs: &[String],
    images: impl FnOnce(&std::path::Path),
) -> Result<usize, Box<Divergence>> {
    let t = Target::builtin(target).unwrap();
    let compiled = compile(&quant, &t, CompileOptions::default()).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    compiled.bundle.write(dir.path(), &t).unwrap();
    images(dir.path());
    let mut c = Cosim::new(
        quant,
        &t,
        compiled.bundle,
        &core(target),
        dir.path(),
        plusargs,
    )
    .unwrap();
    let mut token = prompt[0];
    for pos in 0..steps {
        let row = c.step(token, pos)?;
        assert_eq!(row.rtl_cycles, row.predicted_cycles);
        token = prompt.get(pos + 1).copied().unwrap_or(row.next);
    }
    Ok(steps)
}

#[test]
fn a_token_step_outside_the_bundle_is_refused_before_any_machine_runs() {
    let quant = QuantModel::quantize(&synth::synthesize(synth::parse_shape("nano").unwrap(), 1));
    let t = Target::builtin("sim-tiny").unwrap();
    let compiled = compile(&quant, &t, CompileOptions::default()).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    compiled.bundle.write(dir.path(), &t).unwrap();
    let mut c = Cosim::new(
        quant,
        &t,
        compiled.bundle,
        &core("sim-tiny"),
        dir.path(),
        &[],
    )
    .unwrap();
    for (token, pos, needle) in [
        (100_000, 0, "token 100000"),
        (1, 100_000, "position 100000"),
    ] {
        let d = c.step(token, pos).expect_err("refused");
        assert!(d.to_string().contains(needle), "{d}");
    }
    // The machines are untouched: the first step still agrees.
    assert!(c.step(1, 0).is_ok());
}

/// RMSNorm keeps run.c's eps: its term, shifted by twice the residual's exponent on the vector
/// unit, agrees on every machine, the wide core's and the small core's, where it outweighs the
/// mean square (embeddings a thousandth of the seeded model's) and where it is clamped (a
/// millionth), each checked to be so at the first attn_norm, and for an all-zero residual
/// (embeddings scaled to zero).
#[test]
fn rmsnorms_eps_agrees_where_it_outweighs_the_mean_square_and_where_it_is_clamped() {
    // The embeddings scaled small enough for eps to outweigh the mean square, clamped or not,
    // and scaled to zero: an all-zero residual, whose exponent the eps term reads lower
    // (numerics::rms_eps_exp), all the way through the layers.
    for (seed, scale, clamped) in [(3u64, 1e-3f32, false), (4, 1e-6, true), (5, 0.0, false)] {
        let mut checkpoint = synth::synthesize(synth::parse_shape("nano").unwrap(), seed);
        for w in checkpoint.weights.token_embedding.iter_mut() {
            *w *= scale;
        }
        let quant = QuantModel::quantize(&checkpoint);
        let prompt = [1, 12, 30];
        // The embedding of the first token, as attn_norm of layer 0 reads it.
        let mut golden = GoldenModel::new(quant.clone());
        golden.record_values(true);
        golden.forward(prompt[0], 0);
        let values = golden.take_values();
        let x = values
            .iter()
            .find(|v| v.step == ModelStep::Embedding)
            .unwrap();
        let sum_squares: u64 = x.mant.iter().map(|&m| (m as i64 * m as i64) as u64).sum();
        assert_eq!(sum_squares == 0, scale == 0.0, "scale {scale}");
        let eps = quant.rms_eps;
        let exp = if sum_squares == 0 {
            rms_eps_exp(x.exps[0], 0)
        } else {
            x.exps[0]
        };
        assert!(
            eps.term(exp) > (sum_squares >> SUM_SQUARES_SHIFT) as i64,
            "scale {scale}: eps does not outweigh the mean square"
        );
        assert_eq!(
            eps.clamp_halves(exp) > 0,
            clamped,
            "scale {scale}: exponent {exp}"
        );
        if let Err(d) = cosim(quant.clone(), "sim-tiny", &prompt, 8, &[], |_| {}) {
            panic!("embeddings scaled by {scale}: {d}");
        }
        // The small core's micro-program makes the same shifts, left and right.
        if let Err(d) = cosim(quant, "icebreaker", &prompt, 2, &[], |_| {}) {
            panic!("embeddings scaled by {scale}, on the small core: {d}");
        }
    }
}

fn stories(seed: u64) -> QuantModel {
    QuantModel::quantize(&synth::synthesize(
        synth::parse_shape("stories260k").unwrap(),
        seed,
    ))
}

#[test]
fn nano_models_agree_on_every_machine() {
    for seed in 1u64..=8 {
        let quant = QuantModel::quantize(&synth::synthesize(
            synth::parse_shape("nano").unwrap(),
            seed,
        ));
        // Prompts of one to four tokens after BOS.
        let prompt: Vec<u32> = [1, 10 + seed as u32, 20 + seed as u32, 7, 3]
            .into_iter()
            .take(2 + seed as usize % 4)
            .collect();
        if let Err(d) = cosim(quant, "sim-tiny", &prompt, 10, &[], |_| {}) {
            panic!("nano seed {seed}: {d}");
        }
    }
}

#[test]
fn the_stories260k_shape_and_the_fixture_agree_on_ulx3s() {
    if let Err(d) = cosim(stories(260), "ulx3s-85f", &[1, 300, 301], 4, &[], |_| {}) {
        panic!("stories260k: {d}");
    }
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/llama2c");
    let checkpoint = monorail_model::checkpoint::load(&dir.join("synthetic-a.bin")).unwrap();
    if let Err(d) = cosim(
        QuantModel::quantize(&checkpoint),
        "ulx3s-85f",
        &[1],
        4,
        &[],
        |_| {},
    ) {
        panic!("synthetic-a.bin: {d}");
    }
}

#[test]
fn the_nano_model_agrees_on_the_small_ecp5_cores() {
    let (checkpoint, _) = monorail_model::builtin::by_name("tales-nano")
        .unwrap()
        .load()
        .unwrap();
    for target in ["ecp5-25f", "ecp5-45f"] {
        let quant = QuantModel::quantize(&checkpoint);
        if let Err(d) = cosim(quant, target, &[1, 400, 401], 6, &[], |_| {}) {
            panic!("tales-nano on {target}: {d}");
        }
    }
}

/// The small core, its bundle loaded through its host port, gives the golden model's values at
/// every checkpoint, each instruction in the cycles the timing rules give it.
#[test]
fn the_nano_model_agrees_on_the_small_core() {
    let (checkpoint, _) = monorail_model::builtin::by_name("tales-nano")
        .unwrap()
        .load()
        .unwrap();
    let quant = QuantModel::quantize(&checkpoint);
    if let Err(d) = cosim(quant, "icebreaker", &[1, 400, 401], 6, &[], |_| {}) {
        panic!("tales-nano on icebreaker: {d}");
    }
}

/// The small core does not depend on what its flip-flops and memories hold at power-up: with
/// every one that has no initial value random (Verilator's `+verilator+rand+reset+2`, two
/// seeds), it still gives the golden model's values and the predicted cycles. (The wide core
/// does not pass this: its units have no reset and rely on the FPGAs' configuration zeros,
/// `docs/hardware.md`, *Power-up values*.)
#[test]
fn the_small_core_agrees_whatever_it_powers_up_with() {
    let (checkpoint, _) = monorail_model::builtin::by_name("tales-nano")
        .unwrap()
        .load()
        .unwrap();
    for seed in [5, 6] {
        let random = [
            "+verilator+rand+reset+2".to_string(),
            format!("+verilator+seed+{seed}"),
        ];
        let quant = QuantModel::quantize(&checkpoint);
        if let Err(d) = cosim(quant, "icebreaker", &[1, 400, 401], 4, &random, |_| {}) {
            panic!("tales-nano on icebreaker, random power-up values (seed {seed}): {d}");
        }
    }
}

/// Flip `mask` in every lane of matrix word `word` of the images in `dir` (lane 0 is the
/// lowest byte of a line).
fn corrupt_word(dir: &std::path::Path, t: &Target, word: usize, mask: u8) {
    let path = dir.join(format!("matrix_tile_{:02}.hex", word / t.matrix_tile_words));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let line = &mut lines[word % t.matrix_tile_words];
    let bytes: Vec<u8> = (0..line.len() / 2)
        .map(|i| u8::from_str_radix(&line[2 * i..2 * i + 2], 16).unwrap() ^ mask)
        .collect();
    *line = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_flipped_weight_bit_is_caught_at_its_layer_and_step() {
    let t = Target::builtin("ulx3s-85f").unwrap();
    let quant = stories(260);
    let compiled = compile(&quant, &t, CompileOptions::default()).unwrap();
    let region = compiled
        .bundle
        .manifest
        .regions
        .iter()
        .find(|r| r.name == "layer2.wqkv")
        .unwrap()
        .clone();
    let d = cosim(quant, "ulx3s-85f", &[1], 2, &[], |dir| {
        corrupt_word(dir, &t, region.start as usize, 0x40)
    })
    .unwrap_err();
    assert_eq!(d.between, "the RTL and the ISS", "{d}");
    assert_eq!(
        (d.step.as_deref(), d.layer, d.pos),
        (Some("qkv"), Some(2), 0),
        "{d}"
    );
    assert!(d.address.is_some() && d.cycle.is_some(), "{d}");
}

#[test]
fn a_wrong_lane_multiplier_is_caught_at_the_first_matrix_product() {
    let d = cosim(
        stories(260),
        "ulx3s-85f",
        &[1],
        2,
        &["+monorail_fault_lane=3".into()],
        |_| {},
    )
    .unwrap_err();
    assert_eq!(d.between, "the RTL and the ISS", "{d}");
    // The token's embedding is the program's first matrix-unit product (a one-hot dotv).
    assert_eq!(
        (d.step.as_deref(), d.layer, d.pos),
        (Some("embedding"), None, 0),
        "{d}"
    );
}

#[test]
fn a_latency_off_by_one_is_caught_at_the_instruction_it_shortens() {
    let d = cosim(
        stories(260),
        "ulx3s-85f",
        &[1],
        2,
        &["+monorail_fault_latency=1".into()],
        |_| {},
    )
    .unwrap_err();
    assert_eq!(d.between, "the RTL and the ISS", "{d}");
    assert!(d.what.starts_with("instruction "), "{d}");
    assert!(d.got.contains("the timing rules say"), "{d}");
    assert_eq!((d.step.as_deref(), d.pos), (Some("embedding"), 0), "{d}");
}
