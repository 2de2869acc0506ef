//! A picture of the schedule: one token step as an SVG timeline, a row per unit, time across,
//! each busy span labelled with the model step it serves.

use std::fmt::Write as _;

use monorail_contract::isa::Unit;
use monorail_contract::steps::ModelStep;
use monorail_contract::target::Target;
use monorail_contract::timing::{cost, Clock};

use crate::lower::Tagged;

/// A busy span of one unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The unit.
    pub unit: Unit,
    /// First busy cycle.
    pub start: u64,
    /// First cycle after.
    pub end: u64,
    /// The model step.
    pub step: ModelStep,
    /// Its layer.
    pub layer: Option<usize>,
}

/// The busy spans of a token step at `pos`: back-to-back instructions of a unit serving the same
/// step merge into one span. Also returns the step's total cycles.
pub fn spans(code: &[Tagged], target: &Target, pos: usize) -> (Vec<Span>, u64) {
    let mut clock = Clock::new(target, pos);
    let mut out: Vec<Span> = Vec::new();
    let mut total = 0;
    for t in code {
        let issued = clock
            .issue(&t.instr)
            .expect("a compiled program has no deadlock");
        total = total.max(issued.complete);
        if !Unit::EXECUTION.contains(&issued.unit) {
            continue;
        }
        let end = issued.issue + cost(&t.instr.op, target, pos).occupancy;
        let last = out.iter_mut().rev().find(|s| s.unit == issued.unit);
        match last {
            Some(s) if s.step == t.step && s.layer == t.layer && issued.issue <= s.end => {
                s.end = s.end.max(end);
            }
            _ => out.push(Span {
                unit: issued.unit,
                start: issued.issue,
                end,
                step: t.step,
                layer: t.layer,
            }),
        }
    }
    (out, total)
}

/// How a token step's cycles divide between the two streaming units. The three parts add up to
/// the step's cycles, so a token gets faster only by taking work off the vector unit, by letting
/// it work beside the matrix unit where now the matrix unit works alone, or by shortening the
/// waits in which neither works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occupation {
    /// Cycles the vector unit is busy.
    pub vector: u64,
    /// Cycles the matrix unit is busy and the vector unit idle.
    pub matrix_alone: u64,
    /// Cycles neither is busy: latencies waited out, scalar steps.
    pub neither: u64,
}

/// The [`Occupation`] of a token step at `pos`.
pub fn occupation(code: &[Tagged], target: &Target, pos: usize) -> Occupation {
    let (spans, total) = spans(code, target, pos);
    // Per cycle: bit 0 the matrix unit busy, bit 1 the vector unit.
    let mut marks = vec![0u8; total as usize];
    for s in &spans {
        let bit = match s.unit {
            Unit::Mxu => 1,
            Unit::Vxu => 2,
            _ => continue,
        };
        let end = (s.end as usize).min(marks.len());
        for m in &mut marks[s.start as usize..end] {
            *m |= bit;
        }
    }
    let count = |f: fn(u8) -> bool| marks.iter().filter(|&&m| f(m)).count() as u64;
    Occupation {
        vector: count(|m| m & 2 != 0),
        matrix_alone: count(|m| m == 1),
        neither: count(|m| m == 0),
    }
}

/// Cycles each execution unit is busy (the sum of its instructions' occupancies) in a token step
/// at `pos`, in [`Unit::EXECUTION`] order.
pub fn busy(code: &[Tagged], target: &Target, pos: usize) -> [u64; 3] {
    let mut out = [0; 3];
    for t in code {
        if let Some(slot) = t.instr.op.spec().unit.slot() {
            out[slot] += cost(&t.instr.op, target, pos).occupancy;
        }
    }
    out
}

/// What one model step costs in a token step: its instructions (all layers) and the cycles each
/// execution unit is busy with them, in [`Unit::EXECUTION`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepBusy {
    /// The model step.
    pub step: ModelStep,
    /// Its instructions (`nop`s included), over every layer.
    pub instructions: usize,
    /// Cycles each execution unit is busy with them.
    pub busy: [u64; 3],
}

/// [`busy`] split by model step, in forward-pass order ([`ModelStep::ALL`]); steps without
/// instructions are left out. The busy cycles of the steps add up to [`busy`]'s.
pub fn busy_by_step(code: &[Tagged], target: &Target, pos: usize) -> Vec<StepBusy> {
    let mut out: Vec<StepBusy> = ModelStep::ALL
        .iter()
        .map(|&step| StepBusy {
            step,
            instructions: 0,
            busy: [0; 3],
        })
        .collect();
    for t in code {
        let row = &mut out[t.step.index()];
        row.instructions += 1;
        if let Some(slot) = t.instr.op.spec().unit.slot() {
            row.busy[slot] += cost(&t.instr.op, target, pos).occupancy;
        }
    }
    out.retain(|r| r.instructions > 0);
    out
}

