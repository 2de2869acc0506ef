//! llama2.c's sampler: greedy at temperature 0, otherwise temperature, softmax and top-p (or
//! plain multinomial sampling when `topp` is outside `(0, 1)`), driven by its xorshift* generator.
//! Ported operation for operation (including its float32 arithmetic) so that the same seed gives
//! the same tokens as `run.c`.

use crate::error::ModelError;

/// Sampling options, as `run.c`'s `-t`, `-p` and `-s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerOptions {
    /// Temperature; 0 is greedy.
    pub temperature: f32,
    /// Top-p (nucleus) threshold; outside `(0, 1)` means plain multinomial sampling.
    pub topp: f32,
    /// Seed of the xorshift* generator (non-zero: zero is a fixed point of xorshift).
    pub seed: u64,
}

impl SamplerOptions {
    /// Greedy decoding (temperature 0).
    pub fn greedy() -> SamplerOptions {
        SamplerOptions {
            temperature: 0.0,
            topp: 0.9,
            seed: 1,
        }
    }

    /// Check the options (llama2.c silently replaces bad values; Monorail refuses them).
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(ModelError::Invalid(format!(
                "temperature {} must be a finite number >= 0",
                self.temperature
            )));
        }
        if !(0.0..=1.0).contains(&self.topp) {
            return Err(ModelError::Invalid(format!(
                "top-p {} must be in [0, 1]",
                self.topp
            )));
        }
        if self.seed == 0 {
            return Err(ModelError::Invalid(
                "seed must be non-zero (llama2.c's xorshift generator is stuck at 0)".into(),
            ));
        }
        Ok(())
    }
}

/// The sampler's state.
#[derive(Clone, Debug)]
pub struct Sampler {
    options: SamplerOptions,
    rng_state: u64,
    probs: Vec<f32>,
    candidates: Vec<(f32, u32)>,
}

/// `run.c`'s `softmax`, in place.
pub fn softmax(x: &mut [f32]) {
    let max = x[1..].iter().fold(x[0], |m, &v| if v > m { v } else { m });
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// `run.c`'s `sample_argmax`: the first largest value.
pub fn argmax_f32(x: &[f32]) -> u32 {
    let mut best = 0;
    for i in 1..x.len() {
        if x[i] > x[best] {
            best = i;
        }
    }
    best as u32
}

impl Sampler {
    /// A sampler for a vocabulary of `vocab_size` tokens.
    pub fn new(options: SamplerOptions, vocab_size: usize) -> Result<Sampler, ModelError> {
        options.validate()?;
        Ok(Sampler {
            options,
            rng_state: options.seed,
            probs: vec![0.0; vocab_size],
            candidates: Vec::with_capacity(vocab_size),
        })
    }

    fn random_u32(&mut self) -> u32 {
        self.rng_state ^= self.rng_state >> 12;
        self.rng_state ^= self.rng_state << 25;
        self.rng_state ^= self.rng_state >> 27;
        (self.rng_state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    fn random_f32(&mut self) -> f32 {
        (self.random_u32() >> 8) as f32 / 16_777_216.0
    }

    /// `run.c`'s `sample_mult` over `self.probs`.
    fn sample_multinomial(&self, coin: f32) -> u32 {
        let mut cdf = 0.0f32;
        for (i, &p) in self.probs.iter().enumerate() {
            cdf += p;
            if coin < cdf {
                return i as u32;
            }
        }
        self.probs.len() as u32 - 1
    }

    /// Whether this sampler is greedy (the engine's own argmax is then the answer).
    pub fn is_greedy(&self) -> bool {
        self.options.temperature == 0.0
    }

    /// The next token from float logits (not modified).
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.is_greedy() {
            return argmax_f32(logits);
        }
        self.probs.clear();
        self.probs
            .extend(logits.iter().map(|&l| l / self.options.temperature));
        softmax(&mut self.probs);
        if !self.probs.iter().all(|p| p.is_finite()) {
            // A temperature so small that logits / temperature overflows: its limit is greedy.
            return argmax_f32(logits);
        }
        let coin = self.random_f32();
        let topp = self.options.topp;
        if topp <= 0.0 || topp >= 1.0 {
            return self.sample_multinomial(coin);
        }
        // Top-p: keep the tokens that can matter, sort them by descending probability (a stable
        // sort, as glibc's qsort is for this data), cut at topp, sample within.
        let cutoff = (1.0f32 - topp) / (logits.len() - 1) as f32;
        self.candidates.clear();
        self.candidates.extend(
            self.probs
                .iter()
                .enumerate()
                .filter(|(_, &p)| p >= cutoff)
                .map(|(i, &p)| (p, i as u32)),
        );
        if self.candidates.is_empty() {
            // Every probability is under the cutoff (a flat distribution): run.c would read past
            // its buffer here; sample from the whole distribution instead.
            return self.sample_multinomial(coin);
        }
        self.candidates
            .sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
        let mut cumulative = 0.0f32;
        let mut last = self.candidates.len() - 1;
        for (i, &(p, _)) in self.candidates.iter().enumerate() {
            cumulative += p;
            if cumulative > topp {
                last = i;
                break;
            }
        }
        let r = coin * cumulative;
        let mut cdf = 0.0f32;
        for &(p, index) in &self.candidates[..=last] {
            cdf += p;
            if r < cdf {
                return index;
            }
        }
        self.candidates[last].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(temperature: f32, topp: f32) -> Sampler {
        let options = SamplerOptions {
            temperature,
            topp,
            seed: 7,
        };
        Sampler::new(options, 4).unwrap()
    }

    #[test]
    fn extreme_temperatures_do_not_break_sampling() {
        let logits = [0.5f32, 2.0, -1.0, 1.0];
        // So small that logits / temperature overflows: the greedy limit.
        assert_eq!(sampler(1e-40, 0.9).sample(&logits), 1);
        // So large that every probability is under the top-p cutoff: the whole distribution.
        let t = sampler(1e6, 0.001).sample(&logits);
        assert!(t < 4);
    }

    #[test]
    fn greedy_is_the_first_largest() {
        assert_eq!(sampler(0.0, 0.9).sample(&[1.0, 3.0, 3.0, 0.0]), 1);
    }
}
