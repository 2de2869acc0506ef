//! `monorail targets`: the built-in targets, the machine each describes, its device's budget and
//! the boards that carry it, so that `--target` can be chosen without reading `targets/`.

use monorail_contract::board::Board;
use monorail_contract::target::{multipliers, Core, Target};

use crate::error::CliError;

pub fn run() -> Result<(), CliError> {
    let boards = Board::builtins();
    for target in Target::builtins() {
        println!("{}: {}", target.name, target.description);
        println!("  {}", machine(&target));
        if let Some(d) = &target.device {
            let needs = match target.core {
                Core::Wide => target.block_ram_estimate().map(|e| {
                    format!(
                        "block RAMs {} of {}, multipliers {} of {}",
                        e.total(),
                        d.block_rams,
                        multipliers(target.lanes, target.vector_lanes),
                        d.dsps
                    )
                }),
                Core::Small => target.small_core_estimate().map(|e| e.against(d)),
            };
            println!(
                "  device {} ({}, {} LUTs){}",
                d.part,
                d.family,
                d.luts,
                needs.map_or(String::new(), |n| format!(": {n}"))
            );
        }
        for overflow in target.device_overflows() {
            println!("  does not fit its device: {overflow}");
        }
        // A board that runs the core at a clock of its own says so.
        let carried: Vec<String> = boards
            .iter()
            .filter(|b| b.named_target.name == target.name)
            .map(|b| {
                if b.target.clock_hz == target.clock_hz {
                    b.name.clone()
                } else {
                    format!("{} (at {} MHz)", b.name, b.target.clock_hz as f64 / 1e6)
                }
            })
            .collect();
        if !carried.is_empty() {
            println!("  boards: {}", carried.join(", "));
        }
    }
    Ok(())
}

/// The machine in a line: its core, lanes, clock and memories.
fn machine(target: &Target) -> String {
    let core = match target.core {
        Core::Wide => format!(
            "wide core: {} lanes, {} vector lanes",
            target.lanes, target.vector_lanes
        ),
        Core::Small => format!(
            "small core: {} lanes, one instruction at a time",
            target.lanes
        ),
    };
    format!(
        "{core}, {} MHz; matrix memory {} tile{} of {} words ({} KiB), vector space {} elements, \
         program {} words",
        target.clock_hz as f64 / 1e6,
        target.matrix_tiles,
        if target.matrix_tiles == 1 { "" } else { "s" },
        target.matrix_tile_words,
        target.matrix_bytes() / 1024,
        target.vector_space(),
        target.program_words
    )
}
