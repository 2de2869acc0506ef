//! One interface over the models that generate tokens (the float reference and the golden model
//! here; the command line puts the instruction-set simulator and the Verilated core behind it
//! too), and `run.c`'s generation loop over it.

use monorail_contract::model_config::ModelConfig;

use crate::error::ModelError;
use crate::sampler::{Sampler, SamplerOptions};
use crate::tokenizer::BOS;

/// What one token step returns.
pub struct StepOutput<'a> {
    /// Logits as floats (dequantised for integer engines), for sampling and fidelity. // (vocab,)
    pub logits: &'a [f32],
    /// The engine's own argmax (for integer engines, the on-chip integer argmax).
    pub argmax: u32,
}

/// A model that runs one token step at a time, keeping its key/value cache between steps.
pub trait Engine {
    /// The model's hyper-parameters.
    fn config(&self) -> &ModelConfig;
    /// Run token `token` at position `pos` (positions are fed in order from 0). A token outside
    /// the vocabulary or a position past the context is refused ([`check_step`]); machines may
    /// also fail on a fault of their program.
    fn step(&mut self, token: u32, pos: usize) -> Result<StepOutput<'_>, ModelError>;
}

/// Refuses a step `config`'s model cannot run: a token outside its vocabulary, or a position
/// past its `seq_len`.
pub fn check_step(config: &ModelConfig, token: u32, pos: usize) -> Result<(), ModelError> {
    if token as usize >= config.vocab_size {
        return Err(ModelError::Invalid(format!(
            "token {token} is outside the vocabulary of {} tokens",
            config.vocab_size
        )));
    }
    if pos >= config.seq_len {
        return Err(ModelError::Invalid(format!(
            "position {pos} is past the model's seq_len of {} positions",
            config.seq_len
        )));
    }
    Ok(())
}

/// `run.c`'s `generate` loop: feed the prompt, then sample, for `steps` positions (0 means the
/// model's `seq_len`, as `run.c`; more is clamped to it). Returns the `next` token of every step
/// (prompt tokens after the first, then sampled ones), stopping after a BOS.
pub fn generate(
    engine: &mut dyn Engine,
    prompt_tokens: &[u32],
    steps: usize,
    options: SamplerOptions,
) -> Result<Vec<u32>, ModelError> {
    generate_with(engine, prompt_tokens, steps, options, &mut |_| {})
}

/// [`generate`], handing each token to `on_token` as soon as it is known (for text printed as
/// it is generated, as `run.c` prints each piece and flushes).
pub fn generate_with(
    engine: &mut dyn Engine,
    prompt_tokens: &[u32],
    steps: usize,
    options: SamplerOptions,
    on_token: &mut dyn FnMut(u32),
) -> Result<Vec<u32>, ModelError> {
    let config = *engine.config();
    let vocab = config.vocab_size as u32;
    let Some(&first) = prompt_tokens.first() else {
        return Err(ModelError::Invalid("the prompt has no tokens".into()));
    };
    if let Some(bad) = prompt_tokens.iter().find(|&&t| t >= vocab) {
        return Err(ModelError::Invalid(format!(
            "prompt token {bad} is outside the model's vocabulary of {vocab} tokens"
        )));
    }
    let steps = if steps == 0 || steps > config.seq_len {
        config.seq_len
    } else {
        steps
    };
    let mut sampler = Sampler::new(options, config.vocab_size)?;
    let mut out = Vec::with_capacity(steps);
    let mut token = first;
    for pos in 0..steps {
        let step = engine.step(token, pos)?;
        let next = if pos + 1 < prompt_tokens.len() {
            prompt_tokens[pos + 1]
        } else if sampler.is_greedy() {
            step.argmax
        } else {
            sampler.sample(step.logits)
        };
        out.push(next);
        on_token(next);
        if next == BOS {
            break;
        }
        token = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::float::FloatModel;
    use crate::golden::GoldenModel;
    use crate::quant::QuantModel;
    use crate::synth;

    #[test]
    fn a_step_outside_the_model_is_refused_not_run() {
        let checkpoint = synth::synthesize(synth::parse_shape("nano").unwrap(), 1);
        let config = checkpoint.config;
        let quant = QuantModel::quantize(&checkpoint);
        let engines: [Box<dyn Engine>; 2] = [
            Box::new(FloatModel::new(checkpoint)),
            Box::new(GoldenModel::new(quant)),
        ];
        for mut engine in engines {
            let vocab = config.vocab_size as u32;
            let e = engine.step(vocab, 0).err().unwrap().to_string();
            assert!(e.contains(&format!("token {vocab} is outside")), "{e}");
            let e = engine.step(1, config.seq_len).err().unwrap().to_string();
            assert!(e.contains("past the model's seq_len"), "{e}");
            assert!(engine.step(vocab - 1, 0).is_ok());
        }
    }
}
