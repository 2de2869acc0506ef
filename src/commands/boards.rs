//! `monorail boards`: the built-in boards (or the boards named, board files among them), the
//! core each carries, and what keeps a board from its bitstream. Naming a board file checks it
//! as `bitstream` would, in a moment instead of after a synthesis.

use monorail_contract::board::{self, ButtonLevel, REBOOT_PORT, RESET_BUTTON_PORT};
use monorail_contract::counted;

use crate::error::{refused, CliError};
use crate::load::{builtin_board_and_pins, check_top, load_board_and_pins};

#[derive(clap::Args)]
pub struct Args {
    /// Boards to show: built-in names or board files (.toml); default: every built-in board.
    #[arg(value_name = "BOARD")]
    boards: Vec<String>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    // All checked before any is printed.
    let boards = if args.boards.is_empty() {
        board::builtin_names()
            .into_iter()
            .map(builtin_board_and_pins)
            .collect::<Result<Vec<_>, _>>()?
    } else {
        args.boards
            .iter()
            .map(|name| {
                let (board, pins) = load_board_and_pins(name)?;
                check_top(&board, name)?;
                // What `bitstream` refuses before any tool runs: a core larger than the device,
                // a pin the package does not have.
                monorail_fpga::bitstream::check_fits(&board)
                    .and_then(|()| monorail_fpga::bitstream::check_pins(&board))
                    .map_err(|e| refused(format!("{name}: {e}")))?;
                Ok((board, pins))
            })
            .collect::<Result<Vec<_>, CliError>>()?
    };
    for (board, pins) in boards {
        let device = board.target.device.as_ref().map_or("", |d| d.part.as_str());
        println!("{}: {}", board.name, board.description);
        println!(
            "  target {} ({}); {device}, package {}{}",
            board.target.name,
            board.target.description,
            board.package,
            board
                .speed_grade
                .map_or(String::new(), |g| format!(", speed grade {g}"))
        );
        println!(
            "  clock {} MHz on {}; UART {} baud, rx {} tx {}; {}{}; pins in {}",
            board.clock_hz as f64 / 1e6,
            board.pin("clk").unwrap_or("?"),
            board.uart_baud,
            board.pin("uart_rx").unwrap_or("?"),
            board.pin("uart_tx").unwrap_or("?"),
            counted(board.leds, "LED"),
            if board.leds_active_low {
                " (active low)"
            } else {
                ""
            },
            pins
        );
        if let Some(level) = board.reset_button {
            println!(
                "  reset button on {} ({}){}",
                board.pin(RESET_BUTTON_PORT).unwrap_or("?"),
                match level {
                    ButtonLevel::ActiveHigh => "high while pressed",
                    ButtonLevel::ActiveLow => "low while pressed",
                },
                if board.reboot_on_hold {
                    format!(
                        "; held a second, {} on {} reloads the FPGA (its bootloader)",
                        REBOOT_PORT,
                        board.pin(REBOOT_PORT).unwrap_or("?")
                    )
                } else {
                    String::new()
                }
            );
        }
        if let Some(seed) = board.seed {
            println!(
                "  nextpnr seed {seed} for its own core (measured; other cores use seed {})",
                monorail_fpga::bitstream::DEFAULT_SEED
            );
        }
        if let Some(dfu) = board.dfu {
            println!(
                "  DFU bootloader {:04x}:{:04x}: `monorail bitstream` writes top.dfu for dfu-util",
                dfu.vendor, dfu.product
            );
        }
        for (port, high) in &board.held_outputs {
            println!(
                "  {port} on {} held {}",
                board.pin(port).unwrap_or("?"),
                if *high { "high" } else { "low" }
            );
        }
        let packed = monorail_fpga::bitstream::packed_file(board.family);
        if let Some(load) = board.load_command(packed, Some(monorail_fpga::dfu::DFU_FILE)) {
            println!("  load: {load}");
        }
        for overflow in board.target.device_overflows() {
            println!("  no bitstream yet: {overflow}");
        }
        if let Some(note) = &board.no_bitstream_yet {
            println!("  no bitstream yet: {note}");
        }
    }
    Ok(())
}
