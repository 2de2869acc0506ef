//! The generated cores through yosys: on the ECP5 (`synth_ecp5`) the memories become block RAM
//! (none of them flip-flops), the lanes become DSPs, the counts are exactly the contract's estimate
//! (which `monorail gen` reports) and the whole fits the device: the 64-lane `ulx3s-85f` core with
//! the stories260K shape, and the 16-lane `ecp5-45f` and 8-lane `ecp5-25f` cores (all their
//! memories block RAM) with the built-in nano model, in their boards' tops as `monorail
//! bitstream` synthesises them. On the Gowin GW2A (`synth_gowin -family gw2a`), the `gw2a-18`
//! core meets its estimate too. The 64-lane core's matrix block RAMs are all found by the 85F's
//! floorplan (`fpga::floorplan`). The synthesis of the 64-lane core takes minutes; its folder
//! under the build directory is reused while the design is unchanged.

use std::path::Path;

use monorail_compiler::{compile, CompileOptions};
use monorail_contract::board::Board;
use monorail_contract::bundle::memory_images;
use monorail_contract::target::{multipliers, Family, Target, VectorMemory};
use monorail_fpga::bitstream::synthesize_board;
use monorail_fpga::{
    build_root, clock_enable_networks, flip_flops_loaded_from, floorplan, synthesize, Synthesis,
};
use monorail_hw::board::{board_top, TopFor};
use monorail_model::builtin::by_name;
use monorail_model::quant::QuantModel;
use monorail_model::synth;

/// `monorail gen`'s folder for `target` with `quant`, in `dir`.
fn design(target: &Target, quant: &QuantModel, dir: &Path) {
    let compiled = compile(quant, target, CompileOptions::default()).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    compiled.bundle.write(dir, target).unwrap();
    std::fs::write(dir.join("top.v"), monorail_hw::generate(target).verilog).unwrap();
}

#[test]
fn the_ulx3s_core_synthesises_to_block_ram_and_dsps_within_the_ecp5() {
    let config = synth::parse_shape("stories260k").unwrap();
    let quant = QuantModel::quantize(&synth::synthesize(config, 260));
    let s = synthesises_within_its_device("ulx3s-85f", &quant);
    // The flow floorplans this core's matrix memory on the 85F: every one of its block RAMs is
    // found by name, and pinned.
    let target = Target::builtin("ulx3s-85f").unwrap();
    let part = target.device.as_ref().unwrap().part.clone();
    let sites = floorplan::ecp5_block_ram_sites(&part).unwrap();
    let mut netlist: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.dir.join("top.json")).unwrap()).unwrap();
    assert!(floorplan::wants_floorplan(&netlist, &sites));
    let pins = floorplan::pin_matrix_memory(&mut netlist, &sites).unwrap();
    assert_eq!(pins.len(), target.block_ram_estimate().unwrap().matrix);
}

/// The small ECP5 cores as `monorail bitstream` synthesises them for their boards: the board
/// top, its block RAMs holding the placeholders, so that the bitstream's build reuses this
/// synthesis (or this test the build's). The 16-lane `ecp5-45f` on the ULX3S-45F and the 8-lane
/// `ecp5-25f` core on the ULX3S-12F (the 25F's die), with the built-in nano model.
#[test]
fn the_small_ecp5_cores_synthesise_on_their_boards_to_block_ram_and_dsps_within_the_device() {
    let (checkpoint, _) = by_name("tales-nano").unwrap().load().unwrap();
    let quant = QuantModel::quantize(&checkpoint);
    for name in ["ulx3s-45f", "ulx3s-12f"] {
        let board = Board::builtin(name).unwrap();
        let target = &board.target;
        // Every memory in block RAM, so every image a placeholder: the synthesis is the same
        // for any model, `monorail bitstream`'s among them.
        assert!(VectorMemory::ALL.iter().all(|&m| target.in_block_ram(m)));
        assert!(memory_images(target).iter().all(|image| image.block_ram));
        let tmp = tempfile::TempDir::new().unwrap();
        let dir = tmp.path().join(format!("board-{name}"));
        design(target, &quant, &dir);
        let core = monorail_hw::generate(target);
        let top = board_top(&board, &core, TopFor::Synthesis, board.uart_baud).unwrap();
        std::fs::write(dir.join("top.v"), top).unwrap();
        let s = synthesize_board(&board, &dir, &build_root()).unwrap_or_else(|e| panic!("{e}"));
        holds_to_the_estimate(target, &s);
        within_its_device(target, &s);
    }
}

