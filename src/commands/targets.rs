//! `monorail targets`: the built-in targets, the machine each describes, its device's budget and
//! the boards that carry it, so that `--target` can be chosen without reading `targets/`.

use monorail_contract::board::Board;
use monorail_contract::counted;
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
        } else if let Some(instead) = carried_instead(&target, &boards) {
            println!("  boards: none; {instead}");
        }
    }
    Ok(())
}

/// What the built-in boards with `target`'s FPGA carry instead of it (`the LFE5U-85F boards
/// ulx3s-85f and orangecrab-85f carry ecp5-85f`), where there are such boards.
pub(crate) fn carried_instead(target: &Target, boards: &[Board]) -> Option<String> {
    let device = target.device.as_ref()?;
    // The targets the boards with this FPGA carry: (target, boards).
    let mut instead: Vec<(&str, Vec<&str>)> = Vec::new();
    for board in boards {
        if board.target.device.as_ref().map(|d| &d.part) != Some(&device.part) {
            continue;
        }
        let carried = &board.named_target.name;
        match instead.iter_mut().find(|(t, _)| *t == carried) {
            Some((_, names)) => names.push(&board.name),
            None => instead.push((carried, vec![&board.name])),
        }
    }
    if instead.is_empty() {
        return None;
    }
    let instead: Vec<String> = instead
        .iter()
        .map(|(t, names)| format!("{} carry {t}", names.join(" and ")))
        .collect();
    Some(format!("the {} boards {}", device.part, instead.join(", ")))
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
        "{core}, {} MHz; matrix memory {} of {} words ({} KB), vector space {} elements, \
         program {} words",
        target.clock_hz as f64 / 1e6,
        counted(target.matrix_tiles, "tile"),
        target.matrix_tile_words,
        target.matrix_bytes() / 1024,
        target.vector_space(),
        target.program_words
    )
}
