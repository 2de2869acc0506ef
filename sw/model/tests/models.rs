//! Loader and model tests over the shared llama2.c fixtures and seeded synthetic models.

use std::path::{Path, PathBuf};

use monorail_contract::steps::ModelStep;
use monorail_model::checkpoint::{self, CheckpointFormat, FloatWeights, AK42_MAGIC};
use monorail_model::engine::{generate, Engine};
use monorail_model::float::FloatModel;
use monorail_model::golden::GoldenModel;
use monorail_model::quant::QuantModel;
use monorail_model::sampler::SamplerOptions;
use monorail_model::synth;
use monorail_model::tokenizer::{Tokenizer, BOS};

fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/llama2c")
        .join(name);
    assert!(
        path.exists(),
        "fixture {} not found: check out the shared folder beside this repository",
        path.display()
    );
    path
}

/// An `ak42` v1 file of the same weights, written as llama2.c's export.py does.
fn write_v1(path: &Path, c: &monorail_contract::model_config::ModelConfig, w: &FloatWeights) {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&AK42_MAGIC.to_le_bytes());
    bytes.extend_from_slice(&1i32.to_le_bytes());
    for v in [
        c.dim,
        c.hidden_dim,
        c.n_layers,
        c.n_heads,
        c.n_kv_heads,
        c.vocab_size,
        c.seq_len,
    ] {
        bytes.extend_from_slice(&(v as i32).to_le_bytes());
    }
    bytes.push(u8::from(c.shared_classifier));
    bytes.resize(256, 0);
    let mut tensors: Vec<&[f32]> = vec![&w.rms_att, &w.rms_ffn, &w.rms_final, &w.token_embedding];
    tensors.extend([&w.wq[..], &w.wk, &w.wv, &w.wo, &w.w1, &w.w2, &w.w3]);
    if let Some(cls) = &w.classifier {
        tensors.push(cls);
    }
    for t in tensors {
        for v in t {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn v1_loads_the_same_weights_as_v0() {
    let tmp = tempfile::TempDir::new().unwrap();
    for name in ["synthetic-a.bin", "synthetic-b.bin"] {
        let v0 = checkpoint::load(&fixture(name)).unwrap();
        assert_eq!(v0.format, CheckpointFormat::LegacyV0);
        let path = tmp.path().join(name);
        write_v1(&path, &v0.config, &v0.weights);
        let v1 = checkpoint::load(&path).unwrap();
        assert_eq!(v1.format, CheckpointFormat::V1);
        assert_eq!(v1.config, v0.config);
        assert_eq!(v1.weights, v0.weights, "{name}");
    }
    let b = checkpoint::load(&fixture("synthetic-b.bin")).unwrap();
    assert!(!b.config.shared_classifier);
    assert_eq!(b.config.vocab_size, 32000);
    assert_eq!(b.config.kv_mul(), 2);
}

/// A row far smaller than its matrix's largest loses its scale to the shared exponent
/// (numerics.md, section 4), and `scale_losses` says so: nothing on the built-in models nor on
/// the fixture as it is, every
/// other embedding row once one row is 10^6 times larger, and coarse scales (not zero) at 10^4.
#[test]
fn scale_losses_name_the_rows_a_large_row_leaves_without_scale() {
    // Nor on a built-in model (the warning would greet every default run).
    for model in &monorail_model::builtin::MODELS {
        let (checkpoint, _) = model.load().unwrap();
        assert_eq!(
            QuantModel::quantize(&checkpoint).scale_losses(),
            vec![],
            "{}",
            model.name
        );
    }
    let mut a = checkpoint::load(&fixture("synthetic-a.bin")).unwrap();
    assert_eq!(QuantModel::quantize(&a).scale_losses(), vec![]);
    let dim = a.config.dim;
    let vocab = a.config.vocab_size;
    let original = a.weights.token_embedding.clone();
    for (factor, zero, coarse) in [(1e6f32, vocab - 1, 0), (1e4, 0, vocab - 1)] {
        a.weights.token_embedding = original.clone();
        for w in &mut a.weights.token_embedding[15 * dim..16 * dim] {
            *w *= factor;
        }
        let losses = QuantModel::quantize(&a).scale_losses();
        assert_eq!(losses.len(), 1, "{factor}: {losses:?}");
        assert_eq!(losses[0].tensor, "token_embedding");
        assert_eq!(
            (losses[0].zero, losses[0].coarse),
            (zero, coarse),
            "{factor}"
        );
        assert_eq!(losses[0].rows, vocab);
    }
}

#[test]
fn v2_q80_dequantises_to_within_half_a_step_of_the_float_weights() {
    let v0 = checkpoint::load(&fixture("synthetic-a.bin")).unwrap();
    let v2 = checkpoint::load(&fixture("synthetic-a.q80.bin")).unwrap();
    assert_eq!(v2.format, CheckpointFormat::V2Q80 { group_size: 64 });
    assert_eq!(v2.config, v0.config);
    let float = v0.weights.named();
    let quant = v2.weights.named();
    assert_eq!(float.len(), quant.len());
    for ((name, f), (qname, q)) in float.iter().zip(&quant) {
        assert_eq!(name, qname);
        assert_eq!(f.len(), q.len(), "{name}");
        if name.starts_with("rms") {
            assert_eq!(f, q, "norms are stored in float: {name}");
            continue;
        }
        for (group, (fg, qg)) in f.chunks(64).zip(q.chunks(64)).enumerate() {
            let step = fg.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (a, b) in fg.iter().zip(qg) {
                assert!(
                    (a - b).abs() <= step * 0.5001 + 1e-7,
                    "{name} group {group}: {a} vs {b} (step {step})"
                );
            }
        }
    }
}

#[test]
fn written_checkpoints_load_back_unchanged() {
    let tmp = tempfile::TempDir::new().unwrap();
    for shape in [
        "nano",
        "dim=24,hidden=40,layers=2,heads=6,kv_heads=3,vocab=300,seq=16,shared=false",
    ] {
        let config = synth::parse_shape(shape).unwrap();
        let model = synth::synthesize(config, 11);
        let path = tmp.path().join("m.bin");
        checkpoint::write_legacy(&path, &config, &model.weights).unwrap();
        let loaded = checkpoint::load(&path).unwrap();
        assert_eq!(loaded, model, "{shape}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            28 + 4 * (config.param_count() + config.seq_len * config.head_size())
        );
    }
}

#[test]
fn the_tokenizer_matches_run_c_on_the_llama2_vocabulary() {
    let t = Tokenizer::load(&fixture("tokenizer.bin"), 32000).unwrap();
    // The prompt of the synthetic-b fixture: run.c fed these ids (its first three tokens).
    assert_eq!(
        t.encode("The little dog", true, false).unwrap(),
        vec![BOS, 450, 2217, 11203]
    );
    assert_eq!(t.encode("", true, true).unwrap(), vec![BOS, 2]);
    let tokens = t
        .encode("Once upon a time, Lily ate 3 cakes. 😀", true, false)
        .unwrap();
    assert_eq!(
        t.decode_text(&tokens[1..]),
        "Once upon a time, Lily ate 3 cakes. 😀"
    );
    // The emoji is not a token: byte fallback, decoded back to the same UTF-8.
    assert!(tokens.iter().any(|&id| (3..259).contains(&id)));
}

fn greedy() -> SamplerOptions {
    SamplerOptions {
        temperature: 0.0,
        topp: 0.9,
        seed: 1,
    }
}

#[test]
fn golden_values_cover_every_model_step_in_order() {
    let config = synth::parse_shape("nano").unwrap();
    let quant = QuantModel::quantize(&synth::synthesize(config, 3));
    let mut golden = GoldenModel::new(quant);
    golden.record_values(true);
    golden.forward(BOS, 0);
    golden.forward(42, 1);
    let values = golden.take_values();
    let per_token = 1 + 7 * config.n_layers + 3;
    assert_eq!(values.len(), 2 * per_token);
    let first: Vec<(ModelStep, Option<usize>)> = values[..per_token]
        .iter()
        .map(|v| (v.step, v.layer))
        .collect();
    let mut expected = vec![(ModelStep::Embedding, None)];
    for l in 0..config.n_layers {
        for step in ModelStep::ALL.iter().filter(|s| s.per_layer()) {
            expected.push((*step, Some(l)));
        }
    }
    expected.extend([
        (ModelStep::FinalNorm, None),
        (ModelStep::Classifier, None),
        (ModelStep::Argmax, None),
    ]);
    assert_eq!(first, expected);
    let (d, kv) = (config.dim, config.kv_dim());
    for v in &values {
        let (len, parts, bits) = match v.step {
            ModelStep::Embedding | ModelStep::Wo | ModelStep::Ffn => (d, 1, 16),
            ModelStep::AttnNorm | ModelStep::FfnNorm | ModelStep::FinalNorm => (d, 1, 8),
            ModelStep::Attention => (d, 1, 8),
            ModelStep::Qkv => (d + 2 * kv, 3, 16),
            ModelStep::Rope => (d + kv, 2, 16),
            ModelStep::Classifier => (config.vocab_size, 1, 16),
            ModelStep::Argmax => (1, 0, 16),
        };
        assert_eq!((v.mant.len(), v.exps.len()), (len, parts), "{:?}", v.step);
        let limit = (1 << (bits - 1)) - 1;
        assert!(
            v.mant.iter().all(|m| m.abs() <= limit),
            "{:?} exceeds {bits} bits",
            v.step
        );
        if v.step != ModelStep::Argmax {
            // Normalised: the largest mantissa uses the top bit of its width.
            let max = v.mant.iter().map(|m| m.abs()).max().unwrap();
            assert!(
                max > limit / 2,
                "{:?} is not normalised (max {max})",
                v.step
            );
        }
    }
    let argmax = values[per_token - 1].mant[0];
    let logits = &values[per_token - 2].mant;
    assert_eq!(logits[argmax as usize], *logits.iter().max().unwrap());
}

#[test]
fn golden_model_is_deterministic_and_its_cache_is_per_model() {
    let config = synth::parse_shape("nano").unwrap();
    let checkpoint = synth::synthesize(config, 9);
    let run = || {
        let mut golden = GoldenModel::new(QuantModel::quantize(&checkpoint));
        golden.record_values(true);
        let tokens = generate(&mut golden, &[BOS, 100, 200], 24, greedy()).unwrap();
        (tokens, golden.take_values())
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert_eq!(a.0.len(), 24);
}

#[test]
fn golden_logits_follow_the_float_reference_on_seeded_models() {
    for (shape, seed) in [
        ("nano", 1u64),
        ("nano", 2),
        (
            "dim=48,hidden=128,layers=2,heads=4,kv_heads=2,vocab=600,seq=64",
            3,
        ),
    ] {
        let config = synth::parse_shape(shape).unwrap();
        let checkpoint = synth::synthesize(config, seed);
        let mut float = FloatModel::new(checkpoint.clone());
        let sequence = {
            let mut tokens = vec![BOS];
            tokens.extend(generate(&mut float, &[BOS, 300, 301], 48, greedy()).unwrap());
            tokens.pop();
            tokens
        };
        let mut float = FloatModel::new(checkpoint.clone());
        let mut golden = GoldenModel::new(QuantModel::quantize(&checkpoint));
        let f = monorail_model::fidelity::compare(&mut float, &mut golden, &sequence).unwrap();
        assert!(f.top1_agreement >= 0.9, "{shape} seed {seed}: {f:?}");
        assert!(
            f.mean_relative_logit_error.is_some_and(|e| e < 0.08),
            "{shape} seed {seed}: {f:?}"
        );
    }
}

#[test]
fn single_position_attention_returns_the_value_vector() {
    // At position 0 softmax has one term: the attention output of each head is its value vector.
    let config = synth::parse_shape("nano").unwrap();
    let mut golden = GoldenModel::new(QuantModel::quantize(&synth::synthesize(config, 5)));
    golden.record_values(true);
    golden.forward(7, 0);
    let values = golden.take_values();
    let qkv = values.iter().find(|v| v.step == ModelStep::Qkv).unwrap();
    let attention = values
        .iter()
        .find(|v| v.step == ModelStep::Attention)
        .unwrap();
    let (d, kv, hs) = (config.dim, config.kv_dim(), config.head_size());
    let v_exp = qkv.exps[2];
    for h in 0..config.n_heads {
        let g = h / config.kv_mul();
        for i in 0..hs {
            let v = qkv.mant[d + kv + g * hs + i] as f64 * 2f64.powi(v_exp);
            let a = attention.mant[h * hs + i] as f64 * 2f64.powi(attention.exps[0]);
            let unit = 2f64.powi(attention.exps[0]);
            // int8 quantisation of the cache and of the output, and the reciprocal's 0.2 %.
            assert!(
                (a - v).abs() <= 2.0 * unit + 0.004 * v.abs(),
                "head {h} element {i}: {a} vs {v}"
            );
        }
    }
}

#[test]
fn float_reference_matches_across_engines_interface() {
    // The Engine interface returns run.c's argmax for the float model.
    let checkpoint = checkpoint::load(&fixture("synthetic-a.bin")).unwrap();
    let mut float = FloatModel::new(checkpoint);
    let step = float.step(BOS, 0).unwrap();
    let best = step
        .logits
        .iter()
        .enumerate()
        .fold(0, |b, (i, &v)| if v > step.logits[b] { i } else { b });
    assert_eq!(step.argmax as usize, best);
    assert_eq!(
        step.argmax, 326,
        "the first token run.c generates for synthetic-a"
    );
}

/// Where the reference's logits have no spread (a model whose shared embedding is all zero
/// gives equal logits everywhere), the relative logit error is not measured, rather than
/// reported as 0.
#[test]
fn a_logit_error_is_not_measured_where_the_reference_has_no_spread() {
    let mut checkpoint = synth::synthesize(synth::parse_shape("nano").unwrap(), 5);
    checkpoint.weights.token_embedding.fill(0.0);
    let mut float = FloatModel::new(checkpoint.clone());
    let mut golden = GoldenModel::new(QuantModel::quantize(&checkpoint));
    let f = monorail_model::fidelity::compare(&mut float, &mut golden, &[1, 5, 9]).unwrap();
    assert_eq!(f.positions, 3);
    assert_eq!(f.mean_relative_logit_error, None, "{f:?}");
}
