//! The quality of a model trained on the project's stories, measured on its held-out split: how
//! well the float model predicts them, how closely the golden integer model follows it, and how
//! grammatical the stories each of them writes are.
//!
//! Random weights prove bit-exactness but not that the integer numerics keep a model's
//! behaviour; these figures do.

use crate::corpus::{self, Split, StoryGenerator};
use crate::engine::{generate, Engine};
use crate::error::ModelError;
use crate::fidelity::{compare_sequences, Fidelity};
use crate::sampler::SamplerOptions;
use crate::tokenizer::{Tokenizer, BOS};

/// Most held-out stories, and most continuations, a measurement takes (each costs a model run;
/// the defaults are 100 and 200).
pub const MAX_SAMPLES: usize = 100_000;

/// What to measure.
#[derive(Clone, Copy, Debug)]
pub struct QualityOptions {
    /// Seed of the corpus the model was trained on (its held-out split is used).
    pub corpus_seed: u64,
    /// Held-out stories fed teacher-forced.
    pub stories: usize,
    /// Continuations written by each model: even ones greedy, odd ones sampled.
    pub continuations: usize,
    /// Temperature of the sampled continuations (top-p 0.9, seeded).
    pub temperature: f32,
}

impl Default for QualityOptions {
    fn default() -> QualityOptions {
        QualityOptions {
            corpus_seed: 1,
            stories: 100,
            continuations: 200,
            temperature: 1.0,
        }
    }
}

/// Grammar of the continuations one model wrote.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct GrammarScore {
    /// Continuations written.
    pub continuations: usize,
    /// Complete sentences in them (after the prompt's).
    pub sentences: usize,
    /// Of those, the grammatical ones ([`corpus::Checker`]).
    pub grammatical: usize,
    /// The first few that are not, words separated by spaces.
    pub errors: Vec<String>,
}

/// Ungrammatical sentences kept as examples per model.
const ERROR_EXAMPLES: usize = 8;

impl GrammarScore {
    /// Share of complete sentences that are grammatical.
    pub fn share(&self) -> f64 {
        self.grammatical as f64 / self.sentences.max(1) as f64
    }
}

/// The figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Quality {
    /// Teacher-forced, float reference against golden model; `reference_loss_nats` is the float
    /// model's held-out loss, `candidate_loss_nats` the golden model's.
    pub fidelity: Fidelity,
    /// Float model's held-out perplexity, `exp(loss)`.
    pub float_perplexity: f64,
    /// Golden model's held-out perplexity.
    pub golden_perplexity: f64,
    /// Grammar of the float model's continuations.
    pub float_grammar: GrammarScore,
    /// Grammar of the golden model's continuations.
    pub golden_grammar: GrammarScore,
}

/// The `i`th continuation's prompt: the first one to three sentences of a held-out story, and
/// how many sentences that is.
fn prompt(story: &[String], i: usize) -> (String, usize) {
    let n = (1 + i % 3).min(story.len());
    (story[..n].join(" "), n)
}

/// Measure `float` and `golden` (fresh engines of the same model) on the held-out stories.
pub fn measure(
    float: &mut dyn Engine,
    golden: &mut dyn Engine,
    tokenizer: &Tokenizer,
    options: QualityOptions,
) -> Result<Quality, ModelError> {
    for (what, n) in [
        ("stories", options.stories),
        ("continuations", options.continuations),
    ] {
        if n == 0 || n > MAX_SAMPLES {
            return Err(ModelError::Invalid(format!(
                "{n} {what}: give 1 ..= {MAX_SAMPLES}"
            )));
        }
    }
    let context = float.config().seq_len;
    let mut generator = StoryGenerator::new(options.corpus_seed, Split::Heldout);
    let mut sequences = Vec::with_capacity(options.stories);
    for _ in 0..options.stories {
        let mut tokens = tokenizer.encode(&generator.story(), true, false)?;
        tokens.truncate(context);
        sequences.push(tokens);
    }
    let views: Vec<&[u32]> = sequences.iter().map(Vec::as_slice).collect();
    let fidelity = compare_sequences(float, golden, &views)?;

    let mut grammar = [GrammarScore::default(), GrammarScore::default()];
    let mut generator = StoryGenerator::new(options.corpus_seed, Split::Heldout);
    for i in 0..options.continuations {
        let (prompt_text, prompt_sentences) = prompt(&generator.story_sentences(), i);
        let prompt_tokens = tokenizer.encode(&prompt_text, true, false)?;
        let sampler = if i % 2 == 0 {
            SamplerOptions::greedy()
        } else {
            SamplerOptions {
                temperature: options.temperature,
                topp: 0.9,
                seed: i as u64 + 1,
            }
        };
        for (which, score) in grammar.iter_mut().enumerate() {
            let engine: &mut dyn Engine = if which == 0 {
                &mut *float
            } else {
                &mut *golden
            };
            let tokens = generate(engine, &prompt_tokens, context, sampler)?;
            // The prompt's tokens after BOS, then what the model wrote, up to its BOS.
            let mut story: Vec<u32> = prompt_tokens[1..].to_vec();
            story.extend(
                tokens
                    .iter()
                    .skip(prompt_tokens.len() - 1)
                    .take_while(|&&t| t != BOS),
            );
            let text = tokenizer.decode_text(&story);
            score.continuations += 1;
            for (sentence, ok) in corpus::judge_sentences(&text, prompt_sentences) {
                score.sentences += 1;
                score.grammatical += usize::from(ok);
                if !ok && score.errors.len() < ERROR_EXAMPLES {
                    score.errors.push(sentence);
                }
            }
        }
    }
    let [float_grammar, golden_grammar] = grammar;
    Ok(Quality {
        // (the held-out stories have more than one token: every measure scores some)
        float_perplexity: fidelity.reference_loss_nats.map_or(f64::NAN, f64::exp),
        golden_perplexity: fidelity.candidate_loss_nats.map_or(f64::NAN, f64::exp),
        fidelity,
        float_grammar,
        golden_grammar,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_whole_sentences() {
        let story: Vec<String> = [
            "Once upon a time, there was a cat named Tom.",
            "He ran.",
            "They played.",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            prompt(&story, 0),
            ("Once upon a time, there was a cat named Tom.".into(), 1)
        );
        assert_eq!(
            prompt(&story, 1).0,
            "Once upon a time, there was a cat named Tom. He ran."
        );
        assert_eq!(prompt(&story, 2).1, 3);
        assert_eq!(prompt(&story[..1], 2).1, 1);
    }
}
