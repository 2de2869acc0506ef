//! `monorail quality`: a model trained on the project's stories, measured on their held-out
//! split against the targets of issue 7 (97% top-1 agreement, 90% grammatical sentences).

use monorail_contract::counted;
use monorail_model::float::FloatModel;
use monorail_model::golden::GoldenModel;
use monorail_model::quality::{self, GrammarScore, Quality, QualityOptions};
use monorail_model::ModelError;

use crate::cli::ModelArgs;
use crate::error::{refused, CliError};
use crate::load::load;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Seed of the corpus the model was trained on; default: the built-in model's.
    #[arg(long)]
    corpus_seed: Option<u64>,
    /// Held-out stories fed teacher-forced.
    #[arg(long, default_value_t = 100)]
    stories: usize,
    /// Continuations each model writes (half greedy, half sampled).
    #[arg(long, default_value_t = 200)]
    continuations: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

/// Least top-1 agreement between golden and float model that `monorail quality` accepts.
const TARGET_AGREEMENT: f64 = 0.97;
/// Least share of grammatical sentences that `monorail quality` accepts, for either model.
const TARGET_GRAMMAR: f64 = 0.90;

pub fn run(args: Args) -> Result<(), CliError> {
    let loaded = load(&args.model)?;
    let corpus_seed = match (args.corpus_seed, loaded.builtin) {
        (Some(seed), _) => seed,
        (None, Some(builtin)) => builtin.corpus_seed(),
        (None, None) => {
            return Err(refused(format!(
                "{}: give --corpus-seed, the seed of the corpus it was trained on",
                loaded.name
            )))
        }
    };
    let (stories, continuations) = (args.stories, args.continuations);
    for (flag, n) in [("--stories", stories), ("--continuations", continuations)] {
        if n == 0 || n > quality::MAX_SAMPLES {
            return Err(refused(format!(
                "{flag} {n}: give 1 ..= {}",
                quality::MAX_SAMPLES
            )));
        }
    }
    let options = QualityOptions {
        corpus_seed,
        stories,
        continuations,
        ..QualityOptions::default()
    };
    let mut float = FloatModel::new(loaded.checkpoint.clone());
    let mut golden = GoldenModel::new(loaded.quantized());
    let q =
        quality::measure(&mut float, &mut golden, loaded.tokenizer()?, options).map_err(|e| {
            match e {
                // The held-out stories are text, encoded before anything runs.
                ModelError::NoDummyPrefix { .. } => refused(format!(
                    "{}: {e}; quality encodes the project's stories as text, so it needs a \
                 tokenizer that can (those of the project's corpus, `monorail corpus`, can)",
                    loaded.name
                )),
                e => e.into(),
            }
        })?;
    let targets = targets(&q);
    if args.json {
        // The figures, and each target with whether it was met.
        let mut value = serde_json::to_value(&q).expect("serialisable");
        value["targets"] = serde_json::to_value(&targets).expect("serialisable");
        println!("{value}");
    } else {
        println!(
            "model: {}; held-out stories of corpus seed {corpus_seed}: {stories} teacher-forced \
             ({} positions), {continuations} continuations each",
            loaded.name, q.fidelity.positions
        );
        print_table(&q);
    }
    let missed: Vec<String> = targets
        .iter()
        .filter(|t| !t.met)
        .map(|t| match t.value {
            Some(value) => format!(
                "{} {:.2}%, below the target of {:.0}%",
                t.measure,
                100.0 * value,
                100.0 * t.target
            ),
            None => format!("{}: no complete sentence to judge", t.measure),
        })
        .collect();
    if !missed.is_empty() {
        return Err(CliError::failed(format!(
            "quality target missed: {}",
            missed.join("; ")
        )));
    }
    Ok(())
}

/// A quality target: the measure, its value (none where there was nothing to measure), the
/// least value accepted, and whether it was met.
#[derive(serde::Serialize)]
struct Target {
    measure: &'static str,
    value: Option<f64>,
    target: f64,
    met: bool,
}

/// The targets, measured on `q`. A grammar target of no complete sentences is not met.
fn targets(q: &Quality) -> Vec<Target> {
    let grammar = |g: &GrammarScore| (g.sentences > 0).then(|| g.share());
    [
        (
            "top-1 agreement",
            Some(q.fidelity.top1_agreement),
            TARGET_AGREEMENT,
        ),
        (
            "grammatical sentences of the float model",
            grammar(&q.float_grammar),
            TARGET_GRAMMAR,
        ),
        (
            "grammatical sentences of the golden model",
            grammar(&q.golden_grammar),
            TARGET_GRAMMAR,
        ),
    ]
    .into_iter()
    .map(|(measure, value, target)| Target {
        measure,
        value,
        target,
        met: value.is_some_and(|v| v >= target),
    })
    .collect()
}

fn print_table(q: &Quality) {
    let f = &q.fidelity;
    let grammar = |g: &GrammarScore| match g.sentences {
        0 => "n/a (no complete sentence)".to_string(),
        _ => format!(
            "{:.1}% ({} of {})",
            100.0 * g.share(),
            g.grammatical,
            g.sentences
        ),
    };
    println!("| measure | float | golden (integer) | target |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| held-out loss (nats/token) | {:.4} | {:.4} | |",
        f.reference_loss_nats.unwrap_or(f64::NAN),
        f.candidate_loss_nats.unwrap_or(f64::NAN)
    );
    println!(
        "| held-out perplexity | {:.4} | {:.4} | |",
        q.float_perplexity, q.golden_perplexity
    );
    println!(
        "| top-1 agreement with float | | {:.2}% | >= {:.0}% |",
        100.0 * f.top1_agreement,
        100.0 * TARGET_AGREEMENT
    );
    println!(
        "| mean KL(float ‖ golden) (nats) | | {:.5} | |",
        f.mean_kl_nats
    );
    println!(
        "| grammatical sentences ({}) | {} | {} | >= {:.0}% |",
        counted(q.float_grammar.continuations, "continuation"),
        grammar(&q.float_grammar),
        grammar(&q.golden_grammar),
        100.0 * TARGET_GRAMMAR
    );
    for (model, g) in [("float", &q.float_grammar), ("golden", &q.golden_grammar)] {
        if !g.errors.is_empty() {
            println!("\nfirst ungrammatical sentences of the {model} model:");
            for sentence in &g.errors {
                println!("    {sentence}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monorail_model::fidelity::Fidelity;

    /// A grammar of no complete sentence has no value and misses its target; the others are
    /// met or missed by their values.
    #[test]
    fn a_grammar_of_no_sentence_is_missed_without_a_value() {
        let some = GrammarScore {
            continuations: 2,
            sentences: 10,
            grammatical: 9,
            ..GrammarScore::default()
        };
        let q = Quality {
            fidelity: Fidelity {
                positions: 10,
                top1_agreement: 0.9699,
                mean_kl_nats: 0.0,
                max_kl_nats: 0.0,
                mean_relative_logit_error: Some(0.0),
                reference_loss_nats: Some(0.5),
                candidate_loss_nats: Some(0.5),
            },
            float_perplexity: 1.6,
            golden_perplexity: 1.6,
            float_grammar: some,
            golden_grammar: GrammarScore {
                continuations: 2,
                ..GrammarScore::default()
            },
        };
        let t = targets(&q);
        assert_eq!(
            t.iter().map(|t| (t.value, t.met)).collect::<Vec<_>>(),
            vec![(Some(0.9699), false), (Some(0.9), true), (None, false)]
        );
    }
}
