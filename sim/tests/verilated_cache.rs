//! The Verilated models' cache: a design is Verilated and compiled once, however many tests (or
//! programs) ask for it at the same moment.

use monorail_sim::verilated::{build, Build, Waveforms};

/// Two builds of one design at once: one Verilates and compiles it, the other waits for it and
/// loads what it built.
#[test]
fn a_design_asked_for_twice_at_once_is_built_once() {
    let cache = tempfile::TempDir::new().unwrap();
    let verilog = "module top(clock, count);\n    input wire clock;\n    output reg [3:0] count;\n\
                   always @(posedge clock) count <= count + 4'd1;\nendmodule\n";
    let start = std::sync::Barrier::new(2);
    let builds: Vec<Build> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    build(verilog, "counter", Waveforms::Off, cache.path())
                        .unwrap_or_else(|e| panic!("{e}"))
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let built: Vec<bool> = builds.iter().map(|b| b.built).collect();
    assert!(built.contains(&true) && built.contains(&false), "{built:?}");
    assert_eq!(builds[0].dir, builds[1].dir);
    assert!(builds[0].dir.join("libmodel.so").is_file());
}
