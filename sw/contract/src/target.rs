//! Targets as data: a target file (TOML) fixes the core's geometry (lanes, memories, clock) and
//! the budget of the device it is built for.
//!
//! [`RawTarget`] is the file as written; [`Target`] is the validated form with the derived sizes.
//! Validation names the field that is wrong, and checks that the memories fit the device's block
//! RAM by the estimate of [`Target::block_ram_estimate`]. The built-in targets are the files in
//! `targets/` at the repository root, compiled in.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The built-in targets: (name, TOML text).
pub const BUILTIN_TARGETS: [(&str, &str); 3] = [
    ("sim-tiny", include_str!("../../../targets/sim-tiny.toml")),
    ("ulx3s-85f", include_str!("../../../targets/ulx3s-85f.toml")),
    (
        "icebreaker",
        include_str!("../../../targets/icebreaker.toml"),
    ),
];

/// A target file as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Short name (`ulx3s-85f`), used in file and folder names.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Lanes of the matrix unit: int8 MACs per cycle, bytes per matrix-memory word.
    pub lanes: u32,
    /// Lanes of the vector unit and of the vector memory (int32 each).
    pub vector_lanes: u32,
    /// Clock of the core.
    pub clock_hz: u64,
    /// Memory sizes.
    pub memory: RawMemory,
    /// The device's budget, if the target is built for one.
    pub device: Option<RawDevice>,
}

/// The `[memory]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMemory {
    /// Banks of the matrix memory (weights and KV cache).
    pub matrix_tiles: u32,
    /// Words of `lanes` int8 values per bank.
    pub matrix_tile_words: u32,
    /// Words of `vector_lanes` int32 values of the vector memory.
    pub vector_words: u32,
    /// 128-bit words of the program memory.
    pub program_words: u32,
    /// Words of `lanes` int32 values of the wide vector memory (distributed RAM, as wide as the
    /// matrix unit), addressed after the vector memory; 0 for none.
    #[serde(default)]
    pub wide_words: u32,
}

/// The `[device]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    /// FPGA family: `ecp5`, `ice40` or `gowin`.
    pub family: String,
    /// Part number.
    pub part: String,
    /// Number of block RAMs.
    pub block_rams: u32,
    /// Hardware multipliers (18x18 or 16x16).
    pub dsps: u32,
    /// Single-port RAM bits (iCE40 SPRAM), where the matrix memory goes when present.
    pub spram_bits: Option<u64>,
}

/// FPGA families with an open flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Lattice ECP5 (DP16KD, MULT18X18D).
    Ecp5,
    /// Lattice iCE40 (SB_RAM40_4K, SB_MAC16, SB_SPRAM256KA).
    Ice40,
    /// Gowin GW1N / GW2A.
    Gowin,
}

/// The device budget, validated.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Device {
    /// Family.
    pub family: Family,
    /// Part number.
    pub part: String,
    /// Block RAMs available.
    pub block_rams: u32,
    /// Multipliers available.
    pub dsps: u32,
    /// SPRAM bits (iCE40), holding the matrix memory.
    pub spram_bits: Option<u64>,
}

/// A validated target.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Target {
    /// Short name.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Lanes of the matrix unit (a power of two, 4 ..= 256).
    pub lanes: usize,
    /// Lanes of the vector unit (a power of two, at most `lanes`).
    pub vector_lanes: usize,
    /// Core clock.
    pub clock_hz: u64,
    /// Matrix-memory banks.
    pub matrix_tiles: usize,
    /// Words per matrix-memory bank.
    pub matrix_tile_words: usize,
    /// Vector-memory words.
    pub vector_words: usize,
    /// Program-memory words (instructions).
    pub program_words: usize,
    /// Wide vector-memory words (`lanes` int32 each).
    pub wide_words: usize,
    /// Device budget.
    pub device: Option<Device>,
}

/// What is wrong with a target. Each names the field.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TargetError {
    /// Not valid TOML, or fields missing or unknown.
    #[error("{0}")]
    Syntax(String),
    /// A field has an impossible value.
    #[error("`{field}` is {value}: {rule}")]
    Field {
        /// The field, as written in the file (`memory.vector_words`).
        field: &'static str,
        /// The value found.
        value: String,
        /// The rule it breaks.
        rule: String,
    },
    /// No built-in target of that name.
    #[error("no built-in target `{0}` (built in: {list})", list = builtin_names().join(", "))]
    Unknown(String),
}

