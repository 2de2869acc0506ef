//! `monorail chat`: token steps on a board, or on its board top in Verilator, over the host
//! link (docs/boards.md): the prompt's tokens, then the board's own.

use std::io::Write;
use std::time::Instant;

use monorail_contract::counted;
use monorail_contract::target::Core;
use monorail_model::tokenizer::BOS;
use monorail_sim::board::BoardSim;
use monorail_sim::link::{load_plan, ByteLink, HostLink, SerialLink};
use monorail_sim::{Machine, MachineError};

use crate::cli::{BoardArgs, ModelArgs, PromptArgs};
use crate::error::{refused, CliError};
use crate::load::{
    compile_for, load_for, positions_to_run, prompt_tokens, warn_where_the_prompt_fills,
};
use crate::machine::ensure_verilator;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("link").required(true).args(["port", "sim"])))]
pub struct Args {
    #[command(flatten)]
    board: BoardArgs,
    /// The board's serial port (/dev/ttyUSB0, /dev/ttyACM0, ...); or --sim.
    #[arg(long)]
    port: Option<String>,
    /// Talk to the simulated board (Verilator) instead of a real one; or --port.
    #[arg(long)]
    sim: bool,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    prompt: PromptArgs,
    /// Positions to run, prompt included (0: as many as the board's cache holds).
    #[arg(long, short = 'n', default_value_t = 0)]
    steps: usize,
    /// Positions served (the KV cache's length) as the bitstream was built; default: the
    /// longest the target holds.
    #[arg(long)]
    context: Option<usize>,
    /// Load the model's weights, vector image and program over the UART first (for a
    /// bitstream built with another model of the same target; always, on a small-core board,
    /// whose memories start empty).
    #[arg(long)]
    load: bool,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let board = args.board.board()?;
    // A board needs a bitstream, which needs a core its FPGA holds; the simulated board top
    // does not.
    if !args.sim {
        monorail_fpga::bitstream::check_fits(&board)
            .map_err(|e| refused(format!("{}: {e}", board.name)))?;
    }
    let loaded = load_for(&args.model, &board.target)?;
    let tokenizer = loaded.tokenizer()?;
    let tokens = prompt_tokens(&args.prompt, &loaded)?;
    let (target, _, compiled) = compile_for(&loaded, board.target.clone(), args.context)?;
    let baud = board.uart_baud;
    let failed = |e: MachineError| CliError::failed(format!("{}: {e}", board.name));
    let images = tempfile::TempDir::new()
        .map_err(|e| CliError::failed(format!("a temporary folder for the images: {e}")))?;
    let link: Box<dyn ByteLink> = if args.sim {
        ensure_verilator()?;
        eprintln!(
            "{}: the board top in Verilator, the UART at {baud} baud (its Verilated model is \
             built on the first run)",
            board.name
        );
        let start = Instant::now();
        let simulated = BoardSim::new(
            &board,
            &compiled.bundle,
            baud,
            &crate::machine::build_root()?,
            images.path(),
        )
        .map_err(failed)?;
        if simulated.built {
            eprintln!(
                "{}: Verilated model built in {:.0} s",
                board.name,
                start.elapsed().as_secs_f64()
            );
        }
        Box::new(simulated)
    } else {
        let port = args.port.as_deref().unwrap_or_default();
        Box::new(SerialLink::open(port, baud, target.clock_hz).map_err(failed)?)
    };
    let mut host = HostLink::new(link, &compiled.bundle);
    host.expect_target(&target).map_err(failed)?;
    // The small core's memories start empty (the iCE40's SPRAMs are not initialised by a
    // bitstream): its model is always loaded.
    if args.load || target.core == Core::Small {
        let plan = load_plan(&compiled.bundle, target.lanes).map_err(failed)?;
        eprintln!(
            "{}: loading {} ({} weight words, {} vector elements, {} instructions: {} KB, about \
             {:.1} s at {baud} baud)",
            board.name,
            loaded.name,
            plan.matrix_words,
            plan.vector_elements,
            plan.instructions,
            plan.bytes / 1024,
            plan.bytes as f64 * 10.0 / f64::from(baud)
        );
        let start = Instant::now();
        host.load(&compiled.bundle, &target).map_err(failed)?;
        eprintln!(
            "{}: loaded in {:.1} s{}",
            board.name,
            start.elapsed().as_secs_f64(),
            if args.sim {
                " of the simulation's wall time"
            } else {
                ""
            }
        );
    }
    let context = compiled.bundle.manifest.context;
    let steps = positions_to_run(args.steps, context, " that the board's cache holds");
    warn_where_the_prompt_fills(tokens.len(), steps, context, "the board generates nothing");
    let predicted = &compiled.bundle.manifest.predicted_cycles;
    let start = Instant::now();
    let (mut token, mut positions, mut off_prediction) = (tokens[0], 0, 0);
    let mut stdout = std::io::stdout().lock();
    let writing = |e: std::io::Error| CliError::failed(format!("writing the text to stdout: {e}"));
    for (pos, &predicted_cycles) in predicted.iter().enumerate().take(steps) {
        let result = host.step(token, pos).map_err(failed)?;
        positions += 1;
        off_prediction += usize::from(result.cycles != predicted_cycles);
        let next = tokens.get(pos + 1).copied().unwrap_or(result.next);
        if next == BOS {
            break;
        }
        stdout
            .write_all(&tokenizer.text_bytes(token, next))
            .and_then(|()| stdout.flush())
            .map_err(writing)?;
        token = next;
    }
    writeln!(stdout).map_err(writing)?;
    let seconds = start.elapsed().as_secs_f64();
    // Simulated, the seconds are Verilator's, not the board's: what the board would take is its
    // cycles at its clock and the STEP commands and replies on the line (less the USB bridge's
    // latency), as `bitstream` projects it.
    let rate = if args.sim {
        let board_seconds: f64 = predicted
            .iter()
            .take(positions)
            .map(|&c| monorail_contract::host::step_seconds(baud, target.clock_hz as f64, c as f64))
            .sum();
        format!(
            "in {seconds:.2} s of simulation, bit by bit, over the simulated UART (on the board, \
             at {} MHz and {baud} baud: {board_seconds:.2} s, {:.1} tokens/s)",
            target.clock_hz as f64 / 1e6,
            positions as f64 / board_seconds
        )
    } else {
        format!(
            "in {seconds:.2} s over the UART ({:.1} tokens/s)",
            positions as f64 / seconds
        )
    };
    eprintln!(
        "{}: {} {rate}; the board's cycles {}",
        board.name,
        counted(positions, "position"),
        if off_prediction == 0 {
            "equal the compiler's prediction at every position".to_string()
        } else {
            format!(
                "differ from the compiler's prediction at {}",
                counted(off_prediction, "position")
            )
        }
    );
    if off_prediction > 0 {
        return Err(CliError::failed(format!(
            "{}: the board's cycle counts differ from the bundle's: is its bitstream built from \
             the same model and context?",
            board.name
        )));
    }
    Ok(())
}
