//! The core as yosys reads it: `sim-tiny`'s generated Verilog read as a synthesis tool reads it
//! (without `VERILATOR`: the branches only synthesis takes, debug reads tied to zero, no fault
//! injection), flattened, optimised and written back as Verilog by yosys
//! ([`monorail_fpga::yosys_netlist`]), then Verilated. Loaded through its host port, it runs a
//! seeded nano model with exactly the tokens and the cycles of the instruction-set simulator,
//! which equal the compiler's prediction, and every instruction issues and completes on the
//! timing rules' cycles: what yosys makes of the Verilog is what Verilator simulates. The small
//! core (`icebreaker`'s, the iCEBreaker's and, with other memories, the Tang Nano 9K's) runs the
//! same check, its synthesis-only branch (the step limit) seen by it too.

mod common;

use common::build_root;
use monorail_compiler::{compile, CompileOptions};
use monorail_contract::target::Target;
use monorail_contract::timing::STEP_LIMIT_CYCLES;
use monorail_model::quant::QuantModel;
use monorail_model::synth;
use monorail_sim::rtl::Rtl;
use monorail_sim::verilated::{build, Waveforms};
use monorail_sim::{Iss, Machine};

/// Run `verilog` (the core of the built-in target `target`) as yosys reads it, through its host
/// port, beside the instruction-set simulator: the first position whose next token or cycles
/// differ, or where an instruction issues or completes off the timing rules, as an error.
fn run_netlist(verilog: &str, target: &str, name: &str) -> Result<(), String> {
    let target = Target::builtin(target).unwrap();
    let root = build_root();
    let netlist = monorail_fpga::yosys_netlist(verilog, name, &root)
        .unwrap_or_else(|e| panic!("synthesising the {name} core: {e}"));
    let name = format!("{name}-yosys");
    let netlist = std::fs::read_to_string(&netlist).unwrap();
    // The synthesis read neither the simulation's plusargs nor its debug reads.
    assert!(!netlist.contains("monorail_fault") && !netlist.contains("bundle_dir"));
    let model = build(&netlist, &name, Waveforms::Off, &root)
        .unwrap_or_else(|e| panic!("Verilating yosys's netlist of {name}: {e}"));

    let quant = QuantModel::quantize(&synth::synthesize(synth::parse_shape("nano").unwrap(), 3));
    let compiled = compile(&quant, &target, CompileOptions::default()).unwrap();
    let mut iss = Iss::new(target.clone(), compiled.bundle.clone()).unwrap();
    let mut rtl = Rtl::load_through_host(&target, compiled.bundle.clone(), &model)
        .map_err(|e| format!("loading: {e}"))?;
    // Every instruction's issue and completion checked against the timing rules, through the
    // issue trace (the netlist's debug reads tie to zero: no model step's values).
    rtl.record_only(&[]);
    let prompt = [1u32, 40, 7];
    let mut token = prompt[0];
    for pos in 0..8 {
        let expected = iss.step(token, pos).unwrap();
        assert_eq!(
            expected.cycles,
            compiled.bundle.manifest.predicted_cycles[pos]
        );
        let got = rtl
            .step(token, pos)
            .map_err(|e| format!("position {pos}: {e}"))?;
        if (got.next, got.cycles) != (expected.next, expected.cycles) {
            return Err(format!(
                "position {pos}: next token {} in {} cycles, where the simulator gives {} in {}",
                got.next, got.cycles, expected.next, expected.cycles
            ));
        }
        token = prompt.get(pos + 1).copied().unwrap_or(got.next);
    }
    Ok(())
}

#[test]
fn the_yosys_netlist_runs_the_tokens_and_cycles_of_the_simulator() {
    let design = monorail_hw::generate(&Target::builtin("sim-tiny").unwrap());
    if let Err(e) = run_netlist(&design.verilog, "sim-tiny", "sim-tiny") {
        panic!("yosys's netlist of the sim-tiny core: {e}");
    }
    // The same Verilog under another name is the same synthesis, not another.
    let root = build_root();
    let netlist = |name| monorail_fpga::yosys_netlist(&design.verilog, name, &root).unwrap();
    assert_eq!(netlist("another-name"), netlist("sim-tiny"));
    // The check sees the branch that only synthesis reads: there, the sequencer counting a
    // cycle too few for every instruction's completion is caught.
    let correct = "wire [31:0] i_done_by_latency = now_q + i_lat;";
    assert_eq!(design.verilog.matches(correct).count(), 1);
    let early = design.verilog.replace(
        correct,
        "wire [31:0] i_done_by_latency = now_q + i_lat - 32'd1;",
    );
    let caught = run_netlist(&early, "sim-tiny", "sim-tiny-early").unwrap_err();
    assert!(
        caught.starts_with("position 0: ") && caught.contains("the timing rules say"),
        "{caught}"
    );
}

#[test]
fn the_small_cores_yosys_netlist_runs_the_tokens_and_cycles_of_the_simulator() {
    let design = monorail_hw::generate(&Target::builtin("icebreaker").unwrap());
    if let Err(e) = run_netlist(&design.verilog, "icebreaker", "icebreaker") {
        panic!("yosys's netlist of the icebreaker (small) core: {e}");
    }
    // The check sees the small core's branch that only synthesis reads: there, a step limit
    // below a token's cycles is caught.
    let limit = format!("wire [31:0] step_limit = 32'd{STEP_LIMIT_CYCLES};");
    assert_eq!(design.verilog.matches(&limit).count(), 1);
    let short = design
        .verilog
        .replace(&limit, "wire [31:0] step_limit = 32'd1000;");
    let caught = run_netlist(&short, "icebreaker", "icebreaker-short").unwrap_err();
    assert!(
        caught.starts_with("position 0: ")
            && caught.contains("stopped the token step without reaching its program's end"),
        "{caught}"
    );
}
