//! Boards as data: a board file (TOML, in `boards/`) names the built-in target the board carries,
//! its oscillator, UART speed, LED polarity, the FPGA's package and the board's buttons and
//! bootloader; its constraint file (in
//! `constraints/`, in the format of the family's place-and-route tool) holds the pins.
//!
//! Each fact lives once: the FPGA's family, part and budget are the target's `[device]`, the pins
//! are the constraint file's. Validation reads the constraint file and checks that it places
//! exactly the board top's ports ([`BOARD_PORTS`]: the clock, the UART's two pins, the LEDs
//! `led[0]`, `led[1]`, ..., and the reset button, the reboot output and the held outputs where
//! the board file asks for them), so a board whose file and pins disagree is refused before any tool
//! runs. Adding a board is adding its two files.

use serde::Deserialize;
use thiserror::Error;

use crate::target::{is_short_name, Family, Target, SHORT_NAME_RULE};

/// The built-in boards: (board file name, TOML text).
pub const BUILTIN_BOARDS: [(&str, &str); 9] = [
    (
        "icebreaker",
        include_str!("../../../boards/icebreaker.toml"),
    ),
    ("ulx3s-12f", include_str!("../../../boards/ulx3s-12f.toml")),
    ("ulx3s-25f", include_str!("../../../boards/ulx3s-25f.toml")),
    ("ulx3s-45f", include_str!("../../../boards/ulx3s-45f.toml")),
    ("ulx3s-85f", include_str!("../../../boards/ulx3s-85f.toml")),
    (
        "orangecrab-25f",
        include_str!("../../../boards/orangecrab-25f.toml"),
    ),
    (
        "orangecrab-85f",
        include_str!("../../../boards/orangecrab-85f.toml"),
    ),
    (
        "tangnano-9k",
        include_str!("../../../boards/tangnano-9k.toml"),
    ),
    (
        "tangnano-20k",
        include_str!("../../../boards/tangnano-20k.toml"),
    ),
];

/// The constraint files the built-in boards use: (file name, text).
pub const BUILTIN_CONSTRAINTS: [(&str, &str); 5] = [
    (
        "icebreaker.pcf",
        include_str!("../../../constraints/icebreaker.pcf"),
    ),
    ("ulx3s.lpf", include_str!("../../../constraints/ulx3s.lpf")),
    (
        "orangecrab.lpf",
        include_str!("../../../constraints/orangecrab.lpf"),
    ),
    (
        "tangnano-9k.cst",
        include_str!("../../../constraints/tangnano-9k.cst"),
    ),
    (
        "tangnano-20k.cst",
        include_str!("../../../constraints/tangnano-20k.cst"),
    ),
];

/// The text of the built-in constraint file `name` (`ulx3s.lpf`), if there is one.
pub fn builtin_constraints(name: &str) -> Option<&'static str> {
    BUILTIN_CONSTRAINTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// The Gowin devices Monorail knows: (the part, as a target's `[device]` names it and as
/// nextpnr-himbaechel's `family` and gowin_pack's `-d` take it; the whole part number with
/// package and speed, as a board's `package` names it and nextpnr's `--device` takes it).
pub const GOWIN_DEVICES: [(&str, &str); 2] = [
    ("GW2A-18C", "GW2AR-LV18QN88C8/I7"),
    ("GW1N-9C", "GW1NR-LV9QN88PC6/I5"),
];

/// The single-bit ports every board top has besides the LEDs, as the constraint files name them
/// (a board file may ask for more: [`RESET_BUTTON_PORT`], [`REBOOT_PORT`], held outputs).
pub const BOARD_PORTS: [&str; 3] = ["clk", "uart_rx", "uart_tx"];

/// The board top's input for a reset button, where the board file names one
/// ([`RawBoard::reset_button`]).
pub const RESET_BUTTON_PORT: &str = "reset_button";

/// The board top's output that reloads the FPGA's configuration (wired to its reconfiguration
/// input: the ECP5's PROGRAMN), where the board file asks for it ([`RawBoard::reboot_on_hold`]).
pub const REBOOT_PORT: &str = "reboot_n";

/// A USB DFU bootloader's identity: the `.dfu` image `monorail bitstream` writes beside the
/// bitstream carries it in its suffix, as `dfu-suffix -v VENDOR -p PRODUCT` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dfu {
    /// USB vendor ID.
    pub vendor: u16,
    /// USB product ID.
    pub product: u16,
}

/// What a button's pin reads while it is pressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonLevel {
    /// High while pressed (a pull-down holds it low).
    ActiveHigh,
    /// Low while pressed (a pull-up holds it high).
    ActiveLow,
}

/// The fewest core cycles a UART bit may last: the receiver confirms the start bit and samples
/// every bit in its middle.
pub const MIN_UART_BIT_CYCLES: u64 = 8;

/// Core cycles a UART bit lasts at `baud` on a core clocked at `clock_hz`, rounded to the
/// nearest: what the board top counts and what a simulated line must hold each bit.
pub fn uart_bit_cycles(clock_hz: u64, baud: u32) -> u64 {
    (clock_hz + u64::from(baud) / 2) / u64::from(baud)
}

/// Most a UART bit may differ from its nominal length, in hundredths, once rounded to whole
/// core cycles: over a frame's ten bits, the stop bit's sample stays well inside it.
pub const MAX_UART_BIT_ERROR_PERCENT: u64 = 2;

/// Whether a core clocked at `clock_hz` keeps a UART at `baud`: a speed in
/// [`UART_BAUD_RANGE`], at least [`MIN_UART_BIT_CYCLES`] cycles a bit, and the bit's length,
/// rounded to whole cycles, within [`MAX_UART_BIT_ERROR_PERCENT`] of the nominal. The error says
/// which.
pub fn uart_rule(clock_hz: u64, baud: u32) -> Result<(), String> {
    uart_baud_rule(baud)?;
    let cycles = uart_bit_cycles(clock_hz, baud);
    if cycles < MIN_UART_BIT_CYCLES {
        return Err(format!(
            "the core's {clock_hz} Hz clock gives fewer than {MIN_UART_BIT_CYCLES} cycles a bit"
        ));
    }
    // |cycles - clock / baud| / (clock / baud) = |cycles * baud - clock| / clock
    let off = (cycles * u64::from(baud)).abs_diff(clock_hz);
    if off * 100 > MAX_UART_BIT_ERROR_PERCENT * clock_hz {
        return Err(format!(
            "the core's {clock_hz} Hz clock makes a bit {cycles} cycles, {:.1}% off its length \
             (at most {MAX_UART_BIT_ERROR_PERCENT}%)",
            off as f64 * 100.0 / clock_hz as f64
        ));
    }
    Ok(())
}

/// Whether a board file may ask for `baud` at all ([`UART_BAUD_RANGE`]), whatever the clock.
fn uart_baud_rule(baud: u32) -> Result<(), String> {
    if UART_BAUD_RANGE.contains(&baud) {
        Ok(())
    } else {
        Err(format!(
            "must be {} to {}",
            UART_BAUD_RANGE.start(),
            UART_BAUD_RANGE.end()
        ))
    }
}

/// UART speeds a board file may ask for.
pub const UART_BAUD_RANGE: std::ops::RangeInclusive<u32> = 1_200..=3_000_000;

