//! Malformed bundles are refused with the file and the reason.

use std::path::Path;

use monorail_compiler::{compile, CompileOptions};
use monorail_contract::target::Target;
use monorail_model::quant::QuantModel;
use monorail_model::synth;
use monorail_sim::{Iss, Machine};

fn write_bundle(dir: &Path) -> Target {
    let config = synth::parse_shape("nano").unwrap();
    let quant = QuantModel::quantize(&synth::synthesize(config, 3));
    let target = Target::builtin("sim-tiny").unwrap();
    let compiled = compile(&quant, &target, CompileOptions::default()).unwrap();
    compiled.bundle.write(dir, &target).unwrap();
    target
}

fn refused(dir: &Path, target: &Target, needle: &str) {
    let err = match Iss::load(dir, target.clone()) {
        Ok(_) => panic!("a bad bundle was accepted ({needle})"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(needle), "{err} lacks {needle}");
}

#[test]
fn a_written_bundle_loads_and_runs() {
    let tmp = tempfile::TempDir::new().unwrap();
    let target = write_bundle(tmp.path());
    let mut iss = Iss::load(tmp.path(), target).unwrap();
    let r = iss.step(1, 0).unwrap();
    assert_eq!(r.cycles, iss.bundle().manifest.predicted_cycles[0]);
    assert!(iss
        .step(100_000, 1)
        .unwrap_err()
        .to_string()
        .contains("vocabulary"));
    assert!(iss.step(1, 64).unwrap_err().to_string().contains("context"));
}

#[test]
fn malformed_bundles_are_refused() {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path();
    let target = write_bundle(dir);
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(manifest.contains(from), "{from}");
        std::fs::write(dir.join("manifest.json"), manifest.replacen(from, to, 1)).unwrap();
    };
    edit("\"monorail-bundle\"", "\"other-bundle\"");
    refused(dir, &target, "magic");
    edit("\"version\": 1", "\"version\": 7");
    refused(dir, &target, "version 7");
    std::fs::write(dir.join("manifest.json"), &manifest).unwrap();
    refused(
        dir,
        &Target::builtin("ulx3s-85f").unwrap(),
        "recompile for this target",
    );
    let program = std::fs::read(dir.join("program.bin")).unwrap();
    std::fs::write(dir.join("program.bin"), &program[..program.len() - 5]).unwrap();
    refused(dir, &target, "16-byte instructions");
    std::fs::write(dir.join("program.bin"), &program[..program.len() - 16]).unwrap();
    refused(dir, &target, "the manifest says");
    let mut bad = program.clone();
    bad[0] = 0xee;
    std::fs::write(dir.join("program.bin"), &bad).unwrap();
    refused(dir, &target, "unknown opcode 0xee");
    std::fs::write(dir.join("program.bin"), &program).unwrap();
    edit("\"size\": 512", "\"size\": 99999999");
    refused(dir, &target, "ends past");
    std::fs::write(dir.join("manifest.json"), &manifest).unwrap();
    std::fs::remove_file(dir.join("vector.hex")).unwrap();
    refused(dir, &target, "vector.hex");
}
