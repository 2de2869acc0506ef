//! Properties of compiled programs: deterministic output, a consistent schedule picture, a
//! listing that names every instruction's model step.

use std::sync::OnceLock;

use monorail_compiler::{compile, timeline, CompileOptions, Compiled};
use monorail_contract::bundle::Region;
use monorail_contract::isa::{Instr, Op, Unit};
use monorail_contract::numerics::{
    hidden_blocks, int8_dot_bits, normalize_shift, ACCUMULATOR_BITS, HIDDEN_BLOCK,
};
use monorail_contract::target::{RawTarget, Target};
use monorail_contract::timing::{chain_distance, cost, pass_gap_cycles, Clock, Issued};
use monorail_model::quant::QuantModel;
use monorail_model::synth;

/// A `matvec`'s fields that the tests look at.
#[derive(Clone, Copy, Debug)]
struct Product {
    dst: i64,
    w: i64,
    x: i64,
    rows: i64,
    cols: i64,
}

/// The matrix products of `program` that read `region`'s words, in the order of those words
/// (the schedule may issue them in another).
fn products_reading(program: &[Instr], region: &Region) -> Vec<Product> {
    let words = region.start..region.start + region.size;
    let mut products: Vec<Product> = program
        .iter()
        .filter_map(|i| match i.op {
            Op::Matvec {
                dst,
                w,
                x,
                rows,
                cols,
                ..
            } if words.contains(&(w as u32)) => Some(Product {
                dst,
                w,
                x,
                rows,
                cols,
            }),
            _ => None,
        })
        .collect();
    products.sort_by_key(|p| p.w);
    products
}

/// The region of the memory map called `name`.
fn region<'a>(compiled: &'a Compiled, name: &str) -> Option<&'a Region> {
    compiled
        .bundle
        .manifest
        .regions
        .iter()
        .find(|r| r.name == name)
}

fn stories() -> QuantModel {
    let config = synth::parse_shape("stories260k").unwrap();
    QuantModel::quantize(&synth::synthesize(config, 2))
}

/// The stories260K shape compiled for `ulx3s-85f` with the default options: compiled once for
/// the tests that only read the result.
fn stories_on_ulx3s_85f() -> &'static (QuantModel, Target, Compiled) {
    static COMPILED: OnceLock<(QuantModel, Target, Compiled)> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let model = stories();
        let target = Target::builtin("ulx3s-85f").unwrap();
        let compiled = compile(&model, &target, CompileOptions::default()).unwrap();
        (model, target, compiled)
    })
}

#[test]
fn the_same_inputs_give_byte_identical_bundles() {
    let model = stories();
    let target = Target::builtin("ulx3s-85f").unwrap();
    let options = CompileOptions::default();
    let tmp = tempfile::TempDir::new().unwrap();
    for name in ["a", "b"] {
        let compiled = compile(&model, &target, options).unwrap();
        compiled
            .bundle
            .write(&tmp.path().join(name), &target)
            .unwrap();
    }
    for entry in std::fs::read_dir(tmp.path().join("a")).unwrap() {
        let name = entry.unwrap().file_name();
        let a = std::fs::read(tmp.path().join("a").join(&name)).unwrap();
        let b = std::fs::read(tmp.path().join("b").join(&name)).unwrap();
        assert!(a == b, "{name:?} differs between two compilations");
    }
}

#[test]
fn the_timeline_agrees_with_the_prediction_and_never_double_books_a_unit() {
    let (model, target, compiled) = stories_on_ulx3s_85f();
    let context = compiled.bundle.manifest.context;
    for pos in [0, context / 2, context - 1] {
        let (spans, total) = timeline::spans(&compiled.code, target, pos);
        assert_eq!(total, compiled.bundle.manifest.predicted_cycles[pos]);
        for unit in Unit::EXECUTION {
            let mine: Vec<_> = spans.iter().filter(|s| s.unit == unit).collect();
            for pair in mine.windows(2) {
                assert!(
                    pair[0].end <= pair[1].start,
                    "{unit:?} double-booked at pos {pos}"
                );
            }
        }
        let macs = model.config.macs_per_token(pos) as u64;
        let mxu_busy = timeline::busy(&compiled.code, target, pos)[0];
        let span_total: u64 = spans
            .iter()
            .filter(|s| s.unit == Unit::Mxu)
            .map(|s| s.end - s.start)
            .sum();
        assert_eq!(
            span_total, mxu_busy,
            "the picture's spans are the unit's occupancy"
        );
        assert!(
            mxu_busy * target.lanes as u64 >= macs,
            "the matrix unit cannot do {macs} MACs in {mxu_busy} cycles"
        );
        // The step's cycles divide into the vector unit's busy ones, the matrix unit's alone
        // and the rest.
        let o = timeline::occupation(&compiled.code, target, pos);
        let [_, vxu_busy, _] = timeline::busy(&compiled.code, target, pos);
        assert_eq!(o.vector + o.matrix_alone + o.neither, total, "pos {pos}");
        assert_eq!(o.vector, vxu_busy, "pos {pos}");
        // The vector unit's busy cycles by instruction add up to its busy cycles, and every
        // vector instruction is counted once.
        let by_instruction = timeline::busy_by_instruction(&compiled.code, target, pos, Unit::Vxu);
        let vector_instructions = compiled
            .code
            .iter()
            .filter(|t| t.instr.op.spec().unit == Unit::Vxu)
            .count();
        assert_eq!(by_instruction.iter().map(|r| r.2).sum::<u64>(), vxu_busy);
        assert_eq!(
            by_instruction.iter().map(|r| r.1).sum::<usize>(),
            vector_instructions
        );
        assert!(by_instruction.windows(2).all(|w| w[0].2 >= w[1].2));
        assert!(
            o.matrix_alone < mxu_busy && o.neither > 0,
            "pos {pos}: {o:?}"
        );
    }
    let svg = timeline::svg(&compiled.code, target, 3, "test");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for step in ["attn_norm", "qkv", "attention", "ffn", "classifier"] {
        assert!(svg.contains(step), "{step} missing from the picture");
    }
}