/// The fastest UART that a core clocked at `clock_hz` keeps ([`uart_rule`]): a bit of whole
/// cycles, [`MIN_UART_BIT_CYCLES`] of them or as few more as [`UART_BAUD_RANGE`] allows. The
/// simulated boards' links run at it, where a bit costs the fewest simulated cycles.
pub fn fastest_baud(clock_hz: u64) -> u32 {
    let fastest = u64::from(*UART_BAUD_RANGE.end());
    let cycles = MIN_UART_BIT_CYCLES.max(clock_hz.div_ceil(fastest));
    u32::try_from(clock_hz / cycles).unwrap_or(u32::MAX)
}

/// The clock constraint file the ECP5 flow writes beside a board's pins: the oscillator's
/// frequency, from which nextpnr derives the PLL's output.
pub const CLOCK_LPF: &str = "clock.lpf";

/// The clock constraint file of run `index` (from 1) of a floorplanned ECP5 design, which
/// constrains the clock faster for the router.
pub fn run_clock_lpf(index: usize) -> String {
    format!("clock-{index}.lpf")
}

/// Whether `name` is one of the clock constraint files the flow writes beside a board's pins
/// ([`CLOCK_LPF`], [`run_clock_lpf`]), which a board's own constraint file may not be named.
pub fn is_flow_clock_file(name: &str) -> bool {
    name == CLOCK_LPF
        || name
            .strip_prefix("clock-")
            .and_then(|rest| rest.strip_suffix(".lpf"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The largest placement seed nextpnr takes (it reads the seed as a C++ `int`).
pub const MAX_SEED: u64 = i32::MAX as u64;

/// A board file as written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBoard {
    /// Short name (`ulx3s-85f`), used in folder names.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// The built-in target the board carries.
    pub target: String,
    /// The constraint file's name: a built-in board's is in `constraints/`; a board file's lies
    /// beside it, or is a built-in one.
    pub constraints: String,
    /// The board's oscillator.
    pub clock_hz: u64,
    /// The host link's speed.
    pub uart_baud: u32,
    /// Whether an LED lights when its pin is low.
    pub leds_active_low: bool,
    /// The FPGA's package, as nextpnr names it (`CABGA381`, `sg48`); for Gowin, the whole part
    /// number nextpnr's `--device` takes (`GW2AR-LV18QN88C8/I7`).
    pub package: String,
    /// The ECP5's speed grade (6, 7 or 8).
    pub speed_grade: Option<u8>,
    /// Why the board's bitstream does not build yet although its core fits the device's
    /// budget, as measured (`monorail boards` prints it; `monorail bitstream` warns of it and
    /// still runs the tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_bitstream_yet: Option<String>,
    /// nextpnr's placement seed for the board's own core, where the default seed's placement
    /// does not route or does not meet the core's clock and this one does, or this one routes
    /// faster (measured; `--seed` overrides it, another core uses the default).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The clock the board runs its own core at where it is not the target's (measured to
    /// meet timing on this board): the oscillator's, or one its PLL makes exactly. `--clock`
    /// overrides it; another core (`--target`) runs at its target's.
    #[serde(default)]
    pub core_clock_hz: Option<u64>,
    /// A button that resets the core while pressed (`active_high` or `active_low`); the
    /// constraint file places it as `reset_button`.
    #[serde(default)]
    pub reset_button: Option<ButtonLevel>,
    /// Outputs the board top holds at a fixed level (0 or 1), by port name, for the board's
    /// other chips (the ULX3S's `wifi_gpio0`: the ESP32's boot strap); the constraint file
    /// places each.
    #[serde(default)]
    pub held_outputs: std::collections::BTreeMap<String, u8>,
    /// Whether holding the reset button for about a second pulls `reboot_n` low, which reloads
    /// the FPGA's configuration from its flash (the OrangeCrab's bootloader, as its LiteX
    /// platform does).
    #[serde(default)]
    pub reboot_on_hold: bool,
    /// The board's DFU bootloader, where it loads bitstreams over USB DFU.
    #[serde(default)]
    pub dfu: Option<Dfu>,
    /// How people load the bitstream onto the board (not part of Monorail): a command with
    /// `{bitstream}` (or, for a DFU bootloader, `{dfu}`) where the file goes.
    #[serde(default)]
    pub load: Option<String>,
}

/// A validated board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Board {
    /// Short name.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// The target it carries; its device is the board's FPGA. It is `named_target`, or that
    /// at another clock (the board file's `core_clock_hz`, `--clock`), named for the clock.
    pub target: Target,
    /// The target as named (by the board file or `--target`), at the target's own clock.
    pub named_target: Target,
    /// The FPGA's family (the target's).
    pub family: Family,
    /// The constraint file's name.
    pub constraints_file: String,
    /// The constraint file's text.
    pub constraints: String,
    /// The pins, read from the constraint file: (port, pin), the clock, the UART's, the LEDs.
    pub pins: Vec<(String, String)>,
    /// LEDs (`led[0]` ..).
    pub leds: usize,
    /// The oscillator.
    pub clock_hz: u64,
    /// The host link's speed.
    pub uart_baud: u32,
    /// Whether an LED lights when its pin is low.
    pub leds_active_low: bool,
    /// The FPGA's package (for Gowin, the whole part number).
    pub package: String,
    /// The ECP5's speed grade.
    pub speed_grade: Option<u8>,
    /// Why its bitstream does not build yet, as measured, where its core fits the device's
    /// budget.
    pub no_bitstream_yet: Option<String>,
    /// nextpnr's placement seed for the board's own core, where the default one's placement
    /// does not route or does not meet the core's clock, or this one routes faster.
    pub seed: Option<u64>,
    /// The reset button's level while pressed, where the board has one wired.
    pub reset_button: Option<ButtonLevel>,
    /// Outputs held at a fixed level: (port, high), by name.
    pub held_outputs: Vec<(String, bool)>,
    /// Whether holding the reset button reloads the configuration (`reboot_n`).
    pub reboot_on_hold: bool,
    /// The board's DFU bootloader.
    pub dfu: Option<Dfu>,
    /// How to load a bitstream onto it: a command with `{bitstream}` or `{dfu}` for the file.
    pub load: Option<String>,
}

/// What is wrong with a board. Each names the file and the field or line.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BoardError {
    /// Not valid TOML, or fields missing or unknown.
    #[error("board file {file}: {message}")]
    Syntax {
        /// The board file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A field has an impossible value.
    #[error("board file {file}: `{field}` is {value}: {rule}")]
    Field {
        /// The board file.
        file: String,
        /// The field.
        field: &'static str,
        /// The value found.
        value: String,
        /// The rule it breaks.
        rule: String,
    },
    /// The constraint file does not place the board top's ports.
    #[error("constraint file {file}: {message}")]
    Constraints {
        /// The constraint file.
        file: String,
        /// What is wrong, with the line where there is one.
        message: String,
    },
    /// No built-in board of that name.
    #[error(
        "no built-in board `{0}` (built in: {list}; or name a board file, NAME.toml)",
        list = builtin_names().join(", ")
    )]
    Unknown(String),
    /// A UART speed the board's core cannot keep.
    #[error("board {board}: {baud} baud: {rule}")]
    Baud {
        /// The board.
        board: String,
        /// The speed asked for.
        baud: u32,
        /// Why not.
        rule: String,
    },
    /// A core clock the board cannot run its core at.
    #[error("board {board}: a {clock_hz} Hz core clock: {rule}")]
    Clock {
        /// The board.
        board: String,
        /// The clock asked for.
        clock_hz: u64,
        /// Why not.
        rule: String,
    },
    /// The board cannot carry another target's core.
    #[error("board {board} cannot carry target {target}: {rule}")]
    Carry {
        /// The board.
        board: String,
        /// The target asked for.
        target: String,
        /// Why not.
        rule: String,
    },
}

