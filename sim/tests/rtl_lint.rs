//! The generated Verilog of every built-in target passes `verilator --lint-only -Wall`, with no
//! waiver but DECLFILENAME (rust_hdl writes every module into one file), and generating it twice
//! gives the same bytes.

use std::process::Command;

use monorail_contract::target::Target;
use monorail_sim::verilated::verilator;

#[test]
fn generated_verilog_is_lint_clean_and_deterministic() {
    let verilator = verilator().unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::TempDir::new().unwrap();
    for target in Target::builtins() {
        let design = monorail_hw::generate(&target);
        assert_eq!(
            design,
            monorail_hw::generate(&target),
            "{}: generation is deterministic",
            target.name
        );
        let file = dir.path().join(format!("{}.v", target.name));
        std::fs::write(&file, &design.verilog).unwrap();
        let output = Command::new(&verilator)
            .args([
                "--lint-only",
                "-Wall",
                "-Wno-DECLFILENAME",
                "--top-module",
                "top",
            ])
            .arg(&file)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && !log.contains("%Warning"),
            "{}: verilator --lint-only -Wall:\n{log}",
            target.name
        );
    }
}
