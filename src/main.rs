//! `monorail`: the command line. Thin by design: it parses flags, calls the workspace crates and
//! reports their errors with context. Exit status 2 means the input was refused (bad file, bad
//! flag), 1 that something else failed.
//!
//! `cli` is the grammar, `load` what every command starts from (a model, a prompt, a target),
//! `machine` the engines that run compiled programs, and `commands/` one module a subcommand.

mod cli;
mod commands;
mod error;
mod load;
mod machine;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use error::CliError;

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Compile(args) => commands::compile::run(args),
        Command::Disasm(args) => commands::disasm::run(args),
        Command::Asm(args) => commands::asm::run(args),
        Command::Gen(args) => commands::gen::run(args),
        Command::Targets => commands::targets::run(),
        Command::Boards(args) => commands::boards::run(args),
        Command::Bitstream(args) => commands::bitstream::run(args),
        Command::Chat(args) => commands::chat::run(args),
        Command::Cosim(args) => commands::cosim::run(args),
        Command::Fidelity(args) => commands::fidelity::run(args),
        Command::Quality(args) => commands::quality::run(args),
        Command::SynthModel(args) => commands::synth_model::run(args),
        Command::Corpus(args) => commands::corpus::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::IsaManual => {
            print!("{}", monorail_contract::isa::manual());
            Ok(())
        }
        Command::Clean(args) => commands::clean::run(args),
        Command::Demo(args) => commands::demo::run(args),
    }
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`monorail compile ... | head`) would
    // panic; end quietly instead, as Unix tools do.
    // SAFETY: setting a signal's disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // `println!` panics when stdout cannot be written (a full disk, `> /dev/full`): say so as
    // an error, exit status 1, instead of a panic's message. Every file a command writes is
    // written whole under a temporary name first, so stopping here leaves none half-written.
    let panic_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        match message.strip_prefix("failed printing to stdout: ") {
            Some(why) => {
                eprintln!("monorail: error: writing to stdout: {why}");
                std::process::exit(1);
            }
            None => panic_hook(info),
        }
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("monorail: error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