/// The names of the built-in targets.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN_TARGETS.iter().map(|(n, _)| *n).collect()
}

/// Largest matrix-memory word address the ISA encodes (20 bits).
pub const MAX_MATRIX_WORDS: usize = 1 << 20;
/// Largest vector-memory element address the ISA encodes (16 bits).
pub const MAX_VECTOR_ELEMENTS: usize = 1 << 16;
/// Largest program memory (instructions) a target may declare.
pub const MAX_PROGRAM_WORDS: usize = 1 << 16;

fn field(field: &'static str, value: impl ToString, rule: impl Into<String>) -> TargetError {
    TargetError::Field {
        field,
        value: value.to_string(),
        rule: rule.into(),
    }
}

impl RawTarget {
    /// Parse a target file.
    pub fn parse(text: &str) -> Result<RawTarget, TargetError> {
        toml::from_str(text).map_err(|e| TargetError::Syntax(e.to_string()))
    }

    /// Validate and derive.
    pub fn validate(&self) -> Result<Target, TargetError> {
        let pow2 = |name: &'static str, v: u32, lo: u32, hi: u32| {
            if v.is_power_of_two() && (lo..=hi).contains(&v) {
                Ok(v as usize)
            } else {
                Err(field(
                    name,
                    v,
                    format!("must be a power of two in {lo} ..= {hi}"),
                ))
            }
        };
        let lanes = pow2("lanes", self.lanes, 4, 256)?;
        let vector_lanes = pow2("vector_lanes", self.vector_lanes, 1, self.lanes)?;
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(field(
                "name",
                &self.name,
                "must be letters, digits, '-' or '_'",
            ));
        }
        if self.clock_hz == 0 || self.clock_hz > 1_000_000_000 {
            return Err(field("clock_hz", self.clock_hz, "must be in 1 ..= 1e9"));
        }
        let m = &self.memory;
        let positive = |name: &'static str, v: u32| {
            if v == 0 {
                Err(field(name, v, "must be positive"))
            } else {
                Ok(v as usize)
            }
        };
        let matrix_tiles = positive("memory.matrix_tiles", m.matrix_tiles)?;
        let matrix_tile_words = positive("memory.matrix_tile_words", m.matrix_tile_words)?;
        let vector_words = positive("memory.vector_words", m.vector_words)?;
        let program_words = positive("memory.program_words", m.program_words)?;
        if matrix_tiles * matrix_tile_words > MAX_MATRIX_WORDS {
            return Err(field(
                "memory.matrix_tile_words",
                m.matrix_tile_words,
                format!(
                    "tiles x words must be at most {MAX_MATRIX_WORDS} (the ISA's 20-bit addresses)"
                ),
            ));
        }
        if vector_words * vector_lanes + m.wide_words as usize * lanes > MAX_VECTOR_ELEMENTS {
            return Err(field(
                "memory.vector_words",
                m.vector_words,
                format!(
                    "words x vector_lanes plus wide_words x lanes must be at most {MAX_VECTOR_ELEMENTS} elements (the ISA's 16-bit addresses)"
                ),
            ));
        }
        if program_words > MAX_PROGRAM_WORDS {
            return Err(field(
                "memory.program_words",
                m.program_words,
                format!("must be at most {MAX_PROGRAM_WORDS}"),
            ));
        }
        let device = match &self.device {
            None => None,
            Some(d) => {
                let family = match d.family.as_str() {
                    "ecp5" => Family::Ecp5,
                    "ice40" => Family::Ice40,
                    "gowin" => Family::Gowin,
                    other => {
                        return Err(field(
                            "device.family",
                            other,
                            "must be ecp5, ice40 or gowin",
                        ))
                    }
                };
                Some(Device {
                    family,
                    part: d.part.clone(),
                    block_rams: d.block_rams,
                    dsps: d.dsps,
                    spram_bits: d.spram_bits,
                })
            }
        };
        let target = Target {
            name: self.name.clone(),
            description: self.description.clone(),
            lanes,
            vector_lanes,
            clock_hz: self.clock_hz,
            matrix_tiles,
            matrix_tile_words,
            vector_words,
            program_words,
            wide_words: m.wide_words as usize,
            device,
        };
        target.check_budget()?;
        Ok(target)
    }
}

