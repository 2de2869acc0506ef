//! The committed models: the float reference follows the training code's forward pass (run.c's
//! semantics, on both sides), and the quality the README states is what they have.

use monorail_model::builtin::MODELS;
use monorail_model::engine::Engine;
use monorail_model::float::FloatModel;

#[derive(serde::Deserialize)]
struct Reference {
    tokens: Vec<u32>,
    positions: Vec<usize>,
    logits: Vec<Vec<f32>>,
}

#[test]
fn the_float_reference_gives_the_training_code_s_logits() {
    for model in &MODELS {
        let path = format!(
            "{}/../../models/{}/reference.json",
            env!("CARGO_MANIFEST_DIR"),
            model.name
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let reference: Reference = serde_json::from_str(&text).unwrap();
        let (checkpoint, _) = model.load().unwrap();
        let mut float = FloatModel::new(checkpoint);
        let mut checked = 0;
        for (pos, &token) in reference.tokens.iter().enumerate() {
            let logits = float.step(token, pos).unwrap().logits.to_vec();
            if let Some(k) = reference.positions.iter().position(|&p| p == pos) {
                let expected = &reference.logits[k];
                assert_eq!(logits.len(), expected.len());
                let spread = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
                let worst = logits
                    .iter()
                    .zip(expected)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                // Float rounding only: a different order of sums, nothing more.
                assert!(
                    worst <= 1e-4 * spread.max(1.0),
                    "{}: position {pos}: logits differ by up to {worst} (largest {spread})",
                    model.name
                );
                checked += 1;
            }
        }
        assert_eq!(checked, reference.positions.len());
    }
}