/// The names of the built-in boards.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN_BOARDS.iter().map(|(n, _)| *n).collect()
}

impl RawBoard {
    /// Parse the board file `file` (named in errors).
    pub fn parse(file: &str, text: &str) -> Result<RawBoard, BoardError> {
        toml::from_str(text).map_err(|e| BoardError::Syntax {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Validate against the built-in targets, with `constraints`: the text of the file the
    /// board names, or why there is none (where it was looked for).
    pub fn validate(
        &self,
        file: &str,
        constraints: Result<&str, &str>,
    ) -> Result<Board, BoardError> {
        let field = |field: &'static str, value: &dyn ToString, rule: &str| BoardError::Field {
            file: file.to_string(),
            field,
            value: value.to_string(),
            rule: rule.to_string(),
        };
        if !is_short_name(&self.name) {
            return Err(field("name", &self.name, SHORT_NAME_RULE));
        }
        let target = Target::builtin(&self.target)
            .map_err(|e| field("target", &self.target, &e.to_string()))?;
        let Some(device) = target.device.clone() else {
            return Err(field(
                "target",
                &self.target,
                "the target has no [device]: a board carries a target built for its FPGA",
            ));
        };
        if !(1_000_000..=500_000_000).contains(&self.clock_hz) {
            return Err(field(
                "clock_hz",
                &self.clock_hz,
                "must be 1 MHz to 500 MHz",
            ));
        }
        // A speed no clock keeps is the speed's fault, whatever the clock; at a clock of the
        // board's own, the speed is checked at that clock (below).
        if let Err(rule) = uart_baud_rule(self.uart_baud) {
            return Err(field("uart_baud", &self.uart_baud, &rule));
        }
        if let (None, Err(rule)) = (
            self.core_clock_hz,
            uart_rule(target.clock_hz, self.uart_baud),
        ) {
            return Err(field("uart_baud", &self.uart_baud, &rule));
        }
        let gowin: Vec<&str> = GOWIN_DEVICES
            .iter()
            .filter(|(part, _)| *part == device.part)
            .map(|(_, whole)| *whole)
            .collect();
        const ECP5_PACKAGES: [&str; 4] = ["CABGA256", "CABGA381", "CABGA554", "CSFBGA285"];
        const ICE40_PACKAGES: [&str; 2] = ["sg48", "uwg30"];
        let (extension, packages): (&str, &[&str]) = match device.family {
            Family::Ecp5 => ("lpf", &ECP5_PACKAGES),
            Family::Ice40 => ("pcf", &ICE40_PACKAGES),
            Family::Gowin => ("cst", &gowin),
        };
        // A package of another family: the target is the field that is wrong.
        let package_family = [
            (Family::Ecp5, ECP5_PACKAGES.contains(&self.package.as_str())),
            (
                Family::Ice40,
                ICE40_PACKAGES.contains(&self.package.as_str()),
            ),
            (
                Family::Gowin,
                GOWIN_DEVICES
                    .iter()
                    .any(|(_, whole)| *whole == self.package),
            ),
        ]
        .into_iter()
        .find(|&(family, has)| has && family != device.family);
        if let Some((family, _)) = package_family {
            return Err(field(
                "target",
                &self.target,
                &format!(
                    "the target is built for the {} {}, and the board's package {} is one of \
                     the {}'s: a board carries a target built for its FPGA",
                    device.family, device.part, self.package, family
                ),
            ));
        }
        if !packages.contains(&self.package.as_str()) {
            return Err(field(
                "package",
                &self.package,
                &if packages.is_empty() {
                    format!("Monorail knows no device of the part {}", device.part)
                } else {
                    format!("must be one of {}", packages.join(", "))
                },
            ));
        }
        match (device.family, self.speed_grade) {
            (Family::Ecp5, Some(6..=8)) | (Family::Ice40 | Family::Gowin, None) => {}
            (Family::Ecp5, g) => {
                return Err(field(
                    "speed_grade",
                    &g.map_or("missing".to_string(), |g| g.to_string()),
                    "an ECP5 board needs its speed grade: 6, 7 or 8",
                ))
            }
            (_, Some(g)) => {
                return Err(field(
                    "speed_grade",
                    &g,
                    "only ECP5 parts have a speed grade here",
                ))
            }
        }
        if let Some(seed) = self.seed.filter(|&seed| seed > MAX_SEED) {
            return Err(field(
                "seed",
                &seed,
                &format!("nextpnr's seed is at most {MAX_SEED}"),
            ));
        }
        let bare = std::path::Path::new(&self.constraints).file_name();
        if bare.is_none_or(|name| *name != *self.constraints) || self.constraints.contains('\\') {
            return Err(field(
                "constraints",
                &self.constraints,
                "must be a file's name, without folders",
            ));
        }
        if !self.constraints.ends_with(&format!(".{extension}")) {
            return Err(field(
                "constraints",
                &self.constraints,
                &format!("the {} flow reads .{extension} files", device.part),
            ));
        }
        if is_flow_clock_file(&self.constraints) {
            return Err(field(
                "constraints",
                &self.constraints,
                "the flow writes its clock constraint under that name beside the pins: name the \
                 pins' file otherwise",
            ));
        }
        let text = constraints.map_err(|why| field("constraints", &self.constraints, why))?;
        let mut held_outputs = Vec::new();
        for (port, &level) in &self.held_outputs {
            let taken = BOARD_PORTS.contains(&port.as_str())
                || port == RESET_BUTTON_PORT
                || port == REBOOT_PORT
                || port.starts_with("led");
            if !is_port_name(port) || taken {
                return Err(field(
                    "held_outputs",
                    port,
                    "must be a port name (a letter, then letters, digits or `_`) that is not \
                     one of the board top's own ports",
                ));
            }
            if level > 1 {
                return Err(field(
                    "held_outputs",
                    &format!("{port} = {level}"),
                    "a held output is 0 or 1",
                ));
            }
            held_outputs.push((port.clone(), level == 1));
        }
        if self.reboot_on_hold && self.reset_button.is_none() {
            return Err(field(
                "reboot_on_hold",
                &self.reboot_on_hold,
                "the reboot is the reset button held: name the board's `reset_button` too",
            ));
        }
        if let Some(load) = &self.load {
            let names_file = load.contains("{bitstream}") || load.contains("{dfu}");
            if !names_file || (load.contains("{dfu}") && self.dfu.is_none()) {
                return Err(field(
                    "load",
                    load,
                    "must name the file as {bitstream}, or as {dfu} where the board file has a \
                     `dfu` bootloader",
                ));
            }
        }
        let pins = read_pins(device.family, &self.package, &self.constraints, text)?;
        let ports = TopPorts {
            reset_button: self.reset_button.is_some(),
            reboot: self.reboot_on_hold,
            held_outputs: &held_outputs,
        };
        let leds = check_ports(&self.constraints, &pins, &ports)?;
        let board = Board {
            name: self.name.clone(),
            description: self.description.clone(),
            family: device.family,
            named_target: target.clone(),
            target,
            constraints_file: self.constraints.clone(),
            constraints: text.to_string(),
            pins,
            leds,
            clock_hz: self.clock_hz,
            uart_baud: self.uart_baud,
            leds_active_low: self.leds_active_low,
            package: self.package.clone(),
            speed_grade: self.speed_grade,
            no_bitstream_yet: self.no_bitstream_yet.clone(),
            seed: self.seed,
            reset_button: self.reset_button,
            held_outputs,
            reboot_on_hold: self.reboot_on_hold,
            dfu: self.dfu,
            load: self.load.clone(),
        };
        match self.core_clock_hz {
            Some(clock_hz) => board.at_clock(clock_hz).map_err(|e| match e {
                BoardError::Clock { rule, .. } => field("core_clock_hz", &clock_hz, &rule),
                other => other,
            }),
            None => Ok(board),
        }
    }
}

/// Whether `name` can name a port: a letter, then letters, digits or `_`.
fn is_port_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Board {
    /// A built-in board by name.
    pub fn builtin(name: &str) -> Result<Board, BoardError> {
        let (_, text) = BUILTIN_BOARDS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| BoardError::Unknown(name.to_string()))?;
        let file = format!("boards/{name}.toml");
        let raw = RawBoard::parse(&file, text)?;
        let constraints =
            builtin_constraints(&raw.constraints).ok_or("no such file in constraints/");
        raw.validate(&file, constraints)
    }

    /// All built-in boards.
    pub fn builtins() -> Vec<Board> {
        builtin_names()
            .into_iter()
            .map(|n| Board::builtin(n).expect("built-in boards are valid"))
            .collect()
    }

    /// The command that loads `bitstream` (or its DFU image `dfu`) onto the board, where the
    /// board file says how.
    pub fn load_command(&self, bitstream: &str, dfu: Option<&str>) -> Option<String> {
        let load = self.load.as_ref()?;
        Some(
            load.replace("{bitstream}", bitstream)
                .replace("{dfu}", dfu.unwrap_or(bitstream)),
        )
    }

    /// The pin of `port`.
    pub fn pin(&self, port: &str) -> Option<&str> {
        self.pins
            .iter()
            .find(|(p, _)| p == port)
            .map(|(_, pin)| pin.as_str())
    }

    /// The board with its UART at `baud` instead of the board file's: refused, naming the
    /// board, where the core cannot keep it ([`uart_rule`], as for a board file's speed).
    pub fn at_baud(self, baud: u32) -> Result<Board, BoardError> {
        uart_rule(self.target.clock_hz, baud).map_err(|rule| BoardError::Baud {
            board: self.name.clone(),
            baud,
            rule,
        })?;
        Ok(Board {
            uart_baud: baud,
            ..self
        })
    }

    /// The board with its core clocked at `clock_hz` instead of its named target's clock (and
    /// instead of the board file's `core_clock_hz`): the same core, whose target is named for
    /// the clock (`ecp5-45f-60mhz`), so that its bundles, build folders and INFO reply are its
    /// own. Whether the board's PLL makes the clock is the board top's to check; the UART must
    /// still keep its speed at it.
    pub fn at_clock(self, clock_hz: u64) -> Result<Board, BoardError> {
        let refuse = |rule: String| BoardError::Clock {
            board: self.name.clone(),
            clock_hz,
            rule,
        };
        if !crate::target::CLOCK_HZ.contains(&clock_hz) {
            return Err(refuse(crate::target::clock_hz_rule()));
        }
        uart_rule(clock_hz, self.uart_baud)
            .map_err(|rule| refuse(format!("{} baud: {rule}", self.uart_baud)))?;
        let named = &self.named_target;
        if clock_hz == named.clock_hz {
            return Ok(Board {
                target: named.clone(),
                ..self
            });
        }
        let mhz = clock_hz as f64 / 1e6;
        // A short name: letters and digits.
        let label = if clock_hz % 1_000_000 == 0 {
            format!("{}mhz", clock_hz / 1_000_000)
        } else if clock_hz % 1_000 == 0 {
            format!("{}khz", clock_hz / 1_000)
        } else {
            format!("{clock_hz}hz")
        };
        let target = Target {
            name: format!("{}-{label}", named.name),
            description: format!("{}, clocked at {mhz} MHz", named.description),
            clock_hz,
            ..named.clone()
        };
        Ok(Board { target, ..self })
    }

    /// The board carrying `target`'s core instead of its own: the core as the target describes
    /// it (lanes, memories, clock), on the board's FPGA (the target's `[device]` becomes the
    /// board's, so the budget checks and the flow are the board's part). The target must be
    /// built for the board's family. The board file's `no_bitstream_yet`, `seed` and
    /// `core_clock_hz` are about its own core, so another core drops them; its own target, named,
    /// is its own core.
    pub fn carrying(&self, target: Target) -> Result<Board, BoardError> {
        let refuse = |rule: String| BoardError::Carry {
            board: self.name.clone(),
            target: target.name.clone(),
            rule,
        };
        if target == self.target || target == self.named_target {
            return Ok(self.clone());
        }
        let own = self
            .target
            .device
            .clone()
            .expect("a validated board's target has a device");
        match &target.device {
            None => {
                return Err(refuse(
                    "the target has no [device]: a board carries a core built for its FPGA's \
                     family"
                        .to_string(),
                ))
            }
            Some(device) if device.family != own.family => {
                return Err(refuse(format!(
                    "the target is built for the {} {}, the board's FPGA is the {} {}",
                    device.family, device.part, own.family, own.part
                )))
            }
            Some(_) => {}
        }
        if let Err(rule) = uart_rule(target.clock_hz, self.uart_baud) {
            return Err(refuse(format!(
                "at the board's {} baud, {rule}",
                self.uart_baud
            )));
        }
        let target = Target {
            device: Some(own),
            ..target
        };
        Ok(Board {
            named_target: target.clone(),
            target,
            no_bitstream_yet: None,
            seed: None,
            ..self.clone()
        })
    }

    /// Core clock cycles a UART bit lasts at the board file's speed ([`uart_bit_cycles`]).
    pub fn cycles_per_bit(&self) -> u64 {
        uart_bit_cycles(self.target.clock_hz, self.uart_baud)
    }
}

/// Whether `pin` can name a pin of `package`: a ball (letters, then a number: `B2`, `AB12`)
/// of a ball-grid package, a number from 1 to its pin count of a flat one (`sg48`, Gowin's
/// `...QN88...`), where Gowin's pins may also be named by their I/O (`IOT17A`, `IOR11[B]`) and
/// a differential pair is two (`52,53`). A package of neither kind is not checked.
fn pin_rule(package: &str, pin: &str) -> Result<(), String> {
    if let Some((p, n)) = pin.split_once(',') {
        return pin_rule(package, p).and_then(|()| pin_rule(package, n));
    }
    // Gowin's names of an I/O: IO, its side, its number, and its letter (in brackets or not).
    let io_name = pin.strip_prefix("IO").is_some_and(|rest| {
        let rest = rest.strip_prefix(['T', 'B', 'L', 'R']).unwrap_or("-");
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let letter = rest[digits..].trim_start_matches('[').trim_end_matches(']');
        digits > 0 && letter.len() <= 1 && letter.bytes().all(|b| b.is_ascii_uppercase())
    });
    if io_name {
        return Ok(());
    }
    let upper = package.to_ascii_uppercase();
    // The pin count after a flat package's letters: SG48, QN88, LQ144, TQ144, QFN48.
    let flat = ["QFN", "SG", "QN", "LQ", "TQ"].iter().find_map(|kind| {
        let (_, after) = upper.split_once(kind)?;
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok().filter(|&n| n > 0)
    });
    if upper.contains("BGA") {
        let letters = pin.chars().take_while(char::is_ascii_uppercase).count();
        let number = &pin[letters..];
        if !(1..=2).contains(&letters)
            || number.is_empty()
            || number.len() > 2
            || !number.bytes().all(|b| b.is_ascii_digit())
            || number.starts_with('0')
        {
            return Err(format!(
                "pin {pin} is no ball of the {package} (a row's letters, then a column's \
                 number: B2, AB12)"
            ));
        }
    } else if let Some(count) = flat {
        let number =
            !pin.is_empty() && !pin.starts_with('0') && pin.bytes().all(|b| b.is_ascii_digit());
        if !(number && pin.parse::<u32>().is_ok_and(|n| (1..=count).contains(&n))) {
            return Err(format!(
                "pin {pin} is no pin of the {package} (1 to {count})"
            ));
        }
    }
    Ok(())
}

/// The (port, pin) pairs a constraint file places, in file order, each pin checked against the
/// board's `package` ([`pin_rule`]).
fn read_pins(
    family: Family,
    package: &str,
    file: &str,
    text: &str,
) -> Result<Vec<(String, String)>, BoardError> {
    let bad = |line: usize, message: String| BoardError::Constraints {
        file: file.to_string(),
        message: format!("line {line}: {message}"),
    };
    let mut pins: Vec<(String, String)> = Vec::new();
    for (i, raw_line) in text.lines().enumerate() {
        let line = raw_line
            .split('#')
            .next()
            .unwrap_or("")
            .split("//")
            .next()
            .unwrap_or("")
            .trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line
            .trim_end_matches(';')
            .split_whitespace()
            .map(|w| w.trim_matches('"'))
            .collect();
        let placed = match (family, words.as_slice()) {
            (Family::Ice40, ["set_io", rest @ ..]) => {
                // Options (`-nowarn`, `-pullup yes`, ...) come before the port and the pin.
                let args: Vec<&str> = rest
                    .iter()
                    .copied()
                    .filter(|w| !w.starts_with('-') && *w != "yes" && *w != "no")
                    .collect();
                match args.as_slice() {
                    [port, pin] => Some((port.to_string(), pin.to_string())),
                    _ => return Err(bad(i + 1, "expected `set_io [options] PORT PIN`".into())),
                }
            }
            (Family::Ecp5, ["LOCATE", "COMP", port, "SITE", pin]) => {
                Some((port.to_string(), pin.to_string()))
            }
            (Family::Ecp5, ["LOCATE", ..]) => {
                return Err(bad(
                    i + 1,
                    "expected `LOCATE COMP \"PORT\" SITE \"PIN\";`".into(),
                ))
            }
            (Family::Gowin, ["IO_LOC", port, pin]) => Some((port.to_string(), pin.to_string())),
            _ => None,
        };
        if let Some((port, pin)) = placed {
            pin_rule(package, &pin).map_err(|rule| bad(i + 1, format!("`{port}`: {rule}")))?;
            if let Some((_, earlier)) = pins.iter().find(|(p, _)| *p == port) {
                return Err(bad(
                    i + 1,
                    format!("`{port}` is placed twice (on {earlier} and {pin})"),
                ));
            }
            if let Some((other, _)) = pins.iter().find(|(_, p)| *p == pin) {
                return Err(bad(
                    i + 1,
                    format!("pin {pin} is given to both `{other}` and `{port}`"),
                ));
            }
            pins.push((port, pin));
        }
    }
    Ok(pins)
}

/// The board top's ports besides [`BOARD_PORTS`] and the LEDs, as the board file asks for them.
struct TopPorts<'a> {
    reset_button: bool,
    reboot: bool,
    held_outputs: &'a [(String, bool)],
}