/// An instruction that depends on several units carries the wait that completes last itself, and
/// `nop`s carry the others, earliest first: a `nop` never holds the sequencer after its
/// instruction could issue (at the position the schedule was made for).
#[test]
fn nops_carry_only_the_earlier_waits() {
    let (_, target, compiled) = stories_on_ulx3s_85f();
    let pos = compiled.bundle.manifest.context / 2;
    let mut clock = Clock::new(target, pos);
    let mut completions: Vec<Vec<u64>> = vec![vec![]; 3];
    let mut nop_waits: Vec<u64> = Vec::new();
    let mut nops = 0;
    for (index, instr) in compiled.bundle.program.iter().enumerate() {
        let wait_done = instr
            .wait
            .map(|w| completions[w.unit.slot().unwrap()][w.count as usize - 1]);
        if matches!(instr.op, Op::Nop { .. }) && instr.wait.is_some() {
            let done = wait_done.unwrap();
            assert!(
                nop_waits.last().is_none_or(|&last| last <= done),
                "instruction {index}: a nop's wait completes before the previous nop's"
            );
            nop_waits.push(done);
            nops += 1;
        } else if !nop_waits.is_empty() {
            if let Some(done) = wait_done {
                assert!(
                    nop_waits.iter().all(|&n| n <= done),
                    "instruction {index}: a nop before it waits longer than it does"
                );
            }
            nop_waits.clear();
        }
        let issued = clock.issue(instr).unwrap();
        if let Some(slot) = issued.unit.slot() {
            completions[slot].push(issued.complete);
        }
    }
    assert!(nops > 0, "the check saw no nop");
}

/// The vector unit chains: in the stories260K shape's program, vector streams read what the
/// vector instruction before them writes while it still runs, each no sooner than the chain
/// distance after its issue, at the first and the last position.
#[test]
fn vector_streams_chain_to_the_stream_before_them() {
    let (_, target, compiled) = stories_on_ulx3s_85f();
    let context = compiled.bundle.manifest.context;
    for pos in [0, context - 1] {
        let mut clock = Clock::new(target, pos);
        let mut previous: Option<(Op, Issued)> = None;
        let mut chained = 0;
        for instr in &compiled.bundle.program {
            let issued = clock.issue(instr).unwrap();
            if issued.unit != Unit::Vxu {
                continue;
            }
            if let Some((made, before)) = previous {
                let reads = made
                    .accesses_on(target, pos)
                    .conflicts(&instr.op.accesses_on(target, pos));
                if reads && issued.issue < before.complete {
                    let distance = chain_distance(&made, &instr.op, target, pos).unwrap();
                    assert!(
                        issued.issue >= before.issue + distance,
                        "`{instr}` at {pos}"
                    );
                    chained += 1;
                }
            }
            previous = Some((instr.op, issued));
        }
        assert!(chained > 50, "{chained} chained streams at position {pos}");
    }
}

#[test]
fn the_listing_names_each_instruction_and_its_step() {
    let config = synth::parse_shape("nano").unwrap();
    let model = QuantModel::quantize(&synth::synthesize(config, 1));
    let target = Target::builtin("sim-tiny").unwrap();
    let compiled = compile(&model, &target, CompileOptions::default()).unwrap();
    let listing = &compiled.bundle.listing;
    let lines: Vec<&str> = listing.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), compiled.bundle.program.len());
    for (line, instr) in lines.iter().zip(&compiled.bundle.program) {
        let assembly = line.split("  # ").next().unwrap();
        assert!(assembly.ends_with(&instr.to_string()), "{line}");
    }
    assert!(listing.contains("attn_norm.1") && listing.contains("argmax"));
    // Chained streams say which still-running instruction they read from; that one is a vector
    // instruction before them whose results are not yet written when they issue.
    let chained: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("# chained to "))
        .collect();
    assert!(!chained.is_empty(), "no chained stream in the listing");
    for line in chained {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let issue: u64 = fields[1].parse().unwrap();
        let to: usize = line
            .rsplit("# chained to ")
            .next()
            .unwrap()
            .split([',', ';'])
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let producer: Vec<&str> = lines[to].split_whitespace().collect();
        assert_eq!(producer[3], "vxu", "{line}");
        assert!(producer[2].parse::<u64>().unwrap() > issue, "{line}");
    }
}