#[test]
fn the_gowin_core_synthesises_as_its_estimate_says() {
    // The Tang Nano 20K's core with the nano model: block RAMs (BSRAM in its modes) and
    // multipliers (an 18 x 18 or a 9 x 9 each) exactly as estimated, so the estimate, not
    // minutes of tools, says whether they fit the GW2A-18C.
    let (checkpoint, _) = by_name("tales-nano").unwrap().load().unwrap();
    let target = Target::builtin("gw2a-18").unwrap();
    let s = synthesises_as_estimated(&target, &QuantModel::quantize(&checkpoint));
    let device = target.device.clone().unwrap();
    let fits = s.gowin_block_rams() <= u64::from(device.block_rams)
        && s.count("MULT18X18") + s.count("MULT9X9").div_ceil(2) <= u64::from(device.dsps);
    assert_eq!(
        target.device_overflows().is_empty(),
        fits,
        "{:?}",
        target.device_overflows()
    );
    // With 32 registers and 16 partial sums its block RAMs and multipliers fit, and its LUTs,
    // carry cells and distributed RAMs (eight LUT4s each) are within the device's LUT4s.
    assert!(fits, "{:?} (in {})", s.cells, s.dir.display());
    assert!(
        s.gowin_luts() <= u64::from(device.luts),
        "{} LUT4 of {}",
        s.gowin_luts(),
        device.luts
    );
    // A flip-flop shares a slice only with the LUT or carry cell driving it: the products'
    // registers are the multipliers' own (their output registers), none in the fabric.
    let netlist = s.dir.join("top.json");
    assert_eq!(
        flip_flops_loaded_from(&netlist, &["MULT9X9", "MULT18X18"]).unwrap(),
        0,
        "in {}",
        netlist.display()
    );
    // A DSP macro takes four clock-enable networks, and nextpnr 0.11.1 counts every one it
    // ever placed in a macro: the multipliers' enables are at most four in the whole design
    // (the products only the next stage reads load at every edge).
    let enables = clock_enable_networks(&netlist, &["MULT9X9", "MULT18X18"]).unwrap();
    assert!(enables <= 4, "{enables} networks in {}", netlist.display());
    // A flip-flop fed by a flip-flop or a RAM takes a LUT4 site of its own. With 4 matrix lanes
    // the board's design needs 92% of the sites and places and routes; with 8 it needed 97%,
    // where nextpnr's analytic placer found no legal placement. Past 93% the core may not
    // place: build `monorail bitstream --board tangnano-20k` before raising this.
    assert!(
        s.gowin_sites() * 100 <= u64::from(device.luts) * 93,
        "{} LUT4 sites of {} ({} flip-flops alone in theirs)",
        s.gowin_sites(),
        device.luts,
        s.lone_flip_flops
    );
}

/// Synthesise `target`'s core with `quant` and hold it to the estimate and the device.
fn synthesises_within_its_device(target: &str, quant: &QuantModel) -> Synthesis {
    let target = Target::builtin(target).unwrap();
    let s = synthesises_as_estimated(&target, quant);
    within_its_device(&target, &s);
    s
}

