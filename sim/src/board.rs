//! A board in simulation: the board top (UART, reset, LEDs) around the core, Verilated, with a
//! bit-level UART on its pins. The host link's protocol is the host port's, byte for byte; here
//! each byte goes over the simulated `uart_rx` pin as a start bit, eight data bits and a stop
//! bit, and the replies are sampled off `uart_tx` in the middle of each bit, as a USB-serial
//! bridge does. What passes here is what a board is sent by `monorail chat`.

use std::path::{Path, PathBuf};

use monorail_contract::board::{uart_bit_cycles, Board, ButtonLevel, RESET_BUTTON_PORT};
use monorail_contract::bundle::Bundle;
use monorail_hw::board::{board_top, TopFor};

use crate::link::ByteLink;
use crate::verilated::{self, Model, PortId};
use crate::MachineError;

/// Cycles after the last bit of a request within which a reply must start, besides the
/// step's own cycles.
const REPLY_CYCLES: u64 = 10_000;

/// A simulated board holding a bundle, spoken to over its UART pins (a [`ByteLink`]; run
/// token steps with [`crate::link::HostLink`]).
pub struct BoardSim {
    model: Model,
    bit_cycles: u64,
    rx_pin: PortId,
    tx_pin: PortId,
    led: PortId,
    /// The reset button's pin and its level while pressed, where the board has one.
    reset_button: Option<(PortId, u64)>,
    /// Where the Verilated board was built.
    pub build_dir: PathBuf,
    /// Whether it was built now (false: reused from the cache).
    pub built: bool,
    /// Whether `uart_tx` idled high before the first clock edge, as configuration leaves it (a
    /// low line is a start bit, or a break, to the host's UART).
    pub tx_high_at_power_on: bool,
}

impl BoardSim {
    /// Build (or reuse) `board`'s top for simulation under `cache_root`, with the UART at
    /// `uart_baud`, write the bundle's images into `images` and start it (out of reset).
    pub fn new(
        board: &Board,
        bundle: &Bundle,
        uart_baud: u32,
        cache_root: &Path,
        images: &Path,
    ) -> Result<BoardSim, MachineError> {
        BoardSim::with_plusargs(board, bundle, uart_baud, cache_root, images, &[])
    }

    /// [`BoardSim::new`] with Verilator plusargs besides the bundle's (`+monorail_hold_cycles=N`
    /// shortens the reset button's hold that reboots a board).
    pub fn with_plusargs(
        board: &Board,
        bundle: &Bundle,
        uart_baud: u32,
        cache_root: &Path,
        images: &Path,
        plusargs: &[String],
    ) -> Result<BoardSim, MachineError> {
        let core = monorail_hw::generate(&board.target);
        let verilog = board_top(board, &core, TopFor::Simulation, uart_baud)
            .map_err(|e| MachineError::Input(e.to_string()))?;
        let build = verilated::build(
            &verilog,
            &format!("board-{}", board.name),
            verilated::Waveforms::Off,
            cache_root,
        )
        .map_err(|e| MachineError::Input(e.to_string()))?;
        bundle.write(images, &board.target)?;
        let mut all = vec![monorail_hw::bundle_plusarg(images)];
        all.extend_from_slice(plusargs);
        let mut model =
            Model::load(&build, &all).map_err(|e| MachineError::Input(e.to_string()))?;
        let port = |model: &Model, name| {
            model
                .port_id(name)
                .map_err(|e| MachineError::Input(e.to_string()))
        };
        let (rx_pin, tx_pin, led) = (
            port(&model, "uart_rx")?,
            port(&model, "uart_tx")?,
            port(&model, "led")?,
        );
        let reset_button = match board.reset_button {
            Some(level) => Some((
                port(&model, RESET_BUTTON_PORT)?,
                u64::from(level == ButtonLevel::ActiveHigh),
            )),
            None => None,
        };
        let bit_cycles = uart_bit_cycles(board.target.clock_hz, uart_baud);
        model.set_id(rx_pin, 1);
        if let Some((pin, pressed)) = reset_button {
            model.set_id(pin, 1 - pressed);
        }
        model.eval();
        let tx_high_at_power_on = model.read(tx_pin) == 1;
        // The power-on reset: 2 cycles to see the clock locked, 16 held.
        model.tick(32);
        Ok(BoardSim {
            model,
            bit_cycles,
            rx_pin,
            tx_pin,
            led,
            reset_button,
            build_dir: build.dir,
            built: build.built,
            tx_high_at_power_on,
        })
    }

