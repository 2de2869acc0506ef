//! The host link end to end through a board top in Verilator: the built-in model on the
//! `ulx3s-85f` board, every byte of every request and reply carried bit by bit over the
//! simulated UART pins at the board's 115,200 baud. The tokens must be the golden model's and
//! each step's cycles the compiler's prediction; INFO identifies the target; a broken frame
//! lights the error LED and the link goes on working; a model loaded over the link replaces the
//! one the bitstream holds, and runs on the iCEBreaker's small core, whose memories start empty.

mod common;

use common::build_root;
use monorail_compiler::{compile, CompileOptions};
use monorail_contract::board::Board;
use monorail_contract::bundle::Bundle;
use monorail_model::builtin::{by_name, default_model};
use monorail_model::engine::Engine;
use monorail_model::golden::GoldenModel;
use monorail_model::quant::QuantModel;
use monorail_model::synth;
use monorail_model::tokenizer::Tokenizer;
use monorail_sim::board::BoardSim;
use monorail_sim::link::{ByteLink, HostLink, LoadPlan};
use monorail_sim::Machine;

#[test]
fn the_ulx3s_board_tells_the_golden_story_over_its_uart() {
    let board = Board::builtin("ulx3s-85f").unwrap();
    let (checkpoint, tokenizer) = default_model().load().unwrap();
    let quant = QuantModel::quantize(&checkpoint);
    let compiled = compile(&quant, &board.target, CompileOptions::default()).unwrap();
    let predicted = compiled.bundle.manifest.predicted_cycles.clone();
    let images = tempfile::TempDir::new().unwrap();
    let sim = BoardSim::new(
        &board,
        &compiled.bundle,
        board.uart_baud,
        &build_root(),
        images.path(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        sim.tx_high_at_power_on,
        "the UART line idles high from power-on"
    );
    let mut sim = HostLink::new(sim, &compiled.bundle);

    sim.expect_target(&board.target).unwrap();
    let other = monorail_contract::target::Target::builtin("ecp5-45f").unwrap();
    let e = sim.expect_target(&other).unwrap_err().to_string();
    assert!(e.contains("monorail bitstream"), "{e}");
    assert_eq!(sim.link().leds() & 1, 0, "no error yet");

    let prompt = tokenizer.encode("Once upon a time", true, false).unwrap();
    let mut golden = GoldenModel::new(quant);
    let (mut token, mut from_board) = (prompt[0], prompt[0]);
    for (pos, &predicted_cycles) in predicted.iter().enumerate().take(16) {
        let want = golden.step(token, pos).unwrap().argmax;
        let got = sim.step(from_board, pos).unwrap();
        assert_eq!(
            got.next, want,
            "position {pos}, token {token} sent {from_board}"
        );
        assert_eq!(got.cycles, predicted_cycles, "position {pos}");
        token = prompt.get(pos + 1).copied().unwrap_or(want);
        from_board = prompt.get(pos + 1).copied().unwrap_or(got.next);
    }

    // A frame whose stop bit is low: the error LED lights, and the next request is answered.
    let pins = sim.link();
    pins.send_bits(&[
        false, true, false, true, false, true, false, true, false, false,
    ]);
    pins.send_bits(&[true; 4]);
    assert_eq!(pins.leds() & 1, 1, "the error LED shows the framing error");
    assert_eq!(sim.info().unwrap().lanes as usize, board.target.lanes);

    // The ESP32's boot strap is held high.
    assert_eq!(sim.link().pin("wifi_gpio0").unwrap(), 1);
    // A WRITE stopped after its first bytes, then the reset button: the next request is
    // answered at once (without the button, its bytes would be taken as the WRITE's until the
    // host port's idle limit), the error LED is out, and the weights and the cache are kept: the
    // story goes on at the next position.
    let pins = sim.link();
    pins.send(&[monorail_contract::host::WRITE, 0, 0]).unwrap();
    pins.press_reset_button(1_000).unwrap();
    assert_eq!(pins.leds() & 1, 0, "the reset clears the error LED");
    assert_eq!(sim.info().unwrap().lanes as usize, board.target.lanes);
    let pos = 16;
    let want = golden.step(token, pos).unwrap().argmax;
    let got = sim.step(from_board, pos).unwrap();
    assert_eq!(
        (got.next, got.cycles),
        (want, predicted[pos]),
        "position {pos} after the reset"
    );
}

/// A board whose bitstream holds another model: `HostLink::load` writes the built-in nano
/// model's weights, vector image and program over the UART (at 3 Mbaud, 20 cycles a bit of the
/// 60 MHz core), and the board then tells the golden model's story.
#[test]
fn a_model_loaded_over_the_uart_replaces_the_bitstreams() {
    let board = Board::builtin("ulx3s-45f").unwrap();
    let (checkpoint, tokenizer) = by_name("tales-nano").unwrap().load().unwrap();
    let stranger = QuantModel::quantize(&synth::synthesize(checkpoint.config, 7));
    let quant = QuantModel::quantize(&checkpoint);
    let compile_for = |q: &QuantModel| {
        compile(q, &board.target, CompileOptions::default())
            .unwrap()
            .bundle
    };
    let (in_bitstream, loaded) = (compile_for(&stranger), compile_for(&quant));
    let plan = load_and_tell(
        &board,
        &in_bitstream,
        &loaded,
        quant,
        &tokenizer,
        3_000_000,
        8,
    );
    assert_eq!(plan.vector_elements, board.target.vector_space());
    let cache: u32 = loaded
        .manifest
        .regions
        .iter()
        .filter(|r| r.is_matrix() && r.is_cache())
        .map(|r| r.size)
        .sum();
    assert!(cache > 0 && plan.matrix_words > 0);
}

/// `board`, its memories from `in_bitstream`, with `loaded` loaded over its UART at `baud`
/// (every instruction): its first `steps` positions from "Once upon a time" give the golden
/// model's tokens of `quant`, each in the predicted cycles. What the load sent.
fn load_and_tell(
    board: &Board,
    in_bitstream: &Bundle,
    loaded: &Bundle,
    quant: QuantModel,
    tokenizer: &Tokenizer,
    baud: u32,
    steps: usize,
) -> LoadPlan {
    let images = tempfile::TempDir::new().unwrap();
    let sim = BoardSim::new(board, in_bitstream, baud, &build_root(), images.path())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut link = HostLink::new(sim, loaded);
    link.expect_target(&board.target).unwrap();
    let plan = link.load(loaded, &board.target).unwrap();
    assert_eq!(plan.instructions, loaded.program.len());
    let prompt = tokenizer.encode("Once upon a time", true, false).unwrap();
    let mut golden = GoldenModel::new(quant);
    let mut token = prompt[0];
    for (pos, &predicted) in loaded
        .manifest
        .predicted_cycles
        .iter()
        .enumerate()
        .take(steps)
    {
        let want = golden.step(token, pos).unwrap().argmax;
        let got = link.step(token, pos).unwrap();
        assert_eq!((got.next, got.cycles), (want, predicted), "position {pos}");
        token = prompt.get(pos + 1).copied().unwrap_or(want);
    }
    plan
}

/// The iCEBreaker's board top: the small core behind the same host port and UART. Its memories
/// hold nothing at power-on (the iCE40's SPRAMs are not initialised by a bitstream), so the host
/// link loads `tales-nano` over the UART (at the fastest baud the core keeps: 8 cycles a bit) and
/// the board then tells the golden model's story, each step in the predicted cycles.
#[test]
fn the_icebreaker_board_runs_a_model_loaded_over_its_uart() {
    let board = Board::builtin("icebreaker").unwrap();
    let (checkpoint, tokenizer) = by_name("tales-nano").unwrap().load().unwrap();
    let quant = QuantModel::quantize(&checkpoint);
    let bundle = compile(&quant, &board.target, CompileOptions::default())
        .unwrap()
        .bundle;
    // (The small core reads no images: the bundle's, which the board simulation writes, stay
    // out of its memories.)
    let baud = monorail_contract::board::fastest_baud(board.target.clock_hz);
    load_and_tell(&board, &bundle, &bundle, quant, &tokenizer, baud, 6);
}

/// The OrangeCrab's button (low while pressed): a short press resets the core, which then
/// answers; held past the hold (shortened here to 2,000 cycles from a second), it pulls
/// `reboot_n` low for the FPGA to reload its configuration (the DFU bootloader), and keeps it
/// low.
#[test]
fn the_orangecrab_button_resets_and_held_reboots() {
    let board = Board::builtin("orangecrab-25f").unwrap();
    let (checkpoint, _) = by_name("tales-nano").unwrap().load().unwrap();
    let quant = QuantModel::quantize(&checkpoint);
    let bundle = compile(&quant, &board.target, CompileOptions::default())
        .unwrap()
        .bundle;
    let images = tempfile::TempDir::new().unwrap();
    let sim = BoardSim::with_plusargs(
        &board,
        &bundle,
        board.uart_baud,
        &build_root(),
        images.path(),
        &["+monorail_hold_cycles=2000".to_string()],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut link = HostLink::new(sim, &bundle);
    link.expect_target(&board.target).unwrap();
    assert_eq!(link.link().pin("reboot_n").unwrap(), 1);
    link.link()
        .send(&[monorail_contract::host::WRITE, 0])
        .unwrap();
    // Two presses short of the hold: the count starts again at each.
    for _ in 0..2 {
        link.link().press_reset_button(1_900).unwrap();
        assert_eq!(
            link.link().pin("reboot_n").unwrap(),
            1,
            "a press resets only"
        );
    }
    assert_eq!(link.info().unwrap().lanes as usize, board.target.lanes);
    link.link().press_reset_button(2_100).unwrap();
    assert_eq!(link.link().pin("reboot_n").unwrap(), 0, "held, it reboots");
}