#[test]
fn impossible_contexts_are_refused() {
    let config = synth::parse_shape("nano").unwrap();
    let model = QuantModel::quantize(&synth::synthesize(config, 1));
    let target = Target::builtin("sim-tiny").unwrap();
    for context in [0, 65] {
        let err = compile(
            &model,
            &target,
            CompileOptions {
                context: Some(context),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("seq_len (64)"), "{err}");
    }
}

#[test]
fn a_model_that_does_not_match_its_config_is_refused() {
    let config = synth::parse_shape("nano").unwrap();
    let model = QuantModel::quantize(&synth::synthesize(config, 1));
    let target = Target::builtin("sim-tiny").unwrap();
    let refused = |m: &QuantModel, needle: &str| {
        let err = compile(m, &target, CompileOptions::default())
            .err()
            .expect("refused");
        assert!(
            matches!(err, monorail_compiler::CompileError::ModelShape(_)),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{err} lacks {needle}");
    };
    let mut short = model.clone();
    short.layers.pop();
    refused(&short, "layers; n_layers is");
    let mut own = model.clone();
    own.classifier = Some(own.token_embedding.clone());
    refused(&own, "a classifier of its own, but the config shares");
    let mut wide = model.clone();
    wide.layers[1].w2 = wide.layers[1].w1.clone();
    refused(&wide, "layer 1's w2 is");
    let mut rope = model.clone();
    rope.rope_steps.clear();
    refused(&rope, "RoPE phase steps");
}

#[test]
fn a_program_larger_than_the_program_memory_is_refused_with_the_targets_that_hold_it() {
    let nano = QuantModel::quantize(&synth::synthesize(synth::parse_shape("nano").unwrap(), 1));
    let mut raw = RawTarget::parse(include_str!("../../../targets/ecp5-25f.toml")).unwrap();
    raw.memory.program_words = 64;
    let small = raw.validate().unwrap();
    let err = compile(&nano, &small, CompileOptions::default())
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("the program memory needs") && err.contains("but has 64"),
        "{err}"
    );
    assert!(
        err.contains("built-in targets with room for") && err.contains("ecp5-45f"),
        "{err}"
    );
    assert!(
        !err.contains("ecp5-25f,") && !err.ends_with("ecp5-25f"),
        "{err}"
    );
}

/// Every compiled instruction keeps the rules of the target (addresses in the memories its
/// unit may touch, lengths, registers) at the first and the last position.
#[test]
fn every_instruction_meets_the_targets_rules_at_both_ends_of_the_context() {
    let nano = QuantModel::quantize(&synth::synthesize(synth::parse_shape("nano").unwrap(), 1));
    let stories = stories();
    let mut checked = Vec::new();
    for target in Target::builtins() {
        for model in [&stories, &nano] {
            let Ok(compiled) = compile(model, &target, CompileOptions::default()) else {
                continue;
            };
            checked.push(target.name.clone());
            let last = compiled.bundle.manifest.context - 1;
            for (i, t) in compiled.code.iter().enumerate() {
                for pos in [0, last] {
                    if let Err(e) = t.instr.op.check(&target, pos) {
                        panic!("{}: instruction {i} at position {pos}: {e}", target.name);
                    }
                }
            }
        }
    }
    // Every built-in target but the iCE40's holds one of them.
    assert!(checked.len() >= 8, "checked only {checked:?}");
}

/// The longest dependence chain `compile` reports is one the schedule obeys: from each link's
/// instruction to the next one's, the schedule leaves at least the link's cycles, and the last
/// link ends within the token step. So the chain is a lower bound on the cycles, as is the
/// busiest unit's work; and together they are no trivial bound: the schedule takes less than
/// twice the larger (on `sim-tiny`, whose 4 lanes make the matrix unit the bottleneck, the
/// chain alone is a third of the cycles).
#[test]
fn the_dependence_chain_is_a_lower_bound_that_the_schedule_obeys() {
    let nano = QuantModel::quantize(&synth::synthesize(synth::parse_shape("nano").unwrap(), 5));
    for (model, name) in [
        (stories(), "ulx3s-85f"),
        (nano.clone(), "sim-tiny"),
        (nano, "ecp5-45f"),
    ] {
        let target = Target::builtin(name).unwrap();
        let compiled = compile(&model, &target, CompileOptions::default()).unwrap();
        let chain = &compiled.chain;
        let context = compiled.bundle.manifest.context;
        assert_eq!(chain.position, context / 2);
        let total = compiled.bundle.manifest.predicted_cycles[chain.position];
        let mut clock = Clock::new(&target, chain.position);
        let issues: Vec<u64> = compiled
            .code
            .iter()
            .map(|t| clock.issue(&t.instr).unwrap().issue)
            .collect();
        let links: u64 = chain.links.iter().map(|&(_, c)| c).sum();
        let steps: u64 = chain.by_step.iter().map(|&(_, c)| c).sum();
        assert_eq!((links, steps), (chain.cycles, chain.cycles), "{name}");
        assert!(chain.links.len() > 10, "{name}: {chain:?}");
        for pair in chain.links.windows(2) {
            let ((a, cycles), (b, _)) = (pair[0], pair[1]);
            assert!(
                issues[b] >= issues[a] + cycles,
                "{name}: instruction {b} issues at {} but depends on {a} (issued at {}) by {cycles} cycles",
                issues[b],
                issues[a]
            );
        }
        let &(last, cycles) = chain.links.last().unwrap();
        assert!(issues[last] + cycles <= total, "{name}");
        let busiest = timeline::busy(&compiled.code, &target, chain.position)
            .into_iter()
            .max()
            .unwrap();
        let bound = chain.cycles.max(busiest);
        assert!(
            bound <= total && total < 2 * bound,
            "{name}: the chain {}, the busiest unit {busiest}, of {total}",
            chain.cycles
        );
    }
}

/// A target with fewer `dotv` partial sums than a head's size holds the model only for contexts
/// of one block of rows: the compiler says so, and which context fits.
#[test]
fn heads_wider_than_the_partial_sums_are_refused() {
    let config =
        synth::parse_shape("dim=64,hidden=128,layers=1,heads=4,kv_heads=4,vocab=64,seq=32")
            .unwrap();
    let model = QuantModel::quantize(&synth::synthesize(config, 1));
    let mut target = Target::builtin("sim-tiny").unwrap();
    target.partial_sums = 8;
    let err = compile(
        &model,
        &target,
        CompileOptions {
            context: Some(32),
            ..Default::default()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("the partial sums memory needs 16 columns (a head's size) but has 8")
            && err.contains(&format!(
                "on sim-tiny it fits with --context {}",
                target.lanes
            )),
        "{err}"
    );
    target.partial_sums = 16;
    assert!(compile(
        &model,
        &target,
        CompileOptions {
            context: Some(32),
            ..Default::default()
        }
    )
    .is_ok());
}

/// A layer's cache exponents, one a position for all key/value heads, are stored once and load
/// once for all its heads: into `acc` when it holds them, which nothing else uses during
/// attention, else into a buffer of their own; the largest value exponent is found once too.
#[test]
fn cache_exponents_store_load_and_reduce_once_per_layer() {
    let shapes = [
        // the vocabulary makes `acc` wide enough for the exponents
        ("stories260k", "ulx3s-85f", true),
        // a long cache and a small vocabulary: `acc` (300 elements) cannot hold 512 positions'
        // exponents
        (
            "dim=64,hidden=128,layers=2,heads=4,kv_heads=2,vocab=300,seq=512",
            "sim-tiny",
            false,
        ),
    ];
    for (shape, target, in_acc) in shapes {
        let config = synth::parse_shape(shape).unwrap();
        let model = QuantModel::quantize(&synth::synthesize(config, 3));
        let target = Target::builtin(target).unwrap();
        let compiled = compile(&model, &target, CompileOptions::default()).unwrap();
        let region = |name: &str| {
            region(&compiled, name).map(|r| r.start as usize..(r.start + r.size) as usize)
        };
        let loads: Vec<usize> = compiled
            .bundle
            .program
            .iter()
            .filter_map(|i| match i.op {
                Op::Mload { dst, .. } => Some(dst as usize),
                _ => None,
            })
            .collect();
        let c = model.config;
        assert_eq!(loads.len(), 2 * c.n_layers, "{shape}");
        let stores = compiled
            .bundle
            .program
            .iter()
            .filter(|i| matches!(i.op, Op::Kvexp { .. }))
            .count();
        assert_eq!(stores, 2 * c.n_layers, "{shape}");
        let home = if in_acc {
            assert!(region("cache_exps").is_none(), "{shape}");
            region("acc").unwrap()
        } else {
            region("cache_exps").unwrap()
        };
        assert!(loads.iter().all(|d| home.contains(d)), "{shape}: {loads:?}");
        // The largest value exponent, for the weights' common scale, and the largest key
        // exponent, for the scores' top bit: once per layer too, from the loaded exponents.
        let reductions = compiled
            .bundle
            .program
            .iter()
            .filter(|i| matches!(i.op, Op::Vmax { src, .. } if loads.contains(&(src as usize))))
            .count();
        assert_eq!(reductions, 2 * c.n_layers, "{shape}");
    }
}

/// A model that does not fit a target at the context asked is pointed to the other built-in
/// targets: those that hold its context, and those that hold fewer positions, each with the
/// most it holds (and to the most the target itself holds).
#[test]
fn a_model_that_does_not_fit_is_pointed_to_targets_with_fewer_positions() {
    let (checkpoint, _) = monorail_model::builtin::by_name("tales-nano")
        .unwrap()
        .load()
        .unwrap();
    let model = QuantModel::quantize(&checkpoint);
    // The Tang Nano 20K's target holds 120 of the model's 128 positions.
    let gw2a = Target::builtin("gw2a-18").unwrap();
    let all = CompileOptions {
        context: Some(128),
        ..Default::default()
    };
    let err = compile(&model, &gw2a, all).err().unwrap().to_string();
    assert!(
        err.ends_with("; on gw2a-18 it fits with --context 120"),
        "{err}"
    );
    let (_, shorter) = err
        .split_once("with fewer positions: ")
        .unwrap_or_else(|| panic!("{err}"));
    let (shorter, _) = shorter.split_once(';').unwrap();
    let mut named = 0;
    for entry in shorter.split(", ") {
        let (name, context) = entry.split_once(" (--context ").unwrap();
        let context: usize = context.trim_end_matches(')').parse().unwrap();
        let target = Target::builtin(name).unwrap();
        let at = |context| {
            compile(
                &model,
                &target,
                CompileOptions {
                    context: Some(context),
                    ..Default::default()
                },
            )
        };
        assert!(at(context).is_ok(), "{name} at {context}");
        assert!(at(context + 1).is_err(), "{name} at {}", context + 1);
        named += 1;
    }
    assert!(named > 0, "{err}");
}

#[test]
fn the_fastest_count_of_attention_sets_is_kept_and_never_costs_positions() {
    // The nano shape with the built-in nano model's 128 positions.
    let mut config = synth::parse_shape("nano").unwrap();
    config.seq_len = 128;
    let nano = QuantModel::quantize(&synth::synthesize(config, 3));
    for (model, name) in [
        (stories(), "ulx3s-85f"),
        (nano.clone(), "ecp5-45f"),
        (nano.clone(), "ecp5-25f"),
        (nano, "sim-tiny"),
    ] {
        let target = Target::builtin(name).unwrap();
        let with = |sets: Option<usize>, context: Option<usize>| {
            compile(
                &model,
                &target,
                CompileOptions {
                    context,
                    attention_sets: sets,
                    ..Default::default()
                },
            )
        };
        let total = |c: &monorail_compiler::Compiled| -> u64 {
            c.bundle.manifest.predicted_cycles.iter().sum()
        };
        let chosen = with(None, None).unwrap();
        let fewest = with(Some(2), None).unwrap();
        // the context is the one the fewest sets allow
        let context = chosen.bundle.manifest.context;
        assert_eq!(context, fewest.bundle.manifest.context, "{name}");
        let mut fitting = Vec::new();
        for sets in 2..=4 {
            match with(Some(sets), Some(context)) {
                Ok(c) => fitting.push((sets, total(&c))),
                Err(e) => assert!(
                    e.to_string()
                        .contains(&format!("{sets} sets of attention buffers do not fit")),
                    "{name}: {e}"
                ),
            }
        }
        let best = fitting.iter().map(|&(_, t)| t).min().unwrap();
        assert_eq!(total(&chosen), best, "{name}: {fitting:?}");
        // the count shows in the memory map: one scores buffer a set
        let sets = chosen
            .bundle
            .manifest
            .regions
            .iter()
            .filter(|r| r.name.ends_with(".scores"))
            .count();
        let (first, _) = fitting.iter().find(|&&(_, t)| t == best).unwrap();
        assert_eq!(sets, *first, "{name}: the fewer sets on a tie");
        assert_eq!(chosen.attention_sets, sets, "{name}");
        if name.starts_with("ecp5") {
            // their memories hold the positions with two sets and no more
            assert_eq!(fitting.len(), 1, "{name}: {fitting:?}");
        } else {
            assert_eq!(fitting.len(), 3, "{name}: {fitting:?}");
        }
    }
    // A model of one head has one set, and compiles.
    let one_head =
        synth::parse_shape("dim=16,hidden=32,layers=1,heads=1,kv_heads=1,vocab=32,seq=16").unwrap();
    let one_head = QuantModel::quantize(&synth::synthesize(one_head, 1));
    let target = Target::builtin("sim-tiny").unwrap();
    let compiled = compile(&one_head, &target, CompileOptions::default()).unwrap();
    assert_eq!(compiled.attention_sets, 1);
    // A count outside 2 ..= 4 is refused before anything else (a model too large for the
    // target is told about the count).
    for sets in [0, 1, 5] {
        let err = compile(
            &stories(),
            &Target::builtin("ecp5-45f").unwrap(),
            CompileOptions {
                attention_sets: Some(sets),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("must be in 2 ..= 4"), "{err}");
    }
}

/// Even in one piece, the qkv product is split where its parts start on a row block, so that
/// each part's requantisation waits only for its own rows: q apart from k and v where the lanes
/// divide dim, each matrix apart where they divide kv_dim too, one product where they divide
/// neither.
#[test]
fn a_product_is_split_where_its_parts_start_on_a_row_block() {
    let odd = "dim=48,hidden=96,layers=2,heads=6,kv_heads=3,vocab=64,seq=32";
    let cases = [
        // 64 lanes: q (64 rows), then k and v (32 + 32)
        (stories(), "ulx3s-85f", vec![64, 64]),
        // 4 lanes: q, k and v each
        (stories(), "sim-tiny", vec![64, 32, 32]),
        // 64 lanes and dim 48: no part after the first starts on a row block
        (
            QuantModel::quantize(&synth::synthesize(synth::parse_shape(odd).unwrap(), 3)),
            "ulx3s-85f",
            vec![96],
        ),
    ];
    for (model, target, expected_rows) in cases {
        let target = Target::builtin(target).unwrap();
        let whole = CompileOptions {
            product_pieces: Some(1),
            ..Default::default()
        };
        let compiled = compile(&model, &target, whole).unwrap();
        let c = model.config;
        for layer in 0..c.n_layers {
            let qkv = region(&compiled, &format!("layer{layer}.wqkv")).unwrap();
            let products: Vec<(i64, i64, i64)> = products_reading(&compiled.bundle.program, qkv)
                .iter()
                .map(|p| (p.dst, p.w, p.rows))
                .collect();
            let rows: Vec<usize> = products.iter().map(|p| p.2 as usize).collect();
            assert_eq!(rows, expected_rows, "{}", target.name);
            // each run of rows from where the one before it ends, in the results and the matrix
            let blocks = |rows: i64| rows as usize / target.lanes * c.dim;
            for pair in products.windows(2) {
                let ((dst, w, rows), (next_dst, next_w, _)) = (pair[0], pair[1]);
                assert_eq!(next_dst, dst + rows, "{}", target.name);
                assert_eq!(
                    next_w as usize,
                    w as usize + blocks(rows),
                    "{}",
                    target.name
                );
            }
            assert_eq!(products[0].1 as u32, qkv.start, "{}", target.name);
        }
    }
}

/// A product's accumulators are normalised with the shift of their bound inside the `mul` by
/// their row scales, which reads them straight from the matrix unit's results: no `norm` of
/// their own.
#[test]
fn the_accumulators_are_normalised_inside_the_mul_by_their_row_scales() {
    let (model, _, compiled) = stories_on_ulx3s_85f();
    let program = &compiled.bundle.program;
    let (dim, kv_dim) = (model.config.dim as i64, model.config.kv_dim() as i64);
    for (l, layer) in model.layers.iter().enumerate() {
        let products = products_reading(
            program,
            region(compiled, &format!("layer{l}.wqkv")).unwrap(),
        );
        let scales = region(compiled, &format!("layer{l}.wqkv.scales"))
            .unwrap()
            .start as i64;
        let acc = products[0].dst;
        assert_eq!(
            products.iter().map(|p| p.rows).sum::<i64>(),
            dim + 2 * kv_dim
        );
        // q, k and v, each with its own bound
        for (rows, matrix) in [
            (0..dim, &layer.wq),
            (dim..dim + kv_dim, &layer.wk),
            (dim + kv_dim..dim + 2 * kv_dim, &layer.wv),
        ] {
            let shift = normalize_shift(matrix.accumulator_bound(), ACCUMULATOR_BITS) as i64;
            assert!(
                shift > 0,
                "the bound needs more than {ACCUMULATOR_BITS} bits"
            );
            let mut covered = 0;
            // the muls by these rows' scales read their accumulators, shifted
            for i in program {
                if let Op::Mul { a, b, n, sh, .. } = i.op {
                    if rows.contains(&(b - scales)) {
                        assert_eq!(a - acc, b - scales, "layer {l}: {i}");
                        assert_eq!(sh, shift, "layer {l}: {i}");
                        assert!(a + n <= acc + rows.end, "layer {l}: {i}");
                        covered += n;
                    }
                }
            }
            assert_eq!(covered, rows.end - rows.start, "layer {l}");
        }
    }
    // and no normalisation to the accumulators' width is left
    let to_accumulators =
        |op: &Op| matches!(op, Op::Norm { bits, .. } if *bits == ACCUMULATOR_BITS as i64);
    assert!(!program.iter().any(|i| to_accumulators(&i.op)));
}

/// A product in at most N pieces is issued as that many matvecs of whole row blocks, one after
/// another in the matrix and the results, each piece normalised and scaled on its own, and the
/// compiler keeps the count of pieces whose schedule is fastest.
#[test]
fn products_are_issued_in_pieces_and_the_fastest_count_is_kept() {
    let model = stories();
    let c = model.config;
    let target = Target::builtin("ulx3s-85f").unwrap();
    let with = |pieces: Option<usize>| {
        compile(
            &model,
            &target,
            CompileOptions {
                product_pieces: pieces,
                ..Default::default()
            },
        )
        .unwrap()
    };
    // the classifier's rows: 512, 8 blocks of 64 lanes
    let classifier_rows = |compiled: &monorail_compiler::Compiled| {
        // the embedding's table when the model shares it
        let region = region(compiled, "classifier")
            .or_else(|| region(compiled, "token_embedding"))
            .unwrap();
        let products: Vec<(i64, i64)> = products_reading(&compiled.bundle.program, region)
            .iter()
            .map(|p| (p.w, p.rows))
            .collect();
        for pair in products.windows(2) {
            assert_eq!(
                pair[1].0,
                pair[0].0 + pair[0].1 / target.lanes as i64 * c.dim as i64
            );
        }
        products.iter().map(|p| p.1).collect::<Vec<_>>()
    };
    assert_eq!(classifier_rows(&with(Some(1))), [512]);
    assert_eq!(classifier_rows(&with(Some(2))), [256, 256]);
    assert_eq!(classifier_rows(&with(Some(3))), [192, 192, 128]);
    assert_eq!(classifier_rows(&with(Some(8))), [64; 8]);
    assert_eq!(classifier_rows(&with(Some(100))), [64; 8]);
    // each piece's results are normalised with the bound and scaled by themselves, and the
    // part's last normalisation takes the largest of the pieces' magnitudes
    let count = |compiled: &monorail_compiler::Compiled, f: fn(&Op) -> bool| {
        compiled.bundle.program.iter().filter(|i| f(&i.op)).count()
    };
    let (one, eight) = (with(Some(1)), with(Some(8)));
    let is_max = |op: &Op| matches!(op, Op::Max { .. });
    let is_mul = |op: &Op| matches!(op, Op::Mul { .. });
    // the classifier in a piece for each of its row blocks (512 rows: 8), where one took one;
    // qkv was already split at k, w1 and w3 go a block of hidden units (a row block here) at a
    // time either way, and wo and w2's blocks are one row block each
    let extra_pieces = c.vocab_size.div_ceil(target.lanes) - 1;
    assert_eq!(count(&eight, is_max) - count(&one, is_max), extra_pieces);
    assert_eq!(count(&eight, is_mul) - count(&one, is_mul), extra_pieces);
    // the fastest count is kept, the fewest pieces on a tie
    let total = |compiled: &monorail_compiler::Compiled| -> u64 {
        compiled.bundle.manifest.predicted_cycles.iter().sum()
    };
    let chosen = with(None);
    let totals: Vec<(usize, u64)> = monorail_compiler::lower::PRODUCT_PIECES
        .iter()
        .map(|&p| (p, total(&with(Some(p)))))
        .collect();
    let best = totals.iter().map(|&(_, t)| t).min().unwrap();
    assert_eq!(total(&chosen), best, "{totals:?}");
    let first = totals.iter().find(|&&(_, t)| t == best).unwrap().0;
    assert_eq!(chosen.product_pieces, first, "{totals:?}");
    assert!(
        best < totals[0].1,
        "pieces shorten the schedule: {totals:?}"
    );
    assert!(compile(
        &model,
        &target,
        CompileOptions {
            product_pieces: Some(0),
            ..Default::default()
        }
    )
    .is_err_and(|e| e.to_string().contains("0 product pieces")));
}

/// The FFN goes a block of hidden units at a time: `w2` is laid out as one matrix for each
/// block of its columns, one after another, and each block's product reads that block of the
/// hidden units.
#[test]
fn the_ffn_goes_a_block_of_hidden_units_at_a_time() {
    let (model, target, compiled) = stories_on_ulx3s_85f();
    let (c, bundle) = (model.config, &compiled.bundle);
    let lanes = target.lanes;
    let row_blocks = c.dim.div_ceil(lanes);
    let blocks: Vec<_> = hidden_blocks(c.hidden_dim).collect();
    assert_eq!(blocks.len(), c.hidden_dim.div_ceil(HIDDEN_BLOCK));
    for (l, layer) in model.layers.iter().enumerate() {
        let name = format!("layer{l}.w2");
        let region = region(compiled, &name).unwrap();
        let mut word = region.start as usize;
        let mut want = Vec::new();
        for rows in &blocks {
            let block = layer.w2.column_block(rows.clone());
            for row_block in 0..row_blocks {
                for col in 0..block.cols {
                    for lane in 0..lanes {
                        let row = row_block * lanes + lane;
                        let at = (word + row_block * block.cols + col) * lanes + lane;
                        let value = if row < c.dim {
                            block.q[row * block.cols + col]
                        } else {
                            0
                        };
                        assert_eq!(bundle.matrix[at], value, "{name}, hidden {rows:?}");
                    }
                }
            }
            want.push((word as i64, block.cols as i64, rows.start as i64));
            word += row_blocks * block.cols;
        }
        assert_eq!(word, (region.start + region.size) as usize, "{name}");
        // one product for each block, on its block of the hidden units
        let got = products_reading(&bundle.program, region);
        let got: Vec<_> = got.iter().map(|p| (p.w, p.cols, p.x - got[0].x)).collect();
        assert_eq!(got, want, "{name}");
    }
}

/// Each head's scores are normalised in one pass, given their top bit: the largest key exponent
/// (a `vmax` of the loaded cache exponents) plus the bit length of the largest dot product of
/// int8 vectors of the head's size. The heads' join searches its own.
#[test]
fn the_scores_normalisation_is_given_its_top_bit_and_streams_once() {
    let (model, target, compiled) = stories_on_ulx3s_85f();
    let (c, program) = (model.config, &compiled.bundle.program);
    // The last instruction before `index` that writes register `r`.
    let writer = |index: usize, r: i64| {
        program[..index]
            .iter()
            .rev()
            .find(|i| i.op.accesses(target.lanes, 0, 0).register_writes & (1 << r) != 0)
            .map(|i| i.op)
    };
    let (mut given, mut searched) = (0, 0);
    for (index, instr) in program.iter().enumerate() {
        let Op::Normg { top, .. } = instr.op else {
            continue;
        };
        if top == 0 {
            searched += 1;
            continue;
        }
        given += 1;
        let Some(Op::Addi { a, imm, .. }) = writer(index, top) else {
            panic!("{instr}: its top bit is not an addi's");
        };
        assert_eq!(imm, int8_dot_bits(c.head_size()) as i64, "{instr}");
        assert!(
            matches!(writer(index, a), Some(Op::Vmax { .. })),
            "{instr}: the largest key exponent is not a vmax's"
        );
        // One pass: the searching normalisation's occupancy less the first pass and the gap.
        let mut search = instr.op;
        if let Op::Normg { top, .. } = &mut search {
            *top = 0;
        }
        let (once, twice) = (cost(&instr.op, target, 64), cost(&search, target, 64));
        let words = 65u64.div_ceil(target.vector_lanes as u64);
        let gap = pass_gap_cycles(target.vector_lanes);
        assert_eq!(
            (once.occupancy, twice.occupancy),
            (words, 2 * words + gap),
            "{instr}"
        );
    }
    assert_eq!(given, c.n_layers * c.n_heads);
    assert_eq!(searched, c.n_layers);
}

/// The scheduler renames the temporaries: the same instructions, ordered by their values' true
/// dependences, each value in a temporary that no later instruction still reads. The ISS tests
/// check that the program computes the same values; here its dependence chain and its cycles
/// are shorter than with the emitter's registers (a first temporary past the last register
/// renames none).
#[test]
fn temporaries_are_renamed_to_shorten_the_schedule() {
    use monorail_compiler::{emit, layout, lower, schedule};
    let model = stories();
    let target = Target::builtin("ulx3s-85f").unwrap();
    let context = 128;
    let layout = layout::plan(&model, &target, context, 2);
    let lowered = lower::lower(&model, &layout, &target, 8);
    let schedule_from = |first_temp: i64| {
        schedule::schedule(
            &lowered.code,
            &lowered.checkpoints,
            &target,
            context,
            first_temp as u8,
        )
    };
    let (renamed, kept) = (
        schedule_from(lower::FIRST_TEMP),
        schedule_from(target.registers as i64),
    );
    // the same instructions but for their temporaries, and the registers below them as they were
    let without_temporaries = |code: &[lower::Tagged]| {
        let mut ops: Vec<String> = code
            .iter()
            .filter(|t| !matches!(t.instr.op, Op::Nop { .. }))
            .map(|t| {
                let op = &t.instr.op;
                let temporaries: Vec<(usize, u8)> = op
                    .register_fields()
                    .iter()
                    .filter(|f| f.register as i64 >= lower::FIRST_TEMP)
                    .map(|f| (f.index, 63))
                    .collect();
                Instr::new(op.with_registers(&temporaries)).to_string()
            })
            .collect();
        ops.sort_unstable();
        ops
    };
    assert_eq!(
        without_temporaries(&renamed.code),
        without_temporaries(&kept.code)
    );
    let differ = renamed
        .code
        .iter()
        .zip(&lowered.code)
        .filter(|(a, b)| a.instr.op != b.instr.op)
        .count();
    assert!(differ > 0);
    assert!(
        renamed.chain.cycles < kept.chain.cycles,
        "{} {}",
        renamed.chain.cycles,
        kept.chain.cycles
    );
    let cycles = |code: &[lower::Tagged]| -> u64 {
        emit::predicted_cycles(code, &target, context)
            .unwrap()
            .iter()
            .sum()
    };
    assert!(cycles(&renamed.code) < cycles(&kept.code));
    // every temporary a renamed instruction names is one of the target's
    for t in &renamed.code {
        assert!(t.instr.op.check_registers(&target).is_ok(), "{}", t.instr);
    }
}

/// Every value the program writes into a register is read (by an instruction or a checkpoint)
/// before the register is written again. The emitter hands its temporaries out in turn, so a
/// step that takes more at once than are free overwrites a value it still needs, and the value
/// it overwrote is then never read: on every built-in target that holds the model, for the
/// stories260K shape, the nano shape and a grouped-query shape. (An output an instruction must
/// name but the program does not need goes to `r0`, which drops it.)
#[test]
fn no_register_value_is_overwritten_before_it_is_read() {
    let shapes = [
        "nano",
        "dim=32,hidden=64,layers=2,heads=8,kv_heads=1,vocab=64,seq=24",
    ];
    let mut models: Vec<QuantModel> = shapes
        .iter()
        .map(|s| QuantModel::quantize(&synth::synthesize(synth::parse_shape(s).unwrap(), 3)))
        .collect();
    models.push(stories());
    let mut checked = 0;
    for target in Target::builtins() {
        for model in &models {
            let Ok(compiled) = compile(model, &target, CompileOptions::default()) else {
                continue;
            };
            checked += 1;
            // For each register, the instruction that last wrote it and whether it was read since.
            let mut last_write: Vec<Option<(usize, bool)>> = vec![None; target.registers];
            let checkpoints = &compiled.bundle.manifest.checkpoints;
            for (i, t) in compiled.code.iter().enumerate() {
                let fields = t.instr.op.register_fields();
                for f in fields.iter().filter(|f| f.read) {
                    if let Some(w) = last_write[f.register as usize].as_mut() {
                        w.1 = true;
                    }
                }
                for f in fields.iter().filter(|f| f.written) {
                    if let Some((j, false)) = last_write[f.register as usize] {
                        panic!(
                            "{} (dim {}): r{} written by instruction {j} ({} of {}) and again by \
                             {i} ({} of {}) before any read",
                            target.name,
                            model.config.dim,
                            f.register,
                            compiled.code[j].instr.op.spec().mnemonic,
                            compiled.code[j].step.name(),
                            t.instr.op.spec().mnemonic,
                            t.step.name(),
                        );
                    }
                    last_write[f.register as usize] = Some((i, false));
                }
                for c in checkpoints.iter().filter(|c| c.after == i) {
                    for p in &c.parts {
                        if let Some(w) = last_write[p.register as usize].as_mut() {
                            w.1 = true;
                        }
                    }
                }
            }
        }
    }
    assert!(checked >= 15, "checked only {checked} programs");
}