/// The shapes (width bits, depth) of an 18-Kbit block RAM (ECP5 DP16KD, Gowin BSRAM).
const SHAPES_18K: &[(usize, usize)] = &[
    (36, 512),
    (18, 1024),
    (9, 2048),
    (4, 4096),
    (2, 8192),
    (1, 16384),
];

/// Block RAM shapes (width bits, depth) per family, the configurations yosys maps to.
fn bram_shapes(family: Family) -> &'static [(usize, usize)] {
    match family {
        Family::Ecp5 | Family::Gowin => SHAPES_18K,
        Family::Ice40 => &[(16, 256), (8, 512), (4, 1024), (2, 2048)],
    }
}

/// Block RAMs for a memory of `width` bits by `depth` words: the cheapest shape.
fn brams(family: Family, width: usize, depth: usize) -> usize {
    bram_shapes(family)
        .iter()
        .map(|&(w, d)| width.div_ceil(w) * depth.div_ceil(d))
        .min()
        .expect("every family has shapes")
}

/// Block RAMs taken by the look-up-table ROMs of `numerics::tables` (16-bit entries).
fn table_brams(family: Family) -> usize {
    use crate::numerics::tables;
    [
        tables::RSQRT_ENTRIES,
        tables::RECIP_ENTRIES,
        tables::EXP2_ENTRIES,
        tables::SIGMOID_ENTRIES,
        crate::numerics::SINE_QUARTER_ENTRIES + 1,
    ]
    .iter()
    .map(|&entries| brams(family, 16, entries))
    .sum()
}

/// Where each memory goes and what it costs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BramEstimate {
    /// Matrix memory (0 when it is in SPRAM).
    pub matrix: usize,
    /// Vector memory.
    pub vector: usize,
    /// Program memory.
    pub program: usize,
    /// Look-up tables.
    pub tables: usize,
    /// Whether the matrix memory is in SPRAM.
    pub matrix_in_spram: bool,
}

impl BramEstimate {
    /// All block RAMs.
    pub fn total(&self) -> usize {
        self.matrix + self.vector + self.program + self.tables
    }
}