/// The cycles `unit` is busy in a token step at `pos`, by instruction: (mnemonic, instructions,
/// busy cycles), most cycles first (then by mnemonic). They add up to [`busy`]'s for the unit.
pub fn busy_by_instruction(
    code: &[Tagged],
    target: &Target,
    pos: usize,
    unit: Unit,
) -> Vec<(&'static str, usize, u64)> {
    let mut out: Vec<(&'static str, usize, u64)> = Vec::new();
    for t in code.iter().filter(|t| t.instr.op.spec().unit == unit) {
        let mnemonic = t.instr.op.spec().mnemonic;
        let cycles = cost(&t.instr.op, target, pos).occupancy;
        match out.iter_mut().find(|(m, _, _)| *m == mnemonic) {
            Some(row) => {
                row.1 += 1;
                row.2 += cycles;
            }
            None => out.push((mnemonic, 1, cycles)),
        }
    }
    out.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));
    out
}

fn colour(step: ModelStep) -> &'static str {
    match step {
        ModelStep::Embedding => "#8dd3c7",
        ModelStep::AttnNorm | ModelStep::FfnNorm | ModelStep::FinalNorm => "#ffffb3",
        ModelStep::Qkv => "#bebada",
        ModelStep::Rope => "#fb8072",
        ModelStep::Attention => "#80b1d3",
        ModelStep::Wo => "#fdb462",
        ModelStep::Ffn => "#b3de69",
        ModelStep::Classifier => "#fccde5",
        ModelStep::Argmax => "#d9d9d9",
    }
}

/// The SVG text of the timeline of a token step at `pos`.
pub fn svg(code: &[Tagged], target: &Target, pos: usize, title: &str) -> String {
    let (spans, total) = spans(code, target, pos);
    let units = [Unit::Mxu, Unit::Vxu, Unit::Sxu];
    let (left, width, row, top) = (60.0, 1800.0, 46.0, 56.0);
    let scale = width / total.max(1) as f64;
    let height = top + row * units.len() as f64 + 70.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">",
        left + width + 20.0
    );
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let mxu_busy = busy(code, target, pos)[0];
    let _ = writeln!(
        out,
        "<text x=\"{left}\" y=\"20\" font-size=\"14\">{}</text>",
        xml(&format!(
            "{title}: one token step at position {pos}, {total} cycles; matrix unit busy {:.0}%",
            100.0 * mxu_busy as f64 / total.max(1) as f64
        ))
    );
    for (i, unit) in units.iter().enumerate() {
        let y = top + i as f64 * row;
        let _ = writeln!(
            out,
            "<text x=\"8\" y=\"{}\" font-weight=\"bold\">{}</text>",
            y + row / 2.0,
            unit.name().to_uppercase()
        );
        let _ = writeln!(
            out,
            "<rect x=\"{left}\" y=\"{y}\" width=\"{width}\" height=\"{}\" fill=\"#f4f4f4\"/>",
            row - 6.0
        );
        for s in spans.iter().filter(|s| s.unit == *unit) {
            let x = left + s.start as f64 * scale;
            let w = ((s.end - s.start) as f64 * scale).max(0.5);
            let label = s.step.label(s.layer);
            let _ = writeln!(
                out,
                "<rect x=\"{x:.2}\" y=\"{y}\" width=\"{w:.2}\" height=\"{}\" fill=\"{}\" \
                 stroke=\"#555\" stroke-width=\"0.3\"><title>{} ({} .. {})</title></rect>",
                row - 6.0,
                colour(s.step),
                xml(&label),
                s.start,
                s.end
            );
            if w > 6.5 * label.len() as f64 {
                let _ = writeln!(
                    out,
                    "<text x=\"{:.2}\" y=\"{}\">{}</text>",
                    x + 3.0,
                    y + row / 2.0,
                    xml(&label)
                );
            }
        }
    }
    let axis = top + row * units.len() as f64 + 4.0;
    let step = [
        100u64, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
    ]
    .into_iter()
    .find(|s| total / s <= 12)
    .unwrap_or(200000);
    let mut tick = 0;
    while tick <= total {
        let x = left + tick as f64 * scale;
        let _ = writeln!(
            out,
            "<line x1=\"{x:.2}\" y1=\"{axis}\" x2=\"{x:.2}\" y2=\"{}\" stroke=\"#333\"/>\
             <text x=\"{x:.2}\" y=\"{}\" text-anchor=\"middle\">{tick}</text>",
            axis + 5.0,
            axis + 17.0
        );
        tick += step;
    }
    let mut x = left;
    for step in ModelStep::ALL {
        let _ = writeln!(
            out,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            axis + 30.0,
            colour(step),
            x + 16.0,
            axis + 40.0,
            step.name()
        );
        x += 24.0 + 7.0 * step.name().len() as f64;
    }
    out.push_str("</svg>\n");
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
