//! Co-simulation: the golden model, the instruction-set simulator and the Verilated core run
//! the same tokens side by side; at every position the tokens, the values at every named model
//! step and the cycle counts must be equal (the RTL's to the compiler's prediction). The first
//! difference stops the run and is located: which machines, which position and token, which
//! model step of which layer, which element (its vector address and lane), expected and got, and
//! the cycle of the step at which the RTL's value was read.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use monorail_contract::bundle::Bundle;
use monorail_contract::steps::StepValues;
use monorail_contract::target::Target;
use monorail_contract::timing::Clock;
use monorail_model::golden::GoldenModel;
use monorail_model::quant::QuantModel;

use crate::rtl::Rtl;
use crate::verilated::Build;
use crate::{Iss, Machine, MachineError};

/// One position that agreed on every machine.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Position.
    pub pos: usize,
    /// The token fed in.
    pub token: u32,
    /// The next token (all three machines agree).
    pub next: u32,
    /// Cycles the compiler predicted for the step.
    pub predicted_cycles: u64,
    /// Cycles the RTL took (equal to the prediction).
    pub rtl_cycles: u64,
    /// Named model steps compared (each on both comparisons).
    pub checkpoints: usize,
    /// Values compared (mantissas and exponents of every checkpoint).
    pub values: usize,
    /// Wall-clock seconds of the RTL's step.
    pub rtl_seconds: f64,
}

/// [`Divergence::between`] of the Verilated core and the ISS.
const RTL_AND_ISS: &str = "the RTL and the ISS";
/// [`Divergence::between`] of the ISS and the golden model.
const ISS_AND_GOLDEN: &str = "the ISS and the golden model";

/// Where two machines first disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Position.
    pub pos: usize,
    /// The token fed in.
    pub token: u32,
    /// The two machines: "the ISS and the golden model" or "the RTL and the ISS".
    pub between: &'static str,
    /// What differs: a model step (`qkv`, layer 2), the next token, the cycles, or the RTL's
    /// own report of an instruction off its timing.
    pub what: String,
    /// The model step's name, when a step's values differ or an instruction feeds it.
    pub step: Option<String>,
    /// Its layer.
    pub layer: Option<usize>,
    /// The first element that differs (index in the step's values) and, when the value is in
    /// the vector space, its address and lane.
    pub element: Option<usize>,
    /// Vector-space address of that element.
    pub address: Option<usize>,
    /// Its lane (address mod vector lanes).
    pub lane: Option<usize>,
    /// Expected (the reference of the pair).
    pub expected: String,
    /// Got.
    pub got: String,
    /// Cycle of the step at which the RTL's value was read (or the event happened).
    pub cycle: Option<u64>,
    /// For an instruction off its timing, the cycle the timing rules complete it at: a
    /// waveform of the divergence runs to it.
    pub until: Option<u64>,
    /// Whether the Verilated core ran the diverging step: only then has it a waveform. (The
    /// golden model and the ISS are compared first, and the core runs a step only when they
    /// agree, or when the ISS has run it without the golden model.)
    pub rtl_ran: bool,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "position {} (token {}): {} differ at {}",
            self.pos, self.token, self.between, self.what
        )?;
        if let Some(e) = self.element {
            write!(f, ", element {e}")?;
            if let (Some(a), Some(l)) = (self.address, self.lane) {
                write!(f, " (vector element {a}, vector lane {l})")?;
            }
        }
        if self.expected.is_empty() {
            write!(f, ": {}", self.got)?;
        } else {
            write!(f, ": expected {}, got {}", self.expected, self.got)?;
        }
        if let Some(c) = self.cycle {
            write!(f, " (cycle {c} of the step)")?;
        }
        Ok(())
    }
}

/// The three machines on one bundle.
pub struct Cosim {
    golden: GoldenModel,
    iss: Iss,
    rtl: Rtl,
    bundle: Bundle,
    target: Target,
    vector_lanes: usize,
    /// Whether the ISS is compared with the golden model (else only the RTL with the ISS).
    with_golden: bool,
}

impl Cosim {
    /// The golden model of `quant`, the ISS and the Verilated core `build` on `bundle`; the core
    /// reads the bundle's images from `images` (where [`Bundle::write`] put them), with
    /// `plusargs`.
    pub fn new(
        quant: QuantModel,
        target: &Target,
        bundle: Bundle,
        build: &Build,
        images: &Path,
        plusargs: &[String],
    ) -> Result<Cosim, MachineError> {
        let mut iss = Iss::new(target.clone(), bundle.clone())?;
        iss.record_values(true);
        let mut rtl = Rtl::load_with(target, bundle.clone(), build, images, plusargs)?;
        rtl.record_values(true);
        let mut golden = GoldenModel::new(quant);
        golden.record_values(true);
        Ok(Cosim {
            golden,
            iss,
            rtl,
            bundle,
            target: target.clone(),
            vector_lanes: target.vector_lanes,
            with_golden: true,
        })
    }