impl Target {
    /// A built-in target by name.
    pub fn builtin(name: &str) -> Result<Target, TargetError> {
        let (_, text) = BUILTIN_TARGETS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| TargetError::Unknown(name.to_string()))?;
        RawTarget::parse(text)?.validate()
    }

    /// All built-in targets.
    pub fn builtins() -> Vec<Target> {
        builtin_names()
            .into_iter()
            .map(|n| Target::builtin(n).expect("built-in targets are valid"))
            .collect()
    }

    /// Words of the matrix memory.
    pub fn matrix_words(&self) -> usize {
        self.matrix_tiles * self.matrix_tile_words
    }

    /// Bytes of the matrix memory.
    pub fn matrix_bytes(&self) -> usize {
        self.matrix_words() * self.lanes
    }

    /// Elements (int32) of the vector memory (block RAM, `vector_lanes` wide).
    pub fn vector_elements(&self) -> usize {
        self.vector_words * self.vector_lanes
    }

    /// First element address of the wide vector memory (right after the vector memory).
    pub fn wide_start(&self) -> usize {
        self.vector_elements()
    }

    /// Elements (int32) of the wide vector memory (`lanes` wide).
    pub fn wide_elements(&self) -> usize {
        self.wide_words * self.lanes
    }

    /// All addressable vector elements: the vector memory, then the wide one.
    pub fn vector_space(&self) -> usize {
        self.vector_elements() + self.wide_elements()
    }

    /// Whether `range` of element addresses lies in the wide vector memory.
    pub fn in_wide(&self, range: std::ops::Range<usize>) -> bool {
        self.wide_words > 0 && range.start >= self.wide_start() && range.end <= self.vector_space()
    }

    /// Block RAMs the memories need on the target's device (None without a device).
    pub fn block_ram_estimate(&self) -> Option<BramEstimate> {
        let d = self.device.as_ref()?;
        let matrix_bits = (self.matrix_bytes() * 8) as u64;
        let matrix_in_spram = d.spram_bits.is_some_and(|bits| matrix_bits <= bits);
        Some(BramEstimate {
            matrix: if matrix_in_spram {
                0
            } else {
                self.matrix_tiles * brams(d.family, self.lanes * 8, self.matrix_tile_words)
            },
            vector: brams(d.family, self.vector_lanes * 32, self.vector_words),
            program: brams(d.family, 128, self.program_words),
            tables: table_brams(d.family),
            matrix_in_spram,
        })
    }

    fn check_budget(&self) -> Result<(), TargetError> {
        let (Some(d), Some(estimate)) = (&self.device, self.block_ram_estimate()) else {
            return Ok(());
        };
        if estimate.total() > d.block_rams as usize {
            return Err(field(
                "memory",
                "too large for the device",
                format!(
                    "the memories need {} block RAMs (matrix {}, vector {}, program {}, tables {}) \
                     but the {} has {}",
                    estimate.total(),
                    estimate.matrix,
                    estimate.vector,
                    estimate.program,
                    estimate.tables,
                    d.part,
                    d.block_rams
                ),
            ));
        }
        if self.lanes > d.dsps as usize {
            return Err(field(
                "lanes",
                self.lanes,
                format!(
                    "each lane needs a multiplier and the {} has {}",
                    d.part, d.dsps
                ),
            ));
        }
        Ok(())
    }

    /// A short hash of the whole validated target, description and clock included (bundles carry
    /// it, so that a bundle made for another target, or an edited one, is refused). FNV-1a over
    /// the canonical TOML of the validated target.
    pub fn config_hash(&self) -> u64 {
        let text = toml::to_string(self).expect("a target serialises");
        text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_targets_are_valid_and_fit_their_devices() {
        for t in Target::builtins() {
            if let Some(e) = t.block_ram_estimate() {
                assert!(
                    e.total() <= t.device.as_ref().unwrap().block_rams as usize,
                    "{}",
                    t.name
                );
            }
        }
        let ulx3s = Target::builtin("ulx3s-85f").unwrap();
        assert_eq!(ulx3s.lanes, 64);
        assert_eq!(ulx3s.matrix_bytes(), 3 * 2048 * 64);
        let e = ulx3s.block_ram_estimate().unwrap();
        assert_eq!((e.matrix, e.vector, e.program, e.tables), (171, 15, 15, 6));
        let ice = Target::builtin("icebreaker").unwrap();
        assert!(ice.block_ram_estimate().unwrap().matrix_in_spram);
    }

    #[test]
    fn impossible_targets_name_the_field() {
        let base = RawTarget::parse(BUILTIN_TARGETS[1].1).unwrap();
        type Change = Box<dyn Fn(&mut RawTarget)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|t| t.lanes = 48), "`lanes` is 48"),
            (Box::new(|t| t.vector_lanes = 128), "`vector_lanes` is 128"),
            (
                Box::new(|t| t.memory.matrix_tiles = 4),
                "block RAMs (matrix 228",
            ),
            (
                Box::new(|t| t.memory.vector_words = 0),
                "`memory.vector_words` is 0",
            ),
            (
                Box::new(|t| t.device.as_mut().unwrap().family = "xilinx".into()),
                "`device.family`",
            ),
            (
                Box::new(|t| t.device.as_mut().unwrap().dsps = 8),
                "multiplier",
            ),
            (Box::new(|t| t.clock_hz = 0), "`clock_hz`"),
        ];
        for (change, needle) in cases {
            let mut t = base.clone();
            change(&mut t);
            let err = t.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
        let err = RawTarget::parse("name = 3").unwrap_err().to_string();
        assert!(!err.is_empty());
        assert!(Target::builtin("zx81")
            .unwrap_err()
            .to_string()
            .contains("sim-tiny"));
    }

    #[test]
    fn config_hashes_differ_between_targets() {
        let hashes: Vec<u64> = Target::builtins().iter().map(Target::config_hash).collect();
        assert_ne!(hashes[0], hashes[1]);
        assert_ne!(hashes[1], hashes[2]);
        assert_eq!(
            Target::builtin("sim-tiny").unwrap().config_hash(),
            hashes[0]
        );
    }
}