/// `s` (an ECP5 synthesis of `target`'s core) within the device's block RAMs, DSPs and LUTs.
fn within_its_device(target: &Target, s: &Synthesis) {
    let device = target.device.clone().unwrap();
    let report = format!("{:?} (in {})", s.cells, s.dir.display());
    assert!(s.count("DP16KD") <= device.block_rams as u64, "{report}");
    assert!(s.count("MULT18X18D") <= device.dsps as u64, "{report}");
    assert!(
        s.ecp5_luts() <= device.luts as u64,
        "{} LUTs of {}: {report}",
        s.ecp5_luts(),
        device.luts
    );
}

/// Synthesise `target`'s core with `quant` for its device, held to [`holds_to_the_estimate`].
fn synthesises_as_estimated(target: &Target, quant: &QuantModel) -> Synthesis {
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path().join(&target.name);
    design(target, quant, &dir);
    let device = target.device.clone().unwrap();
    let s = synthesize(&dir, &device, &build_root()).unwrap_or_else(|e| panic!("{e}"));
    holds_to_the_estimate(target, &s);
    s
}

/// `s`, a synthesis of `target`'s core: no conflicting drivers, no memory made of flip-flops, and
/// block RAMs and multipliers as the contract estimates them.
fn holds_to_the_estimate(target: &Target, s: &Synthesis) {
    let device = target.device.clone().unwrap();
    let estimate = target.block_ram_estimate().unwrap();
    let report = format!("{:?} (in {})", s.cells, s.dir.display());
    // No signal with two drivers (yosys's CHECK pass warns and keeps going).
    let log = std::fs::read_to_string(s.dir.join("yosys.log")).unwrap();
    assert!(
        !log.contains("Drivers conflicting"),
        "yosys found conflicting drivers: {report}"
    );
    assert!(
        s.rams_as_registers().is_empty(),
        "memories {:?} became flip-flops: {report}",
        s.rams_as_registers()
    );
    let (block_rams, multiplier_cells) = match device.family {
        Family::Ecp5 => (s.count("DP16KD"), s.count("MULT18X18D")),
        Family::Gowin => (
            s.gowin_block_rams(),
            s.count("MULT18X18") + s.count("MULT9X9"),
        ),
        Family::Ice40 => (s.count("SB_RAM40_4K"), s.count("SB_MAC16")),
    };
    assert_eq!(
        block_rams as usize,
        estimate.total(),
        "block RAMs against the estimate {estimate:?}: {report}"
    );
    assert_eq!(
        multiplier_cells as usize,
        multipliers(target.lanes, target.vector_lanes),
        "multipliers: {report}"
    );
}