    /// Compare the RTL with the ISS alone from now on, leaving the golden model out: for a
    /// program edited to compute something other than the model, whose hardware still has to
    /// run it as the ISS does.
    pub fn without_golden(&mut self) {
        self.with_golden = false;
    }

    /// The Verilated core, to trace it.
    pub fn rtl(&mut self) -> &mut Rtl {
        &mut self.rtl
    }

    /// Step every machine at `pos` with `token` and compare them.
    pub fn step(&mut self, token: u32, pos: usize) -> Result<Row, Box<Divergence>> {
        let diverge = |between, what: String, expected: String, got: String| {
            Box::new(Divergence {
                pos,
                token,
                between,
                what,
                step: None,
                layer: None,
                element: None,
                address: None,
                lane: None,
                rtl_ran: between == RTL_AND_ISS,
                expected,
                got,
                cycle: None,
                until: None,
            })
        };
        // A position past the bundle's context or a token past the vocabulary would index
        // past the machines' memories: refused before any of them runs.
        let context = self.bundle.manifest.predicted_cycles.len();
        let vocab = self.golden.model().config.vocab_size;
        if pos >= context || token as usize >= vocab {
            return Err(diverge(
                "the input and the bundle",
                "the token step asked for".into(),
                format!("a position below {context} and a token below {vocab}"),
                format!("position {pos}, token {token}"),
            ));
        }
        let golden = self.with_golden.then(|| {
            let next = self.golden.forward(token, pos);
            (next, self.golden.take_values())
        });
        let iss = self.iss.step(token, pos).map_err(|e| {
            let mut d = diverge(
                if self.with_golden {
                    ISS_AND_GOLDEN
                } else {
                    RTL_AND_ISS
                },
                "the ISS's run".into(),
                String::new(),
                e.to_string(),
            );
            // (the core has not run the step the ISS could not)
            d.rtl_ran = false;
            d
        })?;
        let predicted = self.bundle.manifest.predicted_cycles[pos];
        if let Some((next, golden_values)) = &golden {
            if let Some(d) = self.compare(golden_values, &iss.values, pos, token, false) {
                return Err(d);
            }
            if iss.next != *next {
                return Err(diverge(
                    ISS_AND_GOLDEN,
                    "the next token".into(),
                    next.to_string(),
                    iss.next.to_string(),
                ));
            }
        }
        let start = Instant::now();
        let rtl = match self.rtl.step(token, pos) {
            Ok(r) => r,
            Err(MachineError::Fault {
                index,
                text,
                message,
                ..
            }) => {
                // An instruction off its timing: name the step it feeds (the first checkpoint
                // at or after it).
                let (step, layer) = self.step_of(index);
                let mut d = diverge(
                    RTL_AND_ISS,
                    format!(
                        "instruction {index} (`{text}`, feeding {})",
                        describe(step.as_deref(), layer)
                    ),
                    String::new(),
                    message,
                );
                d.step = step;
                d.layer = layer;
                // Its issue and completion cycles by the timing rules.
                let mut clock = Clock::new(&self.target, pos);
                let timed = self
                    .bundle
                    .program
                    .iter()
                    .take(index + 1)
                    .map(|i| clock.issue(i))
                    .last()
                    .and_then(|r| r.ok());
                d.cycle = timed.as_ref().map(|t| t.issue);
                d.until = timed.map(|t| t.complete);
                return Err(d);
            }
            Err(e) => {
                return Err(diverge(
                    RTL_AND_ISS,
                    "the RTL's run".into(),
                    String::new(),
                    e.to_string(),
                ))
            }
        };
        let rtl_seconds = start.elapsed().as_secs_f64();
        if let Some(d) = self.compare(&iss.values, &rtl.values, pos, token, true) {
            return Err(d);
        }
        if rtl.next != iss.next {
            return Err(diverge(
                RTL_AND_ISS,
                "the next token".into(),
                iss.next.to_string(),
                rtl.next.to_string(),
            ));
        }
        if rtl.cycles != predicted || iss.cycles != predicted {
            return Err(diverge(
                RTL_AND_ISS,
                "the step's cycles".into(),
                format!("{predicted} (predicted)"),
                format!("{} (RTL), {} (ISS)", rtl.cycles, iss.cycles),
            ));
        }
        let values = iss.values.iter().map(|v| v.mant.len() + v.exps.len()).sum();
        Ok(Row {
            pos,
            token,
            next: iss.next,
            predicted_cycles: predicted,
            rtl_cycles: rtl.cycles,
            checkpoints: iss.values.len(),
            values,
            rtl_seconds,
        })
    }

