//! `scripts/wire-demand.py`, the congestion estimate over a placed ECP5 design, on a placement
//! small enough to work out by hand: which tiles it calls the hottest, which net groups it
//! blames and by how much, and what it says of a file it cannot use.

use std::path::Path;
use std::process::{Command, Output};

/// A placed cell as nextpnr writes it: type, `X../Y..` bel, and (port, direction, bits).
fn cell(kind: &str, x: u32, y: u32, ports: &[(&str, &str, &[u32])]) -> String {
    let connections: Vec<String> = ports
        .iter()
        .map(|(port, _, bits)| format!("\"{port}\": {bits:?}"))
        .collect();
    let directions: Vec<String> = ports
        .iter()
        .map(|(port, direction, _)| format!("\"{port}\": \"{direction}\""))
        .collect();
    format!(
        "{{\"type\": \"{kind}\", \"attributes\": {{\"NEXTPNR_BEL\": \"X{x}/Y{y}/SLICEA\"}}, \
         \"connections\": {{{}}}, \"port_directions\": {{{}}}}}",
        connections.join(", "),
        directions.join(", ")
    )
}

/// Run the script on `json` (written to a file) with `args`.
fn wire_demand(json: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let placed = dir.path().join("placed.json");
    std::fs::write(&placed, json).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/wire-demand.py");
    Command::new("python3")
        .arg(script)
        .arg(&placed)
        .args(args)
        .output()
        .expect("python3 runs")
}

/// Net 2, `bus[3]`: a flip-flop at (2, 2) drives sinks at (4, 2) and (2, 3), a box of 3 x 2
/// tiles, half-perimeter 2 + 1 + 1 = 4 (two sinks: no fanout factor), 4/6 a tile. Net 3, `ctl`:
/// a LUT at (10, 10) drives a block RAM in its own tile: 1 a tile. Net 4, the clock (from a
/// DCCA), uses its own wires and counts nowhere.
fn placement() -> String {
    let cells = [
        cell("TRELLIS_FF", 2, 2, &[("Q", "output", &[2])]),
        cell(
            "LUT4",
            4,
            2,
            &[("A", "input", &[2]), ("CLK", "input", &[4])],
        ),
        cell("LUT4", 2, 3, &[("B", "input", &[2])]),
        cell("LUT4", 10, 10, &[("Z", "output", &[3])]),
        cell("DP16KD", 10, 10, &[("WEA", "input", &[3])]),
        cell("DCCA", 30, 30, &[("CLKO", "output", &[4])]),
    ];
    let cells: Vec<String> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| format!("\"c{i}\": {c}"))
        .collect();
    format!(
        "{{\"modules\": {{\"top\": {{\"cells\": {{{}}}, \"netnames\": {{\
         \"bus[3]\": {{\"bits\": [2]}}, \"ctl\": {{\"bits\": [3]}}, \"clk\": {{\"bits\": [4]}}}}}}}}}}",
        cells.join(", ")
    )
}

#[test]
fn the_estimate_of_a_small_placement_is_the_one_worked_out_by_hand() {
    let output = wire_demand(&placement(), &["--hot", "7", "--groups", "5"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("DP16KD rows (y: cells): 10: 1"), "{stdout}");
    // The LUT's tile (1) is the peak, then the bus's six tiles (4/6 each, 0.67 rounds to 1).
    assert!(
        stdout.contains("peak tiles (demand, x, y): 1 X10/Y10, 1 X"),
        "{stdout}"
    );
    // Over those seven tiles, the bus adds 6 x 4/6 = 4 of the demand and `ctl` 1: 80% and 20%;
    // the clock is nowhere.
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("share of the 7 hottest"))
        .skip(1)
        .collect();
    assert_eq!(
        rows,
        [
            " 80.0% |     1 |        4 | bus <TRELLIS_FF.Q>",
            " 20.0% |     1 |        1 | ctl <LUT4.Z>",
        ],
        "{stdout}"
    );
    // Only the hottest tile: all of its demand is `ctl`'s, none the bus's.
    let output = wire_demand(&placement(), &["--hot", "1"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout
            .contains("100.0% |     1 |        1 | ctl <LUT4.Z>\n  0.0% |     1 |        4 | bus"),
        "{stdout}"
    );
}

#[test]
fn files_it_cannot_use_are_refused_with_the_reason() {
    for (json, want) in [
        ("not json", "cannot read a placed design from"),
        ("{\"modules\": {}}", "cannot read a placed design from"),
        (
            "{\"modules\": {\"top\": {\"cells\": {}, \"netnames\": {}}}}",
            "has no placed cells (write it after placement)",
        ),
    ] {
        let output = wire_demand(json, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{json}: {stderr}");
        assert!(stderr.contains(want), "{json}: {stderr}");
    }
}
