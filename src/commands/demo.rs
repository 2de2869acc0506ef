//! `monorail demo`: the main job on the built-in model. The float reference and the golden
//! integer model tell a story side by side, then the compiled program tells it on the
//! simulated `ulx3s-85f` core, co-simulated against both machines' predictions.

use std::time::Instant;

use monorail_contract::board::Board;
use monorail_contract::target::Target;
use monorail_model::engine::{generate, Engine};
use monorail_model::float::FloatModel;
use monorail_model::sampler::SamplerOptions;
use monorail_model::tokenizer::{Tokenizer, BOS};
use monorail_sim::verilated::Waveforms;

use crate::cli::{EngineKind, MachineArgs, ModelArgs};
use crate::error::{refused, CliError};
use crate::load::{load, warn_where_the_prompt_fills, Loaded};
use crate::machine::{host_engine, prepare_cosim};

/// Prompt of `monorail demo`.
const DEMO_PROMPT: &str = "Once upon a time, there was a girl named Lily.";
/// Target of `monorail demo`.
const DEMO_TARGET: &str = "ulx3s-85f";
/// Columns of the stories as printed.
const TEXT_COLUMNS: usize = 96;

#[derive(clap::Args)]
pub struct Args {
    /// Positions to generate, prompt included (the story may end before); at most the built-in
    /// model's seq_len, all of which the ulx3s-85f core holds; 0 means all of them.
    #[arg(long, short = 'n', default_value_t = 128)]
    steps: usize,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let loaded = load(&ModelArgs {
        model: None,
        tokenizer: None,
    })?;
    let seq_len = loaded.checkpoint.config.seq_len;
    let steps = match args.steps {
        0 => seq_len,
        n if n > seq_len => {
            return Err(refused(format!(
                "-n {n}: the built-in model has {seq_len} positions (its seq_len): give 1 to \
                 {seq_len}, or 0 for all of them"
            )))
        }
        n => n,
    };
    let tokens = loaded.tokenizer()?.encode(DEMO_PROMPT, true, false)?;
    warn_where_the_prompt_fills(tokens.len(), steps, seq_len, "nothing is generated");
    println!("model: {}", loaded.name);
    println!("prompt: {DEMO_PROMPT:?}, {steps} positions, greedy\n");
    on_the_host(&loaded, &tokens, steps)?;
    on_the_core(&loaded, &tokens, steps)
}

/// The float reference and the golden model, free-running side by side, where their stories
/// part and why, and the golden model's teacher-forced fidelity.
fn on_the_host(loaded: &Loaded, tokens: &[u32], steps: usize) -> Result<(), CliError> {
    let tokenizer = loaded.tokenizer()?;
    let greedy = SamplerOptions::greedy();
    let mut outputs = Vec::new();
    for kind in [EngineKind::Float, EngineKind::Golden] {
        let mut engine = host_engine(kind, loaded);
        let start = Instant::now();
        let out = generate(engine.as_mut(), tokens, steps, greedy)?;
        let rate = out.len() as f64 / start.elapsed().as_secs_f64();
        println!(
            "{:<7} {rate:>8.0} tok/s, {} tokens:",
            kind.name(),
            out.len()
        );
        for line in wrap(&tokenizer.decode_text(&out), TEXT_COLUMNS) {
            println!("    {line}");
        }
        outputs.push(out);
    }
    let (float, golden) = (&outputs[0], &outputs[1]);
    // The tokens each model generated, after the prompt's (which both outputs repeat).
    let prompt = tokens.len() - 1;
    let generated = |out: &[u32]| out.len().saturating_sub(prompt);
    let same = prompt
        + float[prompt.min(float.len())..]
            .iter()
            .zip(&golden[prompt.min(golden.len())..])
            .take_while(|(a, b)| a == b)
            .count();
    match generated(float) {
        0 => println!("\nfree-running: nothing generated, the prompt fills the {steps} positions"),
        n if same - prompt == n && float.len() == golden.len() => println!(
            "\nfree-running, the golden model matches the float reference on all {n} tokens \
             generated after the prompt's {prompt}"
        ),
        n => println!(
            "\nfree-running, the golden model matches the float reference on the first {} of the \
             {n} tokens the reference generated after the prompt's {prompt}",
            same - prompt
        ),
    }
    if same < float.len().min(golden.len()) {
        // Where the texts part: how close the float model's two best choices were.
        let mut model = FloatModel::new(loaded.checkpoint.clone());
        let fed: Vec<u32> = std::iter::once(tokens[0])
            .chain(float[..same].iter().copied())
            .collect();
        let mut logits = Vec::new();
        for (pos, &token) in fed.iter().enumerate() {
            logits = model.step(token, pos)?.logits.to_vec();
        }
        let piece = |t: u32| String::from_utf8_lossy(tokenizer.piece(t)).to_string();
        let (a, b) = (float[same], golden[same]);
        println!(
            "they part at {:?} and {:?} (the pieces {:?} and {:?}), where the float model's \
             logits for the two are {:.3} apart (the stories pick things, places and feelings \
             uniformly: near-ties are common, and the integer model breaks some the other way)",
            word_at(tokenizer, float, same),
            word_at(tokenizer, golden, same),
            piece(a),
            piece(b),
            (logits[a as usize] - logits[b as usize]).abs()
        );
    }
    println!("teacher-forced fidelity of the golden model:");
    super::fidelity::print_table(&super::fidelity::measure(loaded, tokens, steps)?);
    Ok(())
}