impl TopPorts<'_> {
    /// Every port but the LEDs, by name.
    fn names(&self) -> Vec<&str> {
        let mut names = BOARD_PORTS.to_vec();
        if self.reset_button {
            names.push(RESET_BUTTON_PORT);
        }
        if self.reboot {
            names.push(REBOOT_PORT);
        }
        names.extend(self.held_outputs.iter().map(|(p, _)| p.as_str()));
        names
    }
}

/// Check that `pins` place exactly the board top's ports; the number of LEDs.
fn check_ports(file: &str, pins: &[(String, String)], top: &TopPorts) -> Result<usize, BoardError> {
    let bad = |message: String| BoardError::Constraints {
        file: file.to_string(),
        message,
    };
    let names = top.names();
    let listed = format!(
        "the board top's ports are {}, led[0], led[1], ...",
        names.join(", ")
    );
    for port in &names {
        if !pins.iter().any(|(p, _)| p == port) {
            let why = if *port == RESET_BUTTON_PORT {
                " (the board file names a `reset_button`)"
            } else if *port == REBOOT_PORT {
                " (the board file sets `reboot_on_hold`)"
            } else if BOARD_PORTS.contains(port) {
                ""
            } else {
                " (one of the board file's `held_outputs`)"
            };
            return Err(bad(format!("does not place `{port}`{why}; {listed}")));
        }
    }
    let mut leds = Vec::new();
    for (port, _) in pins {
        if names.contains(&port.as_str()) {
            continue;
        }
        let index = port
            .strip_prefix("led[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<usize>().ok());
        match index {
            Some(n) => leds.push(n),
            None => {
                let hint = if port == RESET_BUTTON_PORT {
                    " (the board file names no `reset_button`)"
                } else if port == REBOOT_PORT {
                    " (the board file does not set `reboot_on_hold`)"
                } else {
                    ""
                };
                return Err(bad(format!(
                    "places `{port}`, which the board top does not have{hint}; {listed}"
                )));
            }
        }
    }
    leds.sort_unstable();
    if leds.is_empty() || leds.iter().enumerate().any(|(i, &n)| i != n) {
        return Err(bad(format!(
            "the LEDs must be led[0] .. led[n-1] with none missing (found {leds:?})"
        )));
    }
    Ok(leds.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fastest_baud_keeps_the_rule_and_no_faster_one_does() {
        let mut clocks: Vec<u64> = Board::builtins()
            .iter()
            .map(|b| b.target.clock_hz)
            .collect();
        clocks.extend([12_000_000, 48_000_000, 100_000_000, 123_456_789]);
        for clock_hz in clocks {
            let baud = fastest_baud(clock_hz);
            assert_eq!(uart_rule(clock_hz, baud), Ok(()), "{clock_hz} Hz at {baud}");
            let cycles = uart_bit_cycles(clock_hz, baud);
            // A bit one cycle shorter is too short, or past the range, or breaks the rule.
            let shorter = u32::try_from(clock_hz / (cycles - 1)).unwrap_or(u32::MAX);
            assert!(
                cycles == MIN_UART_BIT_CYCLES
                    || shorter > *UART_BAUD_RANGE.end()
                    || uart_rule(clock_hz, shorter).is_err(),
                "{clock_hz} Hz: {cycles} cycles a bit"
            );
        }
        // 8 cycles a bit of the iCEBreaker's 6 MHz.
        assert_eq!(fastest_baud(6_000_000), 750_000);
    }

    #[test]
    fn every_builtin_board_is_valid_and_places_its_ports() {
        for board in Board::builtins() {
            assert!(board.pin("clk").is_some(), "{}", board.name);
            assert!(board.leds >= 1, "{}", board.name);
            assert_eq!(
                board.pins.len(),
                3 + board.leds
                    + usize::from(board.reset_button.is_some())
                    + usize::from(board.reboot_on_hold)
                    + board.held_outputs.len(),
                "{}",
                board.name
            );
            assert!(
                board.cycles_per_bit() >= MIN_UART_BIT_CYCLES,
                "{}",
                board.name
            );
        }
        // The board with the 100 MHz `ulx3s-85f` core (its own, `ecp5-85f`, runs at 50 MHz: 434
        // cycles a bit of 115,200 baud).
        let ulx3s = Board::builtin("ulx3s-85f")
            .unwrap()
            .carrying(Target::builtin("ulx3s-85f").unwrap())
            .unwrap();
        assert_eq!(Board::builtin("ulx3s-85f").unwrap().cycles_per_bit(), 434);
        assert_eq!(
            (ulx3s.pin("clk"), ulx3s.pin("uart_rx"), ulx3s.leds),
            (Some("G2"), Some("M1"), 8)
        );
        // FIRE1 resets; the ESP32's boot strap is held high.
        assert_eq!(
            (ulx3s.reset_button, ulx3s.pin(RESET_BUTTON_PORT)),
            (Some(ButtonLevel::ActiveHigh), Some("R1"))
        );
        assert_eq!(ulx3s.held_outputs, vec![("wifi_gpio0".to_string(), true)]);
        assert_eq!(ulx3s.pin("wifi_gpio0"), Some("L2"));
        // 100 MHz / 115200 baud
        assert_eq!(ulx3s.cycles_per_bit(), 868);
        // Another UART speed: within the board files' range and 8 core cycles a bit.
        let fast = ulx3s.clone().at_baud(1_000_000).unwrap();
        assert_eq!((fast.uart_baud, fast.cycles_per_bit()), (1_000_000, 100));
        for (baud, rule) in [
            (0, "0 baud: must be 1200 to 3000000"),
            (4_000_000, "must be 1200 to 3000000"),
        ] {
            let err = ulx3s.clone().at_baud(baud).unwrap_err().to_string();
            assert!(err.contains(rule), "{err}");
        }
        // 100 MHz at 3,000,000 baud: 33 cycles a bit where 33.3 are due, 1% off: kept. 40 MHz
        // (the 25F's core at its target's own clock) at 3,000,000: 13 where 13.3 are, 2.5% off:
        // refused.
        assert!(ulx3s.clone().at_baud(3_000_000).is_ok());
        let err = Board::builtin("ulx3s-25f")
            .unwrap()
            .at_clock(40_000_000)
            .unwrap()
            .at_baud(3_000_000)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("makes a bit 13 cycles, 2.5% off its length (at most 2%)"),
            "{err}"
        );
        // Another core clock: the same core, its target named for the clock; the UART must
        // still keep its speed.
        let ulx3s_45f = Board::builtin("ulx3s-45f").unwrap();
        let at_50 = ulx3s_45f.clone().at_clock(50_000_000).unwrap();
        assert_eq!(
            (at_50.target.name.as_str(), at_50.target.clock_hz),
            ("ecp5-45f-50mhz", 50_000_000)
        );
        assert_ne!(at_50.target.config_hash(), ulx3s_45f.target.config_hash());
        assert_eq!(
            Target {
                name: ulx3s_45f.target.name.clone(),
                description: ulx3s_45f.target.description.clone(),
                clock_hz: ulx3s_45f.target.clock_hz,
                ..at_50.target.clone()
            },
            ulx3s_45f.target,
            "only the clock and the names differ"
        );
        assert_eq!(at_50.cycles_per_bit(), 434);
        let at_62_5 = ulx3s_45f.clone().at_clock(62_500_000).unwrap();
        assert_eq!(at_62_5.target.name, "ecp5-45f-62500khz");
        let same = ulx3s_45f
            .clone()
            .at_clock(ulx3s_45f.target.clock_hz)
            .unwrap();
        assert_eq!(same.target, ulx3s_45f.target);
        for (clock_hz, rule) in [
            (
                0,
                "board ulx3s-45f: a 0 Hz core clock: must be in 1 ..= 1000000000 Hz",
            ),
            (
                1_000_000,
                "a 1000000 Hz core clock: 115200 baud: the core's 1000000 Hz clock makes a bit 9 \
                 cycles, 3.7% off",
            ),
        ] {
            let err = ulx3s_45f
                .clone()
                .at_clock(clock_hz)
                .unwrap_err()
                .to_string();
            assert!(err.contains(rule), "{err}");
        }
        let slow = Board::builtin("icebreaker").unwrap().at_baud(3_000_000);
        let err = slow.unwrap_err().to_string();
        assert!(
            err.contains(
                "board icebreaker: 3000000 baud: the core's 9000000 Hz clock gives fewer than 8"
            ),
            "{err}"
        );
        let ice = Board::builtin("icebreaker").unwrap();
        assert_eq!((ice.pin("uart_tx"), ice.leds), (Some("9"), 2));
        let tang = Board::builtin("tangnano-20k").unwrap();
        assert_eq!(
            (tang.pin("clk"), tang.pin("uart_rx"), tang.leds, tang.family),
            (Some("4"), Some("70"), 6, Family::Gowin)
        );
    }

    /// A board file's `core_clock_hz` runs its own core at that clock: `--clock` replaces it
    /// (named from the target, not from the clocked one), another core drops it, and the board's
    /// own target named again is its own core.
    #[test]
    fn a_board_file_clocks_its_own_core() {
        let crab = Board::builtin("orangecrab-85f").unwrap();
        assert_eq!(
            (crab.target.name.as_str(), crab.target.clock_hz),
            ("ecp5-85f-66mhz", 66_000_000)
        );
        assert_eq!(crab.named_target, Target::builtin("ecp5-85f").unwrap());
        assert_eq!(crab.seed, Some(6));
        let at_50 = crab.clone().at_clock(50_000_000).unwrap();
        assert_eq!(at_50.target.name, "ecp5-85f-50mhz");
        let at_40 = crab.clone().at_clock(40_000_000).unwrap();
        assert_eq!(at_40.target, crab.named_target);
        let own = crab.carrying(Target::builtin("ecp5-85f").unwrap()).unwrap();
        assert_eq!(own, crab);
        let other = crab.carrying(Target::builtin("ecp5-45f").unwrap()).unwrap();
        assert_eq!(
            (
                other.target.name.as_str(),
                other.target.clock_hz,
                other.seed
            ),
            ("ecp5-45f", 60_000_000, None)
        );
        assert_eq!(other.named_target, other.target);
        // A clock the UART cannot keep, or none, is the field's error.
        let lpf = BUILTIN_CONSTRAINTS[1].1;
        for (clock, want) in [
            ("0", "`core_clock_hz` is 0: must be in 1 ..= 1000000000 Hz"),
            (
                "1_000_000",
                "`core_clock_hz` is 1000000: 115200 baud: the core's 1000000 Hz clock makes a \
                 bit 9 cycles",
            ),
        ] {
            let e = err(&raw(&format!("core_clock_hz = {clock}")), Some(lpf));
            assert!(
                e.starts_with("board file b.toml: ") && e.contains(want),
                "{e}"
            );
        }
        let ulx3s = raw("core_clock_hz = 50_000_000")
            .validate("b.toml", Ok(lpf))
            .unwrap();
        assert_eq!(ulx3s.target.name, "ecp5-45f-50mhz");
        // The UART's speed is checked at the board's clock, not the target's: 2,926,829 baud is
        // 20.5 cycles a bit at the target's 60 MHz (2.4% off) and 34.2 at 100 MHz (0.5%).
        let speed = "uart_baud = 2_926_829";
        let e = err(&raw(speed), Some(lpf));
        assert!(e.contains("`uart_baud` is 2926829"), "{e}");
        let fast =
            raw(&format!("core_clock_hz = 100_000_000\n{speed}")).validate("b.toml", Ok(lpf));
        assert!(fast.is_ok(), "{fast:?}");
        let e = err(
            &raw("core_clock_hz = 40_000_000\nuart_baud = 3_000_000"),
            Some(lpf),
        );
        assert!(
            e.contains("`core_clock_hz` is 40000000: 3000000 baud"),
            "{e}"
        );
    }

    #[test]
    fn a_board_carries_another_core_of_its_family_on_its_own_fpga() {
        let mut ulx3s = Board::builtin("ulx3s-85f").unwrap();
        assert!(ulx3s.no_bitstream_yet.is_none());
        assert!(
            ulx3s.seed.is_some(),
            "ulx3s-85f routes its own core with a seed of its own"
        );
        // A board file's note of what keeps its own core from a bitstream.
        let noted = raw("no_bitstream_yet = \"measured\"");
        assert_eq!(noted.no_bitstream_yet.as_deref(), Some("measured"));
        ulx3s.no_bitstream_yet = noted.no_bitstream_yet;
        let small = Target::builtin("ecp5-45f").unwrap();
        let carried = ulx3s.carrying(small.clone()).unwrap();
        let device = carried.target.device.as_ref().unwrap();
        assert_eq!(
            (carried.target.lanes, carried.target.clock_hz),
            (small.lanes, small.clock_hz)
        );
        assert_eq!(
            (device.part.as_str(), device.block_rams),
            ("LFE5U-85F", 208)
        );
        assert_eq!((carried.no_bitstream_yet, carried.seed), (None, None));
        assert_eq!(
            (carried.name.as_str(), carried.pins.len()),
            ("ulx3s-85f", ulx3s.pins.len())
        );
        assert_ne!(carried.target.config_hash(), small.config_hash());
        // Its own target: the board as it is.
        assert_eq!(ulx3s.carrying(ulx3s.target.clone()).unwrap(), ulx3s);

        let refused = |target: Target| ulx3s.carrying(target).unwrap_err().to_string();
        let gowin = refused(Target::builtin("gw2a-18").unwrap());
        assert!(
            gowin.contains("board ulx3s-85f cannot carry target gw2a-18")
                && gowin.contains("Gowin GW2A-18C")
                && gowin.contains("ECP5 LFE5U-85F"),
            "{gowin}"
        );
        assert!(refused(Target::builtin("sim-tiny").unwrap()).contains("no [device]"));
        let slow = Target {
            clock_hz: 500_000,
            ..small
        };
        assert!(refused(slow).contains("fewer than 8 cycles a bit"));
    }

    fn raw(edit: &str) -> RawBoard {
        let (_, text) = BUILTIN_BOARDS
            .iter()
            .find(|(n, _)| *n == "ulx3s-45f")
            .unwrap();
        let mut table: toml::Table = toml::from_str(text).unwrap();
        let change: toml::Table = toml::from_str(edit).unwrap();
        for (k, v) in change {
            table.insert(k, v);
        }
        RawBoard::parse("b.toml", &toml::to_string(&table).unwrap()).unwrap()
    }

    fn err(board: &RawBoard, constraints: Option<&str>) -> String {
        board
            .validate("b.toml", constraints.ok_or("no such file here"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_board_files_name_the_field() {
        let lpf = BUILTIN_CONSTRAINTS[1].1;
        assert!(RawBoard::parse("b.toml", "name = 1")
            .unwrap_err()
            .to_string()
            .starts_with("board file b.toml:"));
        let cases = [
            ("target = \"sim-tiny\"", "`target`"),
            ("target = \"nope\"", "no built-in target `nope`"),
            (
                "target = \"icebreaker\"",
                "`target` is icebreaker: the target is built for the iCE40 iCE40UP5K, and the \
                 board's package CABGA381 is one of the ECP5's",
            ),
            ("clock_hz = 0", "`clock_hz`"),
            ("uart_baud = 100", "`uart_baud`"),
            ("package = \"QFN88\"", "`package`"),
            ("speed_grade = 9", "speed grade"),
            ("seed = 2147483648", "`seed`"),
            ("constraints = \"ulx3s.pcf\"", "reads .lpf files"),
            (
                "constraints = \"../ulx3s.lpf\"",
                "a file's name, without folders",
            ),
            (
                "constraints = \"pins\\\\ulx3s.lpf\"",
                "a file's name, without folders",
            ),
            ("constraints = \"\"", "a file's name, without folders"),
            (
                "constraints = \"clock.lpf\"",
                "its clock constraint under that name",
            ),
            (
                "constraints = \"clock-3.lpf\"",
                "its clock constraint under that name",
            ),
            ("name = \"a b\"", "`name`"),
        ];
        for (edit, want) in cases {
            let e = err(&raw(edit), Some(lpf));
            assert!(e.contains(want), "{edit}: {e}");
        }
        assert!(err(&raw(""), None).contains("no such file"));
        // The iCEBreaker's 6 MHz core clock gives 2 cycles a bit at 3 Mbaud.
        let text = BUILTIN_BOARDS[0].1.replace("115_200", "3_000_000");
        let ice = RawBoard::parse("b.toml", &text).unwrap();
        let e = err(&ice, Some(BUILTIN_CONSTRAINTS[0].1));
        assert!(e.contains("fewer than 8 cycles a bit"), "{e}");
        // A Gowin board names the whole part number of its target's part.
        let (_, text) = BUILTIN_BOARDS
            .iter()
            .find(|(n, _)| *n == "tangnano-20k")
            .unwrap();
        let cst = BUILTIN_CONSTRAINTS
            .iter()
            .find(|(n, _)| *n == "tangnano-20k.cst")
            .unwrap()
            .1;
        let text = text.replace("GW2AR-LV18QN88C8/I7", "GW1NR-LV9QN88PC6/I5");
        let tang = RawBoard::parse("b.toml", &text).unwrap();
        let e = err(&tang, Some(cst));
        assert!(
            e.contains("`package` is GW1NR-LV9QN88PC6/I5: must be one of GW2AR-LV18QN88C8/I7"),
            "{e}"
        );
    }

    #[test]
    fn constraint_files_must_place_exactly_the_board_top() {
        let board = raw("");
        let lpf = BUILTIN_CONSTRAINTS[1].1;
        let without_tx: String = lpf
            .lines()
            .filter(|l| !l.contains("\"uart_tx\" SITE"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(err(&board, Some(&without_tx)).contains("does not place `uart_tx`"));
        let extra = format!("{lpf}\nLOCATE COMP \"btn\" SITE \"T1\";\n");
        assert!(err(&board, Some(&extra)).contains("places `btn`"));
        let gap = lpf.replace("\"led[3]\" SITE", "\"led[9]\" SITE");
        assert!(err(&board, Some(&gap)).contains("none missing"));
        let twice = lpf.replace("SITE \"C2\"", "SITE \"B2\"");
        let e = err(&board, Some(&twice));
        assert!(
            e.contains("pin B2 is given to both") && e.contains("line "),
            "{e}"
        );
        let broken = format!("{lpf}\nLOCATE COMP \"x\";\n");
        assert!(err(&board, Some(&broken)).contains("expected `LOCATE COMP"));

        // The reset button and the held outputs: placed exactly when the board file names them.
        let mut no_button = board.clone();
        no_button.reset_button = None;
        let e = err(&no_button, Some(lpf));
        assert!(
            e.contains(
                "places `reset_button`, which the board top does not have (the board \
                        file names no `reset_button`)"
            ),
            "{e}"
        );
        let unplaced: String = lpf
            .lines()
            .filter(|l| !l.contains("\"reset_button\" SITE"))
            .collect::<Vec<_>>()
            .join("\n");
        let e = err(&board, Some(&unplaced));
        assert!(
            e.contains("does not place `reset_button` (the board file names a `reset_button`)"),
            "{e}"
        );
        let mut fewer = board.clone();
        fewer.held_outputs.clear();
        assert!(err(&fewer, Some(lpf)).contains("places `wifi_gpio0`"));
        let mut more = board.clone();
        more.held_outputs.insert("wifi_en".to_string(), 1);
        let e = err(&more, Some(lpf));
        assert!(
            e.contains("does not place `wifi_en` (one of the board file's `held_outputs`)"),
            "{e}"
        );
        for (port, level, want) in [
            (
                "wifi_gpio0",
                2,
                "`held_outputs` is wifi_gpio0 = 2: a held output is 0 or 1",
            ),
            (
                "uart_tx",
                1,
                "`held_outputs` is uart_tx: must be a port name",
            ),
            ("led[0]", 1, "`held_outputs` is led[0]: must be a port name"),
            ("2x", 1, "`held_outputs` is 2x: must be a port name"),
        ] {
            let mut held = board.clone();
            held.held_outputs.insert(port.to_string(), level);
            let e = err(&held, Some(lpf));
            assert!(e.contains(want), "{port}: {e}");
        }
        // The OrangeCrab: its button low while pressed, held it reboots into the bootloader.
        let crab = Board::builtin("orangecrab-25f").unwrap();
        assert_eq!(
            (
                crab.reset_button,
                crab.reboot_on_hold,
                crab.pin(REBOOT_PORT)
            ),
            (Some(ButtonLevel::ActiveLow), true, Some("V17"))
        );
        assert_eq!(
            crab.dfu,
            Some(Dfu {
                vendor: 0x1209,
                product: 0x5af0
            })
        );
        let crab_lpf = BUILTIN_CONSTRAINTS
            .iter()
            .find(|(n, _)| *n == "orangecrab.lpf")
            .unwrap()
            .1;
        let crab_file = BUILTIN_BOARDS
            .iter()
            .find(|(n, _)| *n == "orangecrab-25f")
            .unwrap()
            .1;
        let mut crab = RawBoard::parse("b.toml", crab_file).unwrap();
        crab.reboot_on_hold = false;
        let e = err(&crab, Some(crab_lpf));
        assert!(
            e.contains(
                "places `reboot_n`, which the board top does not have (the board file \
                        does not set `reboot_on_hold`)"
            ),
            "{e}"
        );
        crab.reboot_on_hold = true;
        crab.reset_button = None;
        assert!(err(&crab, Some(crab_lpf)).contains("`reboot_on_hold` is true: the reboot is"));
        // How to load: a command naming the file.
        let ulx3s = Board::builtin("ulx3s-45f").unwrap();
        assert_eq!(
            ulx3s.load_command("out/top.bit", None).as_deref(),
            Some("openFPGALoader -b ulx3s out/top.bit")
        );
        let crab = Board::builtin("orangecrab-25f").unwrap();
        assert_eq!(
            crab.load_command("top.bit", Some("top.dfu")).as_deref(),
            Some("dfu-util -D top.dfu")
        );
        for load in ["\"openFPGALoader -b ulx3s\"", "\"dfu-util -D {dfu}\""] {
            let e = err(&raw(&format!("load = {load}")), Some(lpf));
            assert!(
                e.contains("`load` is") && e.contains("must name the file"),
                "{e}"
            );
        }
        let e = RawBoard::parse("b.toml", "reset_button = \"pressed\"").unwrap_err();
        assert!(e.to_string().contains("active_high"), "{e}");
    }

    #[test]
    fn pcf_options_come_before_the_port() {
        let pins = read_pins(
            Family::Ice40,
            "sg48",
            "x.pcf",
            "set_io -nowarn -pullup yes uart_rx 6 # comment\nset_io clk 35\n",
        )
        .unwrap();
        assert_eq!(
            pins,
            vec![
                ("uart_rx".to_string(), "6".to_string()),
                ("clk".to_string(), "35".to_string())
            ]
        );
        assert!(read_pins(Family::Ice40, "sg48", "x.pcf", "set_io clk\n").is_err());
        let qn88 = "GW1NR-LV9QN88PC6/I5";
        let cst = read_pins(Family::Gowin, qn88, "x.cst", "IO_LOC \"clk\" 52; // osc\n").unwrap();
        assert_eq!(cst, vec![("clk".to_string(), "52".to_string())]);
    }

    #[test]
    fn pins_are_the_package_s() {
        for (package, good, bad) in [
            (
                "sg48",
                &["1", "48", "35"][..],
                &["0", "49", "999", "A9", "3a", "+10", "037"][..],
            ),
            (
                "GW1NR-LV9QN88PC6/I5",
                &["52", "88", "IOT17A", "IOR11[B]", "52,53"],
                &["89", "T16", "IOX1A", "52,89", "IOT"],
            ),
            (
                "CABGA381",
                &["B2", "AB12", "G2"],
                &["12", "B", "B123", "b2", "B02"],
            ),
            ("CSFBGA285", &["A9", "N16"], &["999"]),
        ] {
            for pin in good {
                assert!(pin_rule(package, pin).is_ok(), "{package} {pin}");
            }
            for pin in bad {
                assert!(pin_rule(package, pin).is_err(), "{package} {pin}");
            }
        }
        // A package of neither kind is taken as it is.
        assert!(pin_rule("WLCSP", "X").is_ok());
        let e = read_pins(Family::Ice40, "sg48", "x.pcf", "set_io uart_tx 999\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "constraint file x.pcf: line 1: `uart_tx`: pin 999 is no pin of the sg48 (1 to 48)"
        );
    }
}
