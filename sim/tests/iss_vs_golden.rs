//! The instruction-set simulator against the golden model: the same tokens, the same integers at
//! every named model step, and exactly the predicted cycles, token after token.

use monorail_compiler::{compile, CompileOptions};
use monorail_contract::target::{RawTarget, Target};
use monorail_model::golden::GoldenModel;
use monorail_model::quant::QuantModel;
use monorail_model::synth;
use monorail_sim::{Iss, Machine};

/// Run `steps` positions greedily from `prompt` on both, comparing everything at every position.
fn check(
    shape: &str,
    seed: u64,
    target: &str,
    prompt: &[u32],
    steps: usize,
    context: Option<usize>,
) {
    let options = CompileOptions::serving(context);
    let target = Target::builtin(target).unwrap();
    check_with(shape, seed, &target, prompt, steps, options);
}

/// [`check`] with the program compiled with `options`.
fn check_with(
    shape: &str,
    seed: u64,
    target: &Target,
    prompt: &[u32],
    steps: usize,
    options: CompileOptions,
) {
    let config = synth::parse_shape(shape).unwrap();
    let quant = QuantModel::quantize(&synth::synthesize(config, seed));
    check_model(
        quant,
        &format!("{shape} seed {seed}"),
        target,
        prompt,
        steps,
        options,
    );
}

/// [`check_with`] for a quantised model, named `label` in the messages.
fn check_model(
    quant: QuantModel,
    label: &str,
    target: &Target,
    prompt: &[u32],
    steps: usize,
    options: CompileOptions,
) {
    let compiled = compile(&quant, target, options).unwrap();
    let predicted = compiled.bundle.manifest.predicted_cycles.clone();
    let mut iss = Iss::new(target.clone(), compiled.bundle).unwrap();
    iss.record_values(true);
    let mut golden = GoldenModel::new(quant);
    golden.record_values(true);
    let mut token = prompt[0];
    for pos in 0..steps {
        let want = golden.forward(token, pos);
        let want_values = golden.take_values();
        let got = iss
            .step(token, pos)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(got.values.len(), want_values.len(), "{label} pos {pos}");
        for (g, w) in got.values.iter().zip(&want_values) {
            assert_eq!(
                (g.step, g.layer),
                (w.step, w.layer),
                "{label} pos {pos}: checkpoint order"
            );
            if g != w {
                let first = g.mant.iter().zip(&w.mant).position(|(a, b)| a != b);
                panic!(
                    "{label} pos {pos}: {} layer {:?} differs: element {first:?}, exps iss {:?} \
                     golden {:?}",
                    g.step, g.layer, g.exps, w.exps
                );
            }
        }
        assert_eq!(got.next, want, "{label} pos {pos}: token");
        assert_eq!(got.cycles, predicted[pos], "{label} pos {pos}: cycles");
        token = if pos + 1 < prompt.len() {
            prompt[pos + 1]
        } else {
            want
        };
    }
}

#[test]
fn nano_models_on_sim_tiny_match_the_golden_model() {
    for seed in 1..=6u64 {
        let prompt = [1, (seed * 37 % 500) as u32, (seed * 101 % 500) as u32];
        check("nano", seed, "sim-tiny", &prompt, 12, None);
    }
}

#[test]
fn grouped_query_and_odd_shapes_match_the_golden_model() {
    // Unshared classifier, 3 query heads per key/value head, hidden not a multiple of the lanes.
    check(
        "dim=24,hidden=44,layers=2,heads=6,kv_heads=2,vocab=300,seq=20,shared=false",
        7,
        "sim-tiny",
        &[1, 5, 9],
        20,
        None,
    );
    // A long cache and a small vocabulary: `acc` (300 elements) cannot hold the cache
    // exponents of 512 positions, which get a buffer of their own.
    check(
        "dim=64,hidden=128,layers=2,heads=4,kv_heads=2,vocab=300,seq=512",
        3,
        "sim-tiny",
        &[1, 5, 9],
        40,
        None,
    );
    // 8 query heads per key/value head on a target of 32 registers: the layer's largest value
    // exponent and the query's exponent, found once, outlive many more temporaries than the
    // registers hold.
    check(
        "dim=32,hidden=64,layers=2,heads=8,kv_heads=1,vocab=64,seq=24",
        5,
        "gw2a-18",
        &[1, 5, 9],
        24,
        None,
    );
}

/// Matrix products issued in many pieces (one for each row block on `sim-tiny`), each piece's
/// results normalised and scaled as it drains and the last normalisation given the largest of
/// the pieces' magnitudes, compute the golden model's values; on a core of 32 registers too,
/// whose 17 temporaries the pieces take in turn.
#[test]
fn products_in_pieces_match_the_golden_model() {
    let small = "dim=32,hidden=64,layers=2,heads=4,kv_heads=2,vocab=96,seq=24";
    for (shape, target, pieces) in [("nano", "sim-tiny", 64), (small, "gw2a-18", 4)] {
        let options = CompileOptions {
            product_pieces: Some(pieces),
            ..Default::default()
        };
        let target = Target::builtin(target).unwrap();
        check_with(shape, 9, &target, &[1, 5, 9], 16, options);
    }
}

/// The FFN a block of hidden units at a time, each with its own exponents, computes the golden
/// model's values where the blocks and the row blocks do not line up: on a core of 128 lanes,
/// each row block of `w1` and `w3` holds two blocks of hidden units (issued as one group), and
/// the last block is shorter than the others.
#[test]
fn hidden_blocks_wider_than_the_lanes_match_the_golden_model() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../targets/sim-tiny.toml"
    ))
    .unwrap()
    .replacen("\nlanes = 4", "\nlanes = 128", 1);
    let target = RawTarget::parse(&text).unwrap().validate().unwrap();
    assert_eq!(target.lanes, 128);
    let shape = "dim=32,hidden=200,layers=2,heads=4,kv_heads=2,vocab=96,seq=16";
    check_with(shape, 4, &target, &[1, 5, 9], 16, CompileOptions::default());
}

#[test]
fn stories260k_shape_on_ulx3s_85f_matches_the_golden_model() {
    check(
        "stories260k",
        260,
        "ulx3s-85f",
        &[1, 300, 301, 302],
        70,
        None,
    );
}

/// An all-zero residual stream (the embedding table scaled to zero): RMSNorm's eps term reads its
/// exponent from the reciprocal table's exponent of a zero magnitude (`numerics::rms_eps_exp`),
/// which the golden model follows; on a core of 64 registers and on one of 32, whose temporaries
/// RMSNorm's takes nearly all of.
#[test]
fn an_all_zero_residual_matches_the_golden_model() {
    for target in ["sim-tiny", "gw2a-18"] {
        let mut checkpoint = synth::synthesize(synth::parse_shape("nano").unwrap(), 11);
        checkpoint.weights.token_embedding.fill(0.0);
        let quant = QuantModel::quantize(&checkpoint);
        let target = Target::builtin(target).unwrap();
        let label = format!("nano, zero embeddings, on {}", target.name);
        check_model(
            quant,
            &label,
            &target,
            &[1, 5, 9],
            6,
            CompileOptions::default(),
        );
    }
}