    /// The model step (and layer) that instruction `index` feeds: the first checkpoint taken
    /// at or after it.
    fn step_of(&self, index: usize) -> (Option<String>, Option<usize>) {
        self.bundle
            .manifest
            .checkpoints
            .iter()
            .filter(|c| c.after >= index)
            .min_by_key(|c| c.after)
            .map_or((None, None), |c| (Some(c.step.clone()), c.layer))
    }

    /// The first difference between `expected` and `got` (a step's values), located.
    fn compare(
        &self,
        expected: &[StepValues],
        got: &[StepValues],
        pos: usize,
        token: u32,
        rtl_vs_iss: bool,
    ) -> Option<Box<Divergence>> {
        let between = if rtl_vs_iss {
            RTL_AND_ISS
        } else {
            ISS_AND_GOLDEN
        };
        // A divergence at `w`'s step, its element and values still to be filled in.
        let at_step = |w: &StepValues| Divergence {
            pos,
            token,
            between,
            what: describe(Some(w.step.name()), w.layer),
            step: Some(w.step.name().to_string()),
            layer: w.layer,
            element: None,
            address: None,
            lane: None,
            expected: String::new(),
            got: String::new(),
            cycle: None,
            until: None,
            rtl_ran: rtl_vs_iss,
        };
        let i = first_mismatch(expected, got)?;
        let (w, g) = match (expected.get(i), got.get(i)) {
            (Some(w), Some(g)) => (w, g),
            (Some(w), None) => {
                return Some(Box::new(Divergence {
                    expected: "its values".into(),
                    got: "none".into(),
                    ..at_step(w)
                }))
            }
            // Values past the expected ones.
            (None, Some(extra)) => {
                return Some(Box::new(Divergence {
                    expected: "no more values".into(),
                    got: "more".into(),
                    ..at_step(extra)
                }))
            }
            (None, None) => return None,
        };
        if (g.step, g.layer) != (w.step, w.layer) {
            return Some(Box::new(Divergence {
                expected: "its values".into(),
                got: format!("the values of {}", describe(Some(g.step.name()), g.layer)),
                ..at_step(w)
            }));
        }
        let cycle = if rtl_vs_iss {
            self.rtl.read_cycles().get(i).copied()
        } else {
            None
        };
        let spec = self
            .bundle
            .manifest
            .checkpoints
            .iter()
            .find(|c| c.step == w.step.name() && c.layer == w.layer);
        let mut d = Divergence {
            cycle,
            ..at_step(w)
        };
        if let Some(e) = w.mant.iter().zip(&g.mant).position(|(a, b)| a != b) {
            d.element = Some(e);
            d.expected = w.mant[e].to_string();
            d.got = g.mant[e].to_string();
            // The element's vector address: walk the checkpoint's parts.
            if let Some(spec) = spec {
                let mut at = e;
                for part in &spec.parts {
                    if at < part.len as usize {
                        if let Some(v) = part.vector {
                            let address = v as usize + at;
                            d.address = Some(address);
                            d.lane = Some(address % self.vector_lanes);
                        }
                        break;
                    }
                    at -= part.len as usize;
                }
            }
        } else if w.mant.len() != g.mant.len() {
            d.expected = format!("{} values", w.mant.len());
            d.got = format!("{} values", g.mant.len());
        } else {
            d.what += " (exponents)";
            d.expected = format!("{:?}", w.exps);
            d.got = format!("{:?}", g.exps);
        }
        Some(Box::new(d))
    }
}

/// The first index at which two machines' step values differ, one holding more counting.
fn first_mismatch(expected: &[StepValues], got: &[StepValues]) -> Option<usize> {
    (0..expected.len().max(got.len())).find(|&i| expected.get(i) != got.get(i))
}

/// `qkv of layer 2`, `final_norm`, or `the end of the program`.
fn describe(step: Option<&str>, layer: Option<usize>) -> String {
    match (step, layer) {
        (Some(s), Some(l)) => format!("{s} of layer {l}"),
        (Some(s), None) => s.to_string(),
        (None, _) => "the end of the program".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monorail_contract::steps::ModelStep;

    fn values(step: ModelStep, mant: &[i32]) -> StepValues {
        StepValues {
            step,
            layer: None,
            mant: mant.to_vec(),
            exps: vec![0],
        }
    }

    #[test]
    fn a_mismatch_is_a_value_a_missing_step_or_an_extra_one() {
        let a = values(ModelStep::FinalNorm, &[1, 2]);
        let b = values(ModelStep::Classifier, &[3]);
        let same = [a.clone(), b.clone()];
        assert_eq!(first_mismatch(&same, &same), None);
        let only_a = std::slice::from_ref(&a);
        assert_eq!(first_mismatch(&same, only_a), Some(1));
        assert_eq!(first_mismatch(only_a, &same), Some(1), "an extra step");
        let off = values(ModelStep::FinalNorm, &[1, 3]);
        assert_eq!(first_mismatch(&same, &[off, b]), Some(0));
    }
}