/// The word of `out`'s text (the tokens after BOS) in which token `at` falls: the pieces the
/// tokenizer splits words into say less to a reader ("c" of "scared").
fn word_at(tokenizer: &Tokenizer, out: &[u32], at: usize) -> String {
    let (before, whole) = (
        tokenizer.decode_text(&out[..at]),
        tokenizer.decode_text(out),
    );
    let piece = || String::from_utf8_lossy(tokenizer.piece(out[at])).into_owned();
    let Some(after) = whole.strip_prefix(before.as_str()) else {
        return piece();
    };
    let in_word = |c: char| c.is_alphanumeric() || c == '\'';
    let word_from =
        |text: &str| text[..text.find(|c| !in_word(c)).unwrap_or(text.len())].to_string();
    let word = match after.find(in_word) {
        // The token goes on with the word before it ("c" of "scared").
        Some(0) => {
            let start = before.rfind(|c: char| !in_word(c)).map_or(0, |i| {
                i + before[i..].chars().next().map_or(1, char::len_utf8)
            });
            format!("{}{}", &before[start..], word_from(after))
        }
        // The token starts a word, after a space.
        Some(i) if after[..i].chars().all(char::is_whitespace) => word_from(&after[i..]),
        _ => String::new(),
    };
    if word.is_empty() {
        piece() // (punctuation, a newline)
    } else {
        word
    }
}

