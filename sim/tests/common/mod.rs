//! Shared by the RTL tests: the Verilated cores (built once per test binary, cached across
//! runs under the workspace's `build/`), hand-written programs as bundles, and the comparison
//! of a program's end state on the ISS and on the RTL.
#![allow(dead_code)]

pub mod cases;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use monorail_compiler::lower::Tagged;
use monorail_compiler::schedule::schedule;
use monorail_contract::bundle::{Bundle, Manifest, BUNDLE_MAGIC, BUNDLE_VERSION};
use monorail_contract::isa::{assemble, Instr};
use monorail_contract::steps::ModelStep;
use monorail_contract::target::Target;
use monorail_contract::timing::token_cycles;
use monorail_sim::rtl::Rtl;
use monorail_sim::verilated::{build, Build, Waveforms};
use monorail_sim::{Iss, Machine};

pub use monorail_fpga::build_root;

/// The Verilated core of a built-in target, built once per test binary.
pub fn core(target: &str) -> Build {
    static BUILDS: OnceLock<Mutex<HashMap<String, Build>>> = OnceLock::new();
    let builds = BUILDS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut builds = builds.lock().unwrap_or_else(|e| e.into_inner());
    builds
        .entry(target.to_string())
        .or_insert_with(|| {
            let t = Target::builtin(target).unwrap();
            let design = monorail_hw::generate(&t);
            build(&design.verilog, target, Waveforms::Off, &build_root())
                .unwrap_or_else(|e| panic!("building the {target} core: {e}"))
        })
        .clone()
}

/// A deterministic stream of values (a 64-bit LCG).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A value in `lo ..= hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

/// `text` scheduled (waits added by the compiler's scheduler) as a bundle for `target` with
/// the given memory images.
pub fn bundle(target: &Target, text: &str, matrix: Vec<i8>, vector: Vec<i32>) -> Bundle {
    let code: Vec<Tagged> = assemble(text)
        .unwrap_or_else(|(line, e)| panic!("line {line}: {e}"))
        .into_iter()
        .map(|instr| Tagged {
            instr,
            step: ModelStep::Embedding,
            layer: None,
        })
        .collect();
    // no temporaries: the test reads the registers it names
    let scheduled = schedule(&code, &[], target, 1, target.registers as u8);
    let program: Vec<Instr> = scheduled.code.iter().map(|t| t.instr).collect();
    let cycles = token_cycles(&program, target, 0).expect("the program runs");
    let model = monorail_model::synth::parse_shape("nano").unwrap();
    Bundle {
        manifest: Manifest {
            magic: BUNDLE_MAGIC.into(),
            version: BUNDLE_VERSION,
            target: target.name.clone(),
            config_hash: format!("{:016x}", target.config_hash()),
            model,
            context: 1,
            instructions: program.len(),
            regions: vec![],
            checkpoints: vec![],
            predicted_cycles: vec![cycles],
            assembled_from: None,
        },
        program,
        matrix,
        vector,
        listing: String::new(),
    }
}

/// Run `text` once (token 1, position `pos`) on the ISS and on the RTL of `target` from the same
/// images, and compare every register, the vector-space elements in `vector_ranges` and the
/// matrix words in `matrix_words`, and the cycles.
pub fn same_on_both(
    target_name: &str,
    text: &str,
    pos: usize,
    matrix: Vec<i8>,
    vector: Vec<i32>,
    vector_ranges: &[std::ops::Range<usize>],
    matrix_words: &[std::ops::Range<usize>],
) {
    let target = Target::builtin(target_name).unwrap();
    let mut b = bundle(&target, text, matrix, vector);
    b.manifest.context = pos + 1;
    b.manifest.predicted_cycles = (0..=pos)
        .map(|p| token_cycles(&b.program, &target, p).unwrap())
        .collect();
    let mut iss = Iss::new(target.clone(), b.clone()).unwrap();
    let expected = iss
        .step(1, pos)
        .unwrap_or_else(|e| panic!("the ISS refuses `{text}`: {e}"));
    let images = tempfile::TempDir::new().unwrap();
    b.write(images.path(), &target).unwrap();
    let mut rtl = Rtl::load(&target, b, &core(target_name), images.path()).unwrap();
    let got = rtl.step(1, pos).unwrap();
    assert_eq!(got.cycles, expected.cycles, "cycles of `{text}`");
    // (A target of 32 registers reads r32 .. r63 as r0 .. r31.)
    for r in 0..target.registers as u8 {
        assert_eq!(
            rtl.register(r).unwrap(),
            iss.registers()[r as usize],
            "register r{r} after `{text}`"
        );
    }
    for range in vector_ranges {
        for e in range.clone() {
            assert_eq!(
                rtl.vector(e).unwrap(),
                iss.vector()[e],
                "element v{e} after `{text}`"
            );
        }
    }
    let lanes = target.lanes;
    for range in matrix_words {
        for w in range.clone() {
            for lane in 0..lanes {
                assert_eq!(
                    rtl.matrix(w, lane).unwrap(),
                    iss.matrix()[w * lanes + lane],
                    "matrix word m{w} lane {lane} after `{text}`"
                );
            }
        }
    }
}

/// A bundle whose program ends at once (its token: r0), with every memory zero.
pub fn ending_bundle(target: &Target) -> Bundle {
    bundle(
        target,
        "end token=r0",
        vec![0; target.matrix_bytes()],
        vec![0; target.vector_space()],
    )
}
