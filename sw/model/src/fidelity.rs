//! How closely the golden integer model follows the float reference, teacher-forced: both models
//! are fed the same token sequences, and their next-token predictions are compared at every
//! position (and scored against the token that follows).

use crate::engine::Engine;

/// Fidelity figures over one or more sequences.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Fidelity {
    /// Positions compared.
    pub positions: usize,
    /// Share of positions where both models' argmax agree.
    pub top1_agreement: f64,
    /// Mean over positions of `KL(float || golden)` of the next-token distributions, in nats.
    pub mean_kl_nats: f64,
    /// Largest per-position KL divergence, in nats.
    pub max_kl_nats: f64,
    /// Mean of `rms(golden - float) / std(float)` of the logits over the positions where the
    /// reference's logits have a spread (none where none has: all equal, as where float32
    /// overflows or every input is zero).
    pub mean_relative_logit_error: Option<f64>,
    /// The reference's cross-entropy of the token that follows, in nats per token (over the
    /// positions that have a next token; none when no position has one).
    pub reference_loss_nats: Option<f64>,
    /// The candidate's cross-entropy of the token that follows, in nats per token (none when no
    /// position has a next token).
    pub candidate_loss_nats: Option<f64>,
}

pub(crate) fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let log_sum = logits
        .iter()
        .map(|&v| (v as f64 - max).exp())
        .sum::<f64>()
        .ln();
    logits.iter().map(|&v| v as f64 - max - log_sum).collect()
}

/// Feed `tokens` (starting at position 0) to both engines and compare their predictions.
pub fn compare(
    reference: &mut dyn Engine,
    candidate: &mut dyn Engine,
    tokens: &[u32],
) -> Result<Fidelity, crate::ModelError> {
    compare_sequences(reference, candidate, &[tokens])
}

/// [`compare`] over several sequences, each fed from position 0; the figures are over all their
/// positions together.
pub fn compare_sequences(
    reference: &mut dyn Engine,
    candidate: &mut dyn Engine,
    sequences: &[&[u32]],
) -> Result<Fidelity, crate::ModelError> {
    let (mut positions, mut scored, mut agree, mut spread) = (0usize, 0usize, 0usize, 0usize);
    let (mut kl_sum, mut kl_max, mut err_sum) = (0.0f64, 0.0f64, 0.0f64);
    let (mut reference_loss, mut candidate_loss) = (0.0f64, 0.0f64);
    for tokens in sequences {
        for (pos, &token) in tokens.iter().enumerate() {
            let r = reference.step(token, pos)?;
            let (r_argmax, r_logits) = (r.argmax, r.logits.to_vec());
            let c = candidate.step(token, pos)?;
            agree += usize::from(c.argmax == r_argmax);
            let (lp, lq) = (log_softmax(&r_logits), log_softmax(c.logits));
            if let Some(&next) = tokens.get(pos + 1) {
                reference_loss -= lp[next as usize];
                candidate_loss -= lq[next as usize];
                scored += 1;
            }
            let kl: f64 = lp.iter().zip(&lq).map(|(p, q)| p.exp() * (p - q)).sum();
            kl_sum += kl.max(0.0);
            kl_max = kl_max.max(kl);
            let n = r_logits.len() as f64;
            let mean = r_logits.iter().map(|&v| v as f64).sum::<f64>() / n;
            let var = r_logits
                .iter()
                .map(|&v| (v as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            let mse = r_logits
                .iter()
                .zip(c.logits)
                .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                .sum::<f64>()
                / n;
            if var > 0.0 {
                err_sum += (mse / var).sqrt();
                spread += 1;
            }
            positions += 1;
        }
    }
    let n = positions.max(1) as f64;
    let loss = |sum: f64| (scored > 0).then(|| sum / scored as f64);
    Ok(Fidelity {
        positions,
        top1_agreement: agree as f64 / n,
        mean_kl_nats: kl_sum / n,
        max_kl_nats: kl_max,
        mean_relative_logit_error: (spread > 0).then(|| err_sum / spread as f64),
        reference_loss_nats: loss(reference_loss),
        candidate_loss_nats: loss(candidate_loss),
    })
}