/// The `ulx3s-85f` core: generated, Verilated, and co-simulated against the golden model and
/// the instruction-set simulator, with the cycles it took and what they project on the board.
fn on_the_core(loaded: &Loaded, tokens: &[u32], steps: usize) -> Result<(), CliError> {
    let tokenizer = loaded.tokenizer()?;
    let machine = MachineArgs {
        target: Some(DEMO_TARGET.into()),
        // The longest cache the target holds.
        context: None,
    };
    let target = machine.target()?;
    println!();
    for line in monorail_hw::report(&target) {
        println!("{line}");
    }
    let spinner = indicatif::ProgressBar::new_spinner().with_message(format!(
        "building the Verilated {DEMO_TARGET} core (about half a minute, once)"
    ));
    // When the build starts: the time before it is the bundle's, and on a first run the
    // pinned tools' installation, which the build's own time should not count.
    let build_started = std::cell::Cell::new(None);
    let building = || {
        build_started.set(Some(Instant::now()));
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    };
    let start = Instant::now();
    let prepared = prepare_cosim(loaded, &machine, None, &[], Waveforms::Off, &building)?;
    spinner.finish_and_clear();
    match build_started.get() {
        Some(build) if prepared.build.built => println!(
            "Verilated core built in {:.1} s ({:.1} s before it: the bundle, and the pinned tools \
             when they were not installed yet)",
            build.elapsed().as_secs_f64(),
            (build - start).as_secs_f64()
        ),
        _ => println!(
            "Verilated core reused ({:.1} s with the bundle and the tools' check)",
            start.elapsed().as_secs_f64()
        ),
    }
    let mut cosim = prepared.cosim()?;
    let positions = steps.min(prepared.bundle.manifest.predicted_cycles.len());
    let bar = indicatif::ProgressBar::new(positions as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "co-simulating golden, ISS and RTL {bar:30} {pos}/{len} tokens",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (mut out, mut cycles, mut seconds, mut values) = (Vec::new(), Vec::new(), 0.0, 0);
    let mut token = tokens[0];
    for pos in 0..positions {
        match cosim.step(token, pos) {
            Ok(row) => {
                cycles.push(row.rtl_cycles);
                seconds += row.rtl_seconds;
                values += row.values;
                token = tokens.get(pos + 1).copied().unwrap_or(row.next);
                out.push(token);
                bar.inc(1);
                if token == BOS {
                    break; // the story is over
                }
            }
            Err(d) => {
                bar.finish_and_clear();
                println!("FAIL: {d}");
                return Err(CliError::failed("co-simulation failed"));
            }
        }
    }
    bar.finish_and_clear();
    let total: u64 = cycles.iter().sum();
    let per_token = total as f64 / cycles.len() as f64;
    let positions = cycles.len();
    println!("the core wrote:");
    for line in wrap(&tokenizer.decode_text(&out), TEXT_COLUMNS) {
        println!("    {line}");
    }
    println!(
        "PASS: {positions} tokens on the golden model, the ISS and the RTL: every token, every \
         named step's values ({values} in all) and every step's cycles equal"
    );
    println!(
        "cycles per token: {} to {} (the RTL's, equal to the compiler's prediction), \
         {per_token:.0} on average",
        cycles.iter().min().copied().unwrap_or(0),
        cycles.iter().max().copied().unwrap_or(0)
    );
    println!(
        "simulated: {:.2} M cycles/s, {:.1} tokens/s in Verilator",
        total as f64 / seconds / 1e6,
        positions as f64 / seconds
    );
    println!(
        "projected at the target's {} MHz: {:.0} tokens/s{}",
        target.clock_hz / 1_000_000,
        target.clock_hz as f64 / per_token,
        carried_by(&target)
    );
    Ok(())
}

/// Which built-in boards carry `target`, or, where none does, what the boards with its FPGA
/// carry instead: a projection at the target's clock is not a board's until a bitstream meets
/// that clock.
fn carried_by(target: &Target) -> String {
    let boards = Board::builtins();
    let carriers: Vec<&str> = boards
        .iter()
        .filter(|b| b.named_target.name == target.name)
        .map(|b| b.name.as_str())
        .collect();
    if !carriers.is_empty() {
        return format!(" on {} (`monorail boards`)", carriers.join(", "));
    }
    // A core for simulation has no FPGA, so no board to name.
    if target.device.is_none() {
        return String::new();
    }
    format!(
        "; no built-in board carries the {} target{} (`monorail boards`)",
        target.name,
        super::targets::carried_instead(target, &boards)
            .map_or(String::new(), |instead| format!(": {instead}"))
    )
}

/// Break text into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_projection_names_the_boards_that_carry_its_target_or_what_they_carry_instead() {
        let on = |name: &str| carried_by(&Target::builtin(name).unwrap());
        assert_eq!(
            on("ecp5-85f"),
            " on ulx3s-85f, orangecrab-85f (`monorail boards`)"
        );
        assert_eq!(
            on("ulx3s-85f"),
            "; no built-in board carries the ulx3s-85f target: the LFE5U-85F boards ulx3s-85f \
             and orangecrab-85f carry ecp5-85f (`monorail boards`)"
        );
        // A core for simulation has no FPGA, so no board to name.
        assert_eq!(on("sim-tiny"), "");
    }

    /// Every token of a story falls in one of its words, named whole, or is punctuation, named
    /// by its piece.
    #[test]
    fn a_token_is_named_by_the_word_it_falls_in() {
        let (_, tokenizer) = monorail_model::builtin::default_model().load().unwrap();
        let text = "Once upon a time, Lily felt scared. Max's hat!";
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .collect();
        let out = &tokenizer.encode(text, true, false).unwrap()[1..];
        let named: Vec<String> = (0..out.len())
            .map(|at| word_at(&tokenizer, out, at))
            .collect();
        for (at, name) in named.iter().enumerate() {
            let piece = String::from_utf8_lossy(tokenizer.piece(out[at])).into_owned();
            assert!(
                words.contains(&name.as_str())
                    || (name == &piece && !piece.contains(char::is_alphanumeric)),
                "token {at} ({piece:?}) named {name:?}"
            );
        }
        // Each word is named, in order.
        let mut said: Vec<&str> = named.iter().map(String::as_str).collect();
        said.dedup();
        said.retain(|w| words.contains(w));
        assert_eq!(said, words);
    }
}