/// One design written in two folders (as a test and `monorail bitstream` both write the
/// Tang Nano 9K's board top) is synthesised once: the second folder's synthesis is the first's,
/// found by the hash of what yosys reads, and a changed design is synthesised anew.
#[test]
fn the_same_design_in_another_folder_reuses_its_synthesis() {
    let device = Target::builtin("icebreaker").unwrap().device.unwrap();
    let build = tempfile::TempDir::new().unwrap();
    let designs = tempfile::TempDir::new().unwrap();
    let counter = "module top(input clk, output reg [3:0] q);\n\
                   always @(posedge clk) q <= q + 4'd1;\nendmodule\n";
    let mut synthesised = Vec::new();
    for (name, verilog) in [
        ("first", counter.to_string()),
        ("second-0123456789abcdef", counter.to_string()),
        ("third", counter.replace("4'd1", "4'd3")),
    ] {
        let dir = designs.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("top.v"), verilog).unwrap();
        synthesised.push(synthesize(&dir, &device, build.path()).unwrap_or_else(|e| panic!("{e}")));
    }
    let [first, second, third] = &synthesised[..] else {
        unreachable!()
    };
    assert!(!first.reused && second.reused && !third.reused);
    assert_eq!(second.dir, first.dir);
    assert!(first
        .dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("first-"));
    assert!(third
        .dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("third-"));
    // (and the lock files of the two builds, `.HASH.lock`)
    let folders = std::fs::read_dir(build.path().join("synth"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(folders, 2);
}

/// Two syntheses of one design at once (two test programs, two terminals), from two folders
/// (a test's and `monorail bitstream`'s): one runs yosys, the other waits for it and reuses its
/// folder.
#[test]
fn the_same_design_synthesised_twice_at_once_runs_yosys_once() {
    let device = Target::builtin("icebreaker").unwrap().device.unwrap();
    let build = tempfile::TempDir::new().unwrap();
    let designs = tempfile::TempDir::new().unwrap();
    for name in ["one", "two"] {
        let dir = designs.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("top.v"),
            "module top(input clk, output reg [7:0] q);\n\
             always @(posedge clk) q <= q + 8'd5;\nendmodule\n",
        )
        .unwrap();
    }
    let start = std::sync::Barrier::new(2);
    let synthesised: Vec<Synthesis> = std::thread::scope(|scope| {
        let threads: Vec<_> = ["one", "two"]
            .into_iter()
            .map(|name| {
                let (start, designs, build, device) = (&start, &designs, &build, &device);
                scope.spawn(move || {
                    start.wait();
                    synthesize(&designs.path().join(name), device, build.path())
                        .unwrap_or_else(|e| panic!("{e}"))
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let reused: Vec<bool> = synthesised.iter().map(|s| s.reused).collect();
    assert!(
        reused.contains(&true) && reused.contains(&false),
        "{reused:?}"
    );
    assert_eq!(synthesised[0].dir, synthesised[1].dir);
    // The one that ran yosys took the lock free.
    assert!(synthesised.iter().all(|s| s.reused || s.waited.is_none()));
}

/// The small core's ALU on the iCE40UP5K (`synth_ice40 -dsp`): its product in `SB_MAC16`s, and
/// its logic within a third of the device's LUT4s, so that the sequencer, the pointers and the
/// host port have the rest.
#[test]
fn the_small_cores_alu_synthesises_within_a_third_of_the_ice40() {
    let target = Target::builtin("icebreaker").unwrap();
    let device = target.device.clone().unwrap();
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path().join("small-alu");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("top.v"), monorail_hw::small::alu("top")).unwrap();
    let s = synthesize(&dir, &device, &build_root()).unwrap_or_else(|e| panic!("{e}"));
    let luts = s.ice40_luts();
    eprintln!(
        "small core ALU on the {}: {luts} SB_LUT4, {} SB_CARRY, {} SB_MAC16",
        device.part,
        s.count("SB_CARRY"),
        s.count("SB_MAC16")
    );
    assert!(s.count("SB_MAC16") >= 1, "the product is not in SB_MAC16s");
    assert!(
        luts <= u64::from(device.luts) / 3,
        "{luts} SB_LUT4 of the {}'s {}",
        device.part,
        device.luts
    );
}

/// The small core for the iCEBreaker (`synth_ice40 -dsp -spram`), alone, behind its host port,
/// and in the board top (the UART, the clock divider, the LEDs): the block RAMs, SPRAMs and
/// multipliers that `Target::small_core_estimate` says, the core alone within four fifths of the
/// device's LUT4s, and the board top within its logic cells by yosys's count (a LUT each, and
/// each flip-flop without a LUT of its own; nextpnr then places it: `tests/cli.rs` builds the
/// bitstream).
#[test]
fn the_small_core_synthesises_into_the_ice40up5k_as_estimated() {
    let target = Target::builtin("icebreaker").unwrap();
    let device = target.device.clone().unwrap();
    let estimate = target.small_core_estimate().unwrap();
    let board = Board::builtin("icebreaker").unwrap();
    let design = monorail_hw::generate(&target);
    let board_top = board_top(&board, &design, TopFor::Synthesis, board.uart_baud).unwrap();
    let tmp = tempfile::TempDir::new().unwrap();
    for (name, verilog) in [
        ("core", monorail_hw::small::core(&target, "top")),
        ("top", design.verilog),
        ("board", board_top),
    ] {
        let dir = tmp.path().join(format!("small-{name}-icebreaker"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("top.v"), verilog).unwrap();
        let s = synthesize(&dir, &device, &build_root()).unwrap_or_else(|e| panic!("{e}"));
        let luts = s.ice40_luts();
        let (brams, sprams, macs) = (
            s.count("SB_RAM40_4K"),
            s.count("SB_SPRAM256KA"),
            s.count("SB_MAC16"),
        );
        eprintln!(
            "small {name} on the {}: {luts} SB_LUT4, {} SB_CARRY, {} flip-flops without a LUT \
             of their own, {} logic cells by yosys's count; {brams} SB_RAM40_4K, {sprams} \
             SB_SPRAM256KA, {macs} SB_MAC16",
            device.part,
            s.count("SB_CARRY"),
            s.lone_flip_flops,
            s.ice40_cells(),
        );
        assert_eq!(brams as usize, estimate.block_rams(), "{name}: block RAMs");
        assert_eq!(sprams as usize, estimate.sprams(), "{name}: SPRAMs");
        assert_eq!(macs as usize, estimate.multipliers, "{name}: multipliers");
        if name == "core" {
            assert!(
                luts <= u64::from(device.luts) * 4 / 5,
                "{luts} SB_LUT4 of the {}'s {}",
                device.part,
                device.luts
            );
        }
        if name == "board" {
            assert!(
                s.ice40_cells() <= u64::from(device.luts),
                "{} logic cells of the {}'s {}",
                s.ice40_cells(),
                device.part,
                device.luts
            );
        }
    }
}

/// The small core for the Tang Nano 9K (`synth_gowin`), in the board top: the block RAMs (the
/// memories with the micro-program and the tables) and the multipliers that
/// `Target::small_core_estimate` says, the register file in distributed RAM, and the LUT4
/// sites within the device's (nextpnr then places it: `tests/cli.rs` builds the bitstream).
#[test]
fn the_small_core_synthesises_into_the_gw1n_9c_as_estimated() {
    let board = Board::builtin("tangnano-9k").unwrap();
    let target = &board.target;
    let device = target.device.clone().unwrap();
    let estimate = target.small_core_estimate().unwrap();
    assert!(
        !estimate.in_spram && estimate.registers == 0,
        "{estimate:?}"
    );
    let design = monorail_hw::generate(target);
    let verilog = board_top(&board, &design, TopFor::Synthesis, board.uart_baud).unwrap();
    let tmp = tempfile::TempDir::new().unwrap();
    let dir = tmp.path().join("small-board-tangnano-9k");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("top.v"), verilog).unwrap();
    let s = synthesize(&dir, &device, &build_root()).unwrap_or_else(|e| panic!("{e}"));
    let multipliers = s.count("MULT18X18") + s.count("MULT9X9").div_ceil(2);
    eprintln!(
        "small board top on the {}: {} LUT4 sites ({} LUTs, carry cells and distributed RAMs, \
         {} lone flip-flops), {} BSRAM, {} RAM16SDP4, {} MULT18X18, {} MULT9X9",
        device.part,
        s.gowin_sites(),
        s.gowin_luts(),
        s.lone_flip_flops,
        s.gowin_block_rams(),
        s.count("RAM16SDP4"),
        s.count("MULT18X18"),
        s.count("MULT9X9"),
    );
    assert_eq!(s.gowin_block_rams() as usize, estimate.block_rams());
    assert_eq!(multipliers as usize, estimate.multipliers);
    assert!(
        s.gowin_sites() <= u64::from(device.luts),
        "{} LUT4 sites of the {}'s {}",
        s.gowin_sites(),
        device.part,
        device.luts
    );
}