    /// The LEDs' pins, now.
    pub fn leds(&mut self) -> u64 {
        self.model.read(self.led)
    }

    /// The output pin `port` (a held output, the UART's, the LEDs), now.
    pub fn pin(&mut self, port: &str) -> Result<u64, MachineError> {
        self.model
            .get(port)
            .map_err(|e| MachineError::Input(e.to_string()))
    }

    /// Press the reset button for `cycles`, let it go, and wait for the reset to end (the
    /// synchroniser's 2 cycles and the 16 held after it, with a margin).
    pub fn press_reset_button(&mut self, cycles: u64) -> Result<(), MachineError> {
        let Some((pin, pressed)) = self.reset_button else {
            return Err(MachineError::Input(
                "this board has no reset button (its board file names none)".to_string(),
            ));
        };
        self.model.set_id(pin, pressed);
        self.model.tick(cycles);
        self.model.set_id(pin, 1 - pressed);
        self.model.tick(32);
        Ok(())
    }

    /// Drive the `uart_rx` pin with `bits` (the first first), a bit time each.
    pub fn send_bits(&mut self, bits: &[bool]) {
        for &bit in bits {
            self.model.set_id(self.rx_pin, u64::from(bit));
            self.model.tick(self.bit_cycles);
        }
        self.model.set_id(self.rx_pin, 1);
    }
}

impl ByteLink for BoardSim {
    /// A start bit, the data (least significant bit first), a stop bit, for each byte.
    fn send(&mut self, bytes: &[u8]) -> Result<(), MachineError> {
        for &b in bytes {
            let mut bits = vec![false];
            bits.extend((0..8).map(|i| b >> i & 1 == 1));
            bits.push(true);
            self.send_bits(&bits);
        }
        Ok(())
    }

    /// The first byte's start bit within `compute_cycles` and a margin, each bit sampled in its
    /// middle.
    fn receive(&mut self, n: usize, compute_cycles: u64) -> Result<Vec<u8>, MachineError> {
        // (a byte's frame, at least: a call may start within the previous byte's stop bit)
        let wait_cycles = compute_cycles + REPLY_CYCLES.max(2 * self.bit_cycles);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            // The start bit's falling edge: at most `wait_cycles` for the first byte, two bit
            // times between bytes.
            let limit = if out.is_empty() {
                wait_cycles
            } else {
                2 * self.bit_cycles
            };
            let mut waited = 0;
            while self.model.read(self.tx_pin) == 1 {
                if waited == limit {
                    return Err(MachineError::Input(format!(
                        "{} for {limit} cycles",
                        crate::link::cut_short("the board", &out, n)
                    )));
                }
                self.model.tick(1);
                waited += 1;
            }
            // The middle of the start bit, then of each bit.
            self.model.tick(self.bit_cycles / 2);
            let mut bits = Vec::with_capacity(10);
            bits.push(self.model.read(self.tx_pin) == 1);
            for _ in 0..9 {
                self.model.tick(self.bit_cycles);
                bits.push(self.model.read(self.tx_pin) == 1);
            }
            if bits[0] || !bits[9] {
                return Err(MachineError::Input(format!(
                    "the board's UART sent a malformed frame (start {}, stop {}) after {out:02x?}",
                    u8::from(bits[0]),
                    u8::from(bits[9])
                )));
            }
            out.push((1..9).fold(0u8, |b, i| b | u8::from(bits[i]) << (i - 1)));
        }
        Ok(out)
    }
}
