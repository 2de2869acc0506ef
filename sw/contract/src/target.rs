//! Targets as data: a target file (TOML) fixes the core's geometry (lanes, memories, clock) and
//! the budget of the device it is built for.
//!
//! [`RawTarget`] is the file as written; [`Target`] is the validated form with the derived sizes.
//! Validation names the field that is wrong. Whether the core fits the device is a separate
//! question ([`Target::device_overflows`], from the estimate of [`Target::block_ram_estimate`]
//! and [`multipliers`]): a target may describe more than its device holds, and the tools that
//! build for the device refuse it. The built-in targets are the files in `targets/` at the
//! repository root, compiled in.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The built-in targets: (name, TOML text).
pub const BUILTIN_TARGETS: [(&str, &str); 9] = [
    ("sim-tiny", include_str!("../../../targets/sim-tiny.toml")),
    ("ulx3s-85f", include_str!("../../../targets/ulx3s-85f.toml")),
    ("ecp5-85f", include_str!("../../../targets/ecp5-85f.toml")),
    ("ecp5-45f", include_str!("../../../targets/ecp5-45f.toml")),
    ("ecp5-25f", include_str!("../../../targets/ecp5-25f.toml")),
    ("ecp5-12f", include_str!("../../../targets/ecp5-12f.toml")),
    ("gw2a-18", include_str!("../../../targets/gw2a-18.toml")),
    ("gw1n-9", include_str!("../../../targets/gw1n-9.toml")),
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
    /// Scalar registers the core has (32 or 64; default 64, all the ISA's register fields
    /// name). The register file is one distributed-RAM copy per write and read port: 32 halve
    /// it, for the small devices, at the cost of fewer temporaries for the compiler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registers: Option<u32>,
    /// The core: `wide` (default; `hw/`'s lanes and pipelines, instructions overlapped) or
    /// `small` (one instruction at a time by micro-program, for the smallest devices:
    /// `contract::micro`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<String>,
    /// Memory sizes.
    pub memory: RawMemory,
    /// The device's budget, if the target is built for one.
    pub device: Option<RawDevice>,
}

/// Which core executes a target's programs: both run the same ISA and bundles, bit for bit;
/// their timing differs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Core {
    /// `hw/`'s core: `lanes` MACs and `vector_lanes` vector lanes a cycle, the units
    /// overlapped by the static schedule (`timing`).
    #[default]
    Wide,
    /// The micro-programmed core: one instruction at a time, each by its routine of
    /// micro-operations on one 48-bit datapath (`micro`).
    Small,
}

impl Core {
    /// Whether this is the wide core (which a target's serialisation leaves implicit, so that
    /// the wide targets' configuration hashes stay as they were).
    pub fn is_wide(&self) -> bool {
        *self == Core::Wide
    }
}

/// The `[memory]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMemory {
    /// Banks of the matrix memory (weights and KV cache).
    pub matrix_tiles: u32,
    /// Words of `lanes` int8 values per bank.
    pub matrix_tile_words: u32,
    /// Words of `vector_lanes` 18-bit values of the vector memory (block RAM, two read ports).
    pub vector_words: u32,
    /// Words of `vector_lanes` int32 values of the accumulator memory (written by the matrix
    /// unit).
    pub accumulator_words: u32,
    /// Words of `vector_lanes` int32 values of the wide memory (the vector unit's exact results
    /// before normalisation).
    pub wide_words: u32,
    /// Words of `vector_lanes` int8 values of the input memory (the matrix unit's activations,
    /// written by the vector unit).
    pub input_words: u32,
    /// 128-bit words of the program memory.
    pub program_words: u32,
    /// Columns of `dotv`'s partial sums in the matrix unit (a power of two, 8 ..= 256; default
    /// 256): attention's weighted sum of values needs a head's size. 64 and fewer are
    /// distributed RAM on the ECP5 and Gowin, where 256 take a block RAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_sums: Option<u32>,
    /// Where the accumulator, wide and input memories go: `distributed` (LUT RAM, the ECP5's and
    /// Gowin's default) or `block` (block RAM: the iCE40's only choice; on a small ECP5 it gives
    /// the LUTs back to the logic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub small_memories: Option<String>,
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
    /// Logic cells (4-input LUTs).
    pub luts: u32,
    /// Single-port RAM bits (iCE40 SPRAM), where the matrix memory goes when present.
    pub spram_bits: Option<u64>,
}

impl Device {
    /// SPRAMs (iCE40 SB_SPRAM256KA) the device has.
    pub fn sprams(&self) -> usize {
        self.spram_bits.unwrap_or(0) as usize / SPRAM_BITS
    }
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

impl Family {
    /// Every family, in declaration order.
    pub const ALL: [Family; 3] = [Family::Ecp5, Family::Ice40, Family::Gowin];

    /// Whether a flip-flop shares its logic cell only with the LUT that drives it, so that one
    /// loaded from another flip-flop (a pipeline's copy, a register that holds a value) takes a
    /// LUT of its own: the iCE40's and the Gowins' cells. The ECP5's slice loads a flip-flop
    /// from routing as well.
    pub fn flip_flop_takes_a_lut(self) -> bool {
        match self {
            Family::Ecp5 => false,
            Family::Ice40 | Family::Gowin => true,
        }
    }
}

impl std::fmt::Display for Family {
    /// The family as its vendor names it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::Ecp5 => "ECP5",
            Family::Ice40 => "iCE40",
            Family::Gowin => "Gowin",
        })
    }
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
    /// 4-input LUTs available.
    pub luts: u32,
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
    /// Lanes of the vector unit and of every memory of the vector address space (a power of two,
    /// 2 ..= `lanes`).
    pub vector_lanes: usize,
    /// Core clock.
    pub clock_hz: u64,
    /// Scalar registers (32 or 64): register fields name `r0` .. `r{registers - 1}`.
    pub registers: usize,
    /// Matrix-memory banks.
    pub matrix_tiles: usize,
    /// Words per matrix-memory bank.
    pub matrix_tile_words: usize,
    /// Words of each memory of the vector address space, in [`VectorMemory::ALL`] order.
    pub vector_memory_words: [usize; 4],
    /// Program-memory words (instructions).
    pub program_words: usize,
    /// Columns of `dotv`'s partial sums: a `dotv` over more than one block of rows has at most
    /// this many columns.
    pub partial_sums: usize,
    /// Whether each memory of the vector space is block RAM (else distributed RAM), in
    /// [`VectorMemory::ALL`] order: the vector memory always is.
    pub block_ram: [bool; 4],
    /// The core.
    #[serde(skip_serializing_if = "Core::is_wide")]
    pub core: Core,
    /// Device budget.
    pub device: Option<Device>,
}

/// The memories of the vector address space, in address order. Each is `vector_lanes` elements
/// wide; element `e` of the space is lane `e mod vector_lanes` of a word of one of them. Who may
/// read and write each is the ISA's rule ([`crate::isa::Op::check`]): every memory port has one
/// owner, so that no two units ever contend for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorMemory {
    /// 18-bit values in block RAM, two copies (two read ports): mantissas, scales, norm weights.
    /// Read and written by the vector unit.
    Vector,
    /// int32 values: the matrix unit's results. Written by the matrix unit, read (two ports) by
    /// the vector unit.
    Accumulator,
    /// int32 values: the vector unit's exact results before normalisation. Written and read (one
    /// port) by the vector unit.
    Wide,
    /// int8 values: the matrix unit's activations. Written by the vector unit, read by the matrix
    /// unit.
    Input,
}

impl VectorMemory {
    /// All of them, in address order.
    pub const ALL: [VectorMemory; 4] = [
        VectorMemory::Vector,
        VectorMemory::Accumulator,
        VectorMemory::Wide,
        VectorMemory::Input,
    ];

    /// Name, as in the memory map and the target file (`accumulator`).
    pub fn name(self) -> &'static str {
        match self {
            VectorMemory::Vector => "vector",
            VectorMemory::Accumulator => "accumulator",
            VectorMemory::Wide => "wide",
            VectorMemory::Input => "input",
        }
    }

    /// Bits of one element (two's complement).
    pub const fn bits(self) -> u32 {
        match self {
            VectorMemory::Vector => VECTOR_ELEMENT_BITS,
            VectorMemory::Accumulator | VectorMemory::Wide => 32,
            VectorMemory::Input => 8,
        }
    }

    /// Whether `v` fits an element.
    pub fn holds(self, v: i64) -> bool {
        let half = 1i64 << (self.bits() - 1);
        (-half..half).contains(&v)
    }

    /// Whether every one of `values` fits an element, as [`Self::holds`] says of each. Offset by
    /// half the range, a value that fits has no bit at or above the element's width, so one OR
    /// over all the offset values answers for all of them (a loop the compiler vectorises,
    /// where a test of each value would branch).
    pub fn holds_all(self, values: &[i64]) -> bool {
        let bits = self.bits();
        let half = 1i64 << (bits - 1);
        let high = values.iter().fold(0u64, |high, &v| {
            high | (v.wrapping_add(half) as u64 >> bits)
        });
        high == 0
    }

    /// Its index in [`VectorMemory::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Bits of a vector-memory element: 18, the width of a block RAM's half-word and of a DSP
/// multiplier's input, so that every operand read from it goes straight into a multiplier.
pub const VECTOR_ELEMENT_BITS: u32 = 18;

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

/// Whether `name` may name a target or a board (it becomes part of folder names): letters,
/// digits, '-' and '_', at least one.
pub(crate) fn is_short_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The rule [`is_short_name`] checks, for messages.
pub(crate) const SHORT_NAME_RULE: &str = "must be letters, digits, '-' or '_'";

/// The clocks a target may run at, in Hz (a target file's `clock_hz`, a board's `--clock`).
pub const CLOCK_HZ: std::ops::RangeInclusive<u64> = 1..=1_000_000_000;

/// What a clock outside [`CLOCK_HZ`] is told (a target file's `clock_hz`, `Board::at_clock`).
pub(crate) fn clock_hz_rule() -> String {
    format!("must be in {} ..= {} Hz", CLOCK_HZ.start(), CLOCK_HZ.end())
}

/// Largest matrix-memory word address the ISA encodes (20 bits).
pub const MAX_MATRIX_WORDS: usize = 1 << 20;
/// Most lanes a target may have (matrix or vector).
pub const MAX_LANES: usize = 256;
/// Fewest words of a matrix tile (a block RAM's depth is more).
pub const MIN_MATRIX_TILE_WORDS: u32 = 16;
/// Largest vector-memory element address the ISA encodes (16 bits).
pub const MAX_VECTOR_ELEMENTS: usize = 1 << 16;
/// Fewest columns of `dotv`'s partial sums a target may declare: a head of 8 elements, the
/// smallest of the llama2.c shapes (`stories260K`, the built-in models).
pub const MIN_PARTIAL_SUMS: usize = 8;
/// Most columns of `dotv`'s partial sums kept in distributed RAM (2 Kbit) where the family has it.
pub const DISTRIBUTED_PARTIAL_SUMS: usize = 64;
/// Fewest scalar registers a target may declare: the compiler keeps 15 for fixed roles and needs
/// temporaries beyond them.
pub const MIN_REGISTERS: usize = 32;
/// Largest program memory (instructions) a target may declare: a wait counts the completed
/// instructions of one unit in [`crate::isa::WAIT_COUNT_BITS`], and a program of this many words
/// gives a unit at most one fewer (its `end` is the sequencer's), so every wait fits.
pub const MAX_PROGRAM_WORDS: usize = 1 << crate::isa::WAIT_COUNT_BITS;

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
        // An optional power of two whose default is its largest value.
        let pow2_or_most = |name: &'static str, v: Option<u32>, lo: usize, hi: usize| {
            v.map_or(Ok(hi), |v| pow2(name, v, lo as u32, hi as u32))
        };
        let lanes = pow2("lanes", self.lanes, 4, MAX_LANES as u32)?;
        let vector_lanes = pow2("vector_lanes", self.vector_lanes, 2, self.lanes)?;
        if !is_short_name(&self.name) {
            return Err(field("name", &self.name, SHORT_NAME_RULE));
        }
        if !CLOCK_HZ.contains(&self.clock_hz) {
            return Err(field("clock_hz", self.clock_hz, clock_hz_rule()));
        }
        let registers = pow2_or_most(
            "registers",
            self.registers,
            MIN_REGISTERS,
            crate::isa::REGISTERS,
        )?;
        let m = &self.memory;
        let positive = |name: &'static str, v: u32| {
            if v == 0 {
                Err(field(name, v, "must be positive"))
            } else {
                Ok(v as usize)
            }
        };
        let matrix_tiles = positive("memory.matrix_tiles", m.matrix_tiles)?;
        // A matrix address is a tile's number above a word's within the tile (at least one bit
        // of each).
        let matrix_tile_words = pow2(
            "memory.matrix_tile_words",
            m.matrix_tile_words,
            MIN_MATRIX_TILE_WORDS,
            MAX_MATRIX_WORDS as u32 / 2,
        )?;
        let vector_memory_words = [
            positive("memory.vector_words", m.vector_words)?,
            positive("memory.accumulator_words", m.accumulator_words)?,
            positive("memory.wide_words", m.wide_words)?,
            positive("memory.input_words", m.input_words)?,
        ];
        let program_words = positive("memory.program_words", m.program_words)?;
        let partial_sums = pow2_or_most(
            "memory.partial_sums",
            m.partial_sums,
            MIN_PARTIAL_SUMS,
            crate::isa::DOTV_PARTIAL_SUMS,
        )?;
        let matrix_words = matrix_tiles.saturating_mul(matrix_tile_words);
        if matrix_words > MAX_MATRIX_WORDS {
            // Either may be the one to change: both are named.
            return Err(field(
                "memory.matrix_tiles",
                m.matrix_tiles,
                format!(
                    "times `memory.matrix_tile_words` ({}), {} words, more than the \
                     {MAX_MATRIX_WORDS} the ISA's 20-bit addresses reach",
                    m.matrix_tile_words, matrix_words
                ),
            ));
        }
        let vector_space = vector_memory_words.iter().sum::<usize>() * vector_lanes;
        if vector_space > MAX_VECTOR_ELEMENTS {
            // The largest of the four is the one to blame.
            let names = [
                "memory.vector_words",
                "memory.accumulator_words",
                "memory.wide_words",
                "memory.input_words",
            ];
            let largest = (0..names.len())
                .max_by_key(|&i| vector_memory_words[i])
                .unwrap_or(0);
            return Err(field(
                names[largest],
                vector_memory_words[largest],
                format!(
                    "the vector, accumulator, wide and input words together, times vector_lanes, \
                     are {vector_space} elements; they must be at most {MAX_VECTOR_ELEMENTS} (the \
                     ISA's 16-bit addresses)"
                ),
            ));
        }
        if program_words > MAX_PROGRAM_WORDS {
            return Err(field(
                "memory.program_words",
                m.program_words,
                format!(
                    "must be at most {MAX_PROGRAM_WORDS}: a wait counts a unit's instructions \
                     in {} bits",
                    crate::isa::WAIT_COUNT_BITS
                ),
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
                for (name, value) in [
                    ("device.block_rams", d.block_rams),
                    ("device.dsps", d.dsps),
                    ("device.luts", d.luts),
                ] {
                    positive(name, value)?;
                }
                Some(Device {
                    family,
                    part: d.part.clone(),
                    block_rams: d.block_rams,
                    dsps: d.dsps,
                    luts: d.luts,
                    spram_bits: d.spram_bits,
                })
            }
        };
        let family = device.as_ref().map(|d| d.family);
        let small_in_block_ram = match (m.small_memories.as_deref(), family) {
            (None, Some(Family::Ice40)) | (Some("block"), _) => true,
            (None, _) => false,
            (Some("distributed"), Some(Family::Ice40)) => {
                return Err(field(
                    "memory.small_memories",
                    "distributed",
                    "the iCE40 has no distributed RAM: use block",
                ))
            }
            (Some("distributed"), _) => false,
            (Some(other), _) => {
                return Err(field(
                    "memory.small_memories",
                    other,
                    "must be block or distributed",
                ))
            }
        };
        let core = match self.core.as_deref() {
            None | Some("wide") => Core::Wide,
            Some("small") => Core::Small,
            Some(other) => return Err(field("core", other, "must be wide or small")),
        };
        // The vector memory is always block RAM.
        let block_ram = [
            true,
            small_in_block_ram,
            small_in_block_ram,
            small_in_block_ram,
        ];
        let target = Target {
            name: self.name.clone(),
            description: self.description.clone(),
            lanes,
            vector_lanes,
            clock_hz: self.clock_hz,
            registers,
            matrix_tiles,
            matrix_tile_words,
            vector_memory_words,
            program_words,
            partial_sums,
            block_ram,
            core,
            device,
        };
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

/// Block RAMs for a memory of `width` bits by `depth` words: the cheapest shape. The widths of
/// the 18-Kbit families include their parity bits, so a word may straddle slices: this is the
/// count for memories written whole words (the matrix memory, whose cache stores read, modify
/// and write a word) or in lanes that fill whole slices (the vector memory's 18-bit lanes).
fn brams(family: Family, width: usize, depth: usize) -> usize {
    bram_shapes(family)
        .iter()
        .map(|&(w, d)| width.div_ceil(w) * depth.div_ceil(d))
        .min()
        .expect("every family has shapes")
}

/// Block RAMs for a read-only table of `width` bits by `depth` entries read by `readers` ports at
/// once: the 18-Kbit families' block RAMs have two read ports, the iCE40's one.
fn rom_brams(family: Family, width: usize, depth: usize, readers: usize) -> usize {
    let ports = match family {
        Family::Ecp5 | Family::Gowin => 2,
        Family::Ice40 => 1,
    };
    readers.div_ceil(ports) * brams(family, width, depth)
}

/// Where each memory goes and what it costs in block RAMs.
///
/// The matrix memory is written whole words at a time (the cache stores read, modify and write
/// a word), so its words pack into the block RAMs' full width, parity bits included. The vector
/// memory is two copies (two read ports, one shared write port). The accumulator (two copies),
/// wide and input memories are small: distributed RAM where the family has it (ECP5, Gowin)
/// unless the target puts them in block RAM (`small_memories = "block"`), block RAM on the
/// iCE40, which has none. The program memory stores the bits the formats use.
/// The tables are block RAM: each vector lane's (sigmoid, then `2^-u`; 1024 entries of 15 bits,
/// one reader), the sine table of `sincos` (two readers) and the scalar unit's (reciprocal square
/// root, then reciprocal; 512 entries of 16 bits).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BramEstimate {
    /// Matrix memory (0 when it is in SPRAM).
    pub matrix: usize,
    /// Vector memory, both copies.
    pub vector: usize,
    /// Accumulator, wide and input memories (0 where they are distributed RAM).
    pub small: usize,
    /// Program memory.
    pub program: usize,
    /// Look-up tables.
    pub tables: usize,
    /// The matrix unit's partial sums of `dotv`.
    pub partial_sums: usize,
    /// Whether the matrix memory is in SPRAM.
    pub matrix_in_spram: bool,
}

impl BramEstimate {
    /// All block RAMs.
    pub fn total(&self) -> usize {
        self.matrix + self.vector + self.small + self.program + self.tables + self.partial_sums
    }
}

/// Entries of a vector lane's table memory: the sigmoid's 512, then `2^-u`'s 256 (at
/// [`LANE_TABLE_EXP2_OFFSET`]).
pub const LANE_TABLE_ENTRIES: usize = 1024;
/// Where `2^-u`'s table starts in a vector lane's table memory.
pub const LANE_TABLE_EXP2_OFFSET: usize = 512;
/// Entries of the scalar unit's table memory: the reciprocal square root's 256, then the
/// reciprocal's.
pub const SCALAR_TABLE_ENTRIES: usize = 512;

/// Multipliers (18 x 18) of a core: one per matrix lane; two per vector lane (the first
/// product, and silu's and rope's second); four for `sincos`'s phases (two elements, two halves
/// each); three for products of scalars (`muli`, the cache stores' row address, and the
/// sequencer's product for the matrix unit's occupancy).
pub fn multipliers(lanes: usize, vector_lanes: usize) -> usize {
    lanes + 2 * vector_lanes + 4 + 3
}

/// Bits of one iCE40 SPRAM (16K words of 16 bits), and its width.
const SPRAM_BITS: usize = 256 * 1024;
const SPRAM_WIDTH: usize = 16;

/// What the small core ([`Core::Small`]) keeps where, as its design plans it
/// (`docs/small-core.md`): the matrix memory and the vector space (32-bit elements) with the
/// program in SPRAM where the device has it (the iCE40UP5K), else in block RAM; the
/// micro-program and the tables (one ROM) in block RAM; the register file (two copies: two read
/// ports) in distributed RAM where the family has it (ECP5, Gowin), else in block RAM; the
/// multipliers of the lanes' 8 x 8-bit products and of the ALU's 18 x 18-bit one, as the
/// family's blocks hold them (see [`SmallCoreEstimate::multipliers`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SmallCoreEstimate {
    /// Block RAMs of the micro-program and of its dispatch table (each opcode's routine).
    pub micro_program: usize,
    /// Block RAMs of the register file (0 in distributed RAM).
    pub registers: usize,
    /// Block RAMs of the tables.
    pub tables: usize,
    /// The matrix memory: SPRAMs, or block RAMs where the device has no SPRAM.
    pub matrix: usize,
    /// The vector space and the program: SPRAMs, or block RAMs where the device has no SPRAM.
    pub vector: usize,
    /// Whether the matrix memory and the vector space are SPRAM.
    pub in_spram: bool,
    /// Multipliers, as the device's budget counts them: on the iCE40 a 16 x 16 `SB_MAC16` a
    /// lane and three for the ALU's product; on the ECP5 an 18 x 18 `MULT18X18D` each; on the
    /// Gowin an 18 x 18 `MULT18X18` for the ALU's and one for two lanes' (each a `MULT9X9`,
    /// half of one).
    pub multipliers: usize,
}

impl SmallCoreEstimate {
    /// All block RAMs.
    pub fn block_rams(&self) -> usize {
        let memories = if self.in_spram {
            0
        } else {
            self.matrix + self.vector
        };
        self.micro_program + self.registers + self.tables + memories
    }

    /// All SPRAMs.
    pub fn sprams(&self) -> usize {
        if self.in_spram {
            self.matrix + self.vector
        } else {
            0
        }
    }

    /// The block RAMs' parts, named: `micro-program 10, registers 6, tables 10`, and the
    /// memories where they are block RAM.
    fn block_ram_parts(&self) -> String {
        let mut parts = format!(
            "micro-program {}, registers {}, tables {}",
            self.micro_program, self.registers, self.tables
        );
        if !self.in_spram {
            parts += &format!(
                ", matrix memory {}, vector space and program {}",
                self.matrix, self.vector
            );
        }
        parts
    }

    /// The estimate against `device`'s budget: `block RAMs 26 of 30 (micro-program 10, ...),
    /// SPRAMs 4 of 4, multipliers 7 of 8` (SPRAMs only where they are used).
    pub fn against(&self, device: &Device) -> String {
        let sprams = if self.in_spram {
            format!("SPRAMs {} of {}, ", self.sprams(), device.sprams())
        } else {
            String::new()
        };
        format!(
            "block RAMs {} of {} ({}), {sprams}multipliers {} of {}",
            self.block_rams(),
            device.block_rams,
            self.block_ram_parts(),
            self.multipliers,
            device.dsps
        )
    }
}

impl Target {
    /// The small core's needs on this target's device (`None` without a device).
    pub fn small_core_estimate(&self) -> Option<SmallCoreEstimate> {
        use crate::micro::{
            program, Table, DATAPATH_BITS, MICRO_INSTRUCTION_BITS, MICRO_REGISTERS,
        };
        let device = self.device.as_ref()?;
        let family = device.family;
        let elements = self.small_core_vector_elements();
        let in_spram = device.spram_bits.is_some();
        let (matrix, vector) = if in_spram {
            // Elements of 32 bits: two SPRAMs side by side.
            (
                (self.lanes * 8).div_ceil(SPRAM_WIDTH)
                    * (self.matrix_words() * SPRAM_WIDTH).div_ceil(SPRAM_BITS),
                2 * (elements * SPRAM_WIDTH).div_ceil(SPRAM_BITS),
            )
        } else {
            (
                brams(family, self.lanes * 8, self.matrix_words()),
                brams(family, 32, elements),
            )
        };
        let registers = if self.small_core_registers_distributed() {
            0
        } else {
            2 * brams(family, DATAPATH_BITS as usize, MICRO_REGISTERS)
        };
        Some(SmallCoreEstimate {
            micro_program: brams(family, MICRO_INSTRUCTION_BITS as usize, program().rom.len())
                + brams(family, 16, program().entry.len()),
            registers,
            tables: brams(family, 16, Table::rom_entries()),
            matrix,
            vector,
            in_spram,
            multipliers: match family {
                Family::Ice40 => self.lanes + 3,
                Family::Ecp5 => self.lanes + 1,
                Family::Gowin => self.lanes.div_ceil(2) + 1,
            },
        })
    }

    /// Whether the small core's register file is distributed RAM: where the family has it
    /// (ECP5, Gowin), which leaves the block RAMs to the memories.
    pub fn small_core_registers_distributed(&self) -> bool {
        self.device
            .as_ref()
            .is_some_and(|d| d.family != Family::Ice40)
    }

    /// The small core's vector memory in 32-bit elements: the vector space, then the program
    /// ([`crate::micro::INSTRUCTION_ELEMENTS`] an instruction).
    pub fn small_core_vector_elements(&self) -> usize {
        self.vector_space() + crate::micro::INSTRUCTION_ELEMENTS * self.program_words
    }

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

    /// Words of one memory of the vector address space.
    pub fn words_of(&self, memory: VectorMemory) -> usize {
        self.vector_memory_words[memory.index()]
    }

    /// The element addresses of one memory of the vector address space.
    pub fn range_of(&self, memory: VectorMemory) -> std::ops::Range<usize> {
        let before: usize = self.vector_memory_words[..memory.index()].iter().sum();
        let start = before * self.vector_lanes;
        start..start + self.words_of(memory) * self.vector_lanes
    }

    /// Whether `dotv`'s partial sums are block RAM: more than [`DISTRIBUTED_PARTIAL_SUMS`]
    /// columns, or on the iCE40 (no distributed RAM).
    pub fn partial_sums_in_block_ram(&self) -> bool {
        self.partial_sums > DISTRIBUTED_PARTIAL_SUMS
            || self
                .device
                .as_ref()
                .is_some_and(|d| d.family == Family::Ice40)
    }

    /// Whether `memory` is block RAM (else distributed RAM).
    pub fn in_block_ram(&self, memory: VectorMemory) -> bool {
        self.block_ram[memory.index()]
    }

    /// All addressable vector elements: the four memories, one after the other.
    pub fn vector_space(&self) -> usize {
        self.vector_memory_words.iter().sum::<usize>() * self.vector_lanes
    }

    /// The memory holding element `address`.
    pub fn memory_at(&self, address: usize) -> Option<VectorMemory> {
        VectorMemory::ALL
            .into_iter()
            .find(|&m| self.range_of(m).contains(&address))
    }

    /// The memory holding all of `range` (none when it is empty, crosses memories or lies
    /// outside them).
    pub fn memory_of(&self, range: std::ops::Range<usize>) -> Option<VectorMemory> {
        if range.is_empty() {
            return None;
        }
        let m = self.memory_at(range.start)?;
        (range.end <= self.range_of(m).end).then_some(m)
    }

    /// Block RAMs the wide core's memories need on the target's device (None without a device,
    /// or for the small core: [`Target::small_core_estimate`]).
    pub fn block_ram_estimate(&self) -> Option<BramEstimate> {
        if self.core == Core::Small {
            return None;
        }
        let d = self.device.as_ref()?;
        let matrix_bits = (self.matrix_bytes() * 8) as u64;
        let matrix_in_spram = d.spram_bits.is_some_and(|bits| matrix_bits <= bits);
        let v = self.vector_lanes;
        // Accumulator: two copies (two read ports); wide and input: one.
        let small_ram = |memory: VectorMemory, copies: usize| {
            if !self.in_block_ram(memory) {
                return 0;
            }
            let (bits, words) = (memory.bits() as usize, self.words_of(memory));
            copies
                * match d.family {
                    // Memories of at most 512 bits are cheaper as flip-flops.
                    Family::Ice40 if v * bits * words <= 512 => 0,
                    Family::Ice40 => brams(d.family, v * bits, words),
                    // Lanes are written one at a time: each lane's bits fill whole byte-enable
                    // groups of their own (an 8-bit lane takes 9 bits, a 32-bit lane 36).
                    Family::Ecp5 | Family::Gowin => {
                        let lane_bits = if bits <= 9 { 9 } else { bits.div_ceil(18) * 18 };
                        brams(d.family, v * lane_bits, words)
                    }
                }
        };
        let small = small_ram(VectorMemory::Accumulator, 2)
            + small_ram(VectorMemory::Wide, 1)
            + small_ram(VectorMemory::Input, 1);
        Some(BramEstimate {
            matrix: if matrix_in_spram {
                0
            } else {
                self.matrix_tiles * brams(d.family, self.lanes * 8, self.matrix_tile_words)
            },
            vector: 2 * brams(
                d.family,
                v * VECTOR_ELEMENT_BITS as usize,
                self.words_of(VectorMemory::Vector),
            ),
            small,
            program: brams(
                d.family,
                crate::isa::stored_bits() as usize,
                self.program_words,
            ),
            tables: rom_brams(d.family, 15, LANE_TABLE_ENTRIES, v)
                + rom_brams(d.family, 15, crate::numerics::SINE_QUARTER_ENTRIES, 2)
                + rom_brams(d.family, 16, SCALAR_TABLE_ENTRIES, 1),
            partial_sums: if self.partial_sums_in_block_ram() {
                brams(d.family, 32, self.partial_sums)
            } else {
                0
            },
            matrix_in_spram,
        })
    }

    /// What the core needs beyond its device's block RAMs and multipliers, one sentence each
    /// (empty when it fits, or without a device).
    pub fn device_overflows(&self) -> Vec<String> {
        if self.core == Core::Small {
            return self.small_core_overflows();
        }
        let (Some(d), Some(estimate)) = (&self.device, self.block_ram_estimate()) else {
            return Vec::new();
        };
        let mut overflows = Vec::new();
        if estimate.total() > d.block_rams as usize {
            overflows.push(format!(
                "the memories need {} block RAMs (matrix {}, vector {}, accumulator/wide/input \
                 {}, program {}, tables {}, partial sums {}) but the {} has {}",
                estimate.total(),
                estimate.matrix,
                estimate.vector,
                estimate.small,
                estimate.program,
                estimate.tables,
                estimate.partial_sums,
                d.part,
                d.block_rams
            ));
        }
        let needed = multipliers(self.lanes, self.vector_lanes);
        if needed > d.dsps as usize {
            overflows.push(format!(
                "the core needs {needed} multipliers (one per matrix lane, two per vector lane, \
                 seven more) but the {} has {}",
                d.part, d.dsps
            ));
        }
        overflows
    }

    fn small_core_overflows(&self) -> Vec<String> {
        let (Some(d), Some(e)) = (&self.device, self.small_core_estimate()) else {
            return Vec::new();
        };
        let mut overflows = Vec::new();
        if e.block_rams() > d.block_rams as usize {
            overflows.push(format!(
                "the small core needs {} block RAMs ({}) but the {} has {}",
                e.block_rams(),
                e.block_ram_parts(),
                d.part,
                d.block_rams
            ));
        }
        let sprams = d.sprams();
        if e.sprams() > sprams {
            overflows.push(format!(
                "the small core needs {} SPRAMs (matrix memory {}, vector space and program {}) \
                 but the {} has {sprams}",
                e.sprams(),
                e.matrix,
                e.vector,
                d.part
            ));
        }
        if e.multipliers > d.dsps as usize {
            overflows.push(format!(
                "the small core needs {} multipliers (its lanes' products and its ALU's) but \
                 the {} has {}",
                e.multipliers, d.part, d.dsps
            ));
        }
        overflows
    }

    /// A short hash of the whole validated target, description and clock included (bundles carry
    /// it, so that a bundle made for another target, or an edited one, is refused). FNV-1a over
    /// the canonical TOML of the validated target.
    pub fn config_hash(&self) -> u64 {
        crate::fnv1a(
            toml::to_string(self)
                .expect("a target serialises")
                .as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_magnitude_register_holds_the_widest_result() {
        let widest = VectorMemory::ALL.map(VectorMemory::bits).into_iter().max();
        assert_eq!(widest, Some(crate::numerics::MAGNITUDE_BITS));
    }

    #[test]
    fn every_family_is_in_all() {
        // The match stops compiling when a family is added, until it is listed here and in
        // `Family::ALL`.
        for family in [Family::Ecp5, Family::Ice40, Family::Gowin] {
            match family {
                Family::Ecp5 | Family::Ice40 | Family::Gowin => {
                    assert!(Family::ALL.contains(&family))
                }
            }
        }
        assert_eq!(Family::ALL.len(), 3);
    }

    #[test]
    fn builtin_targets_are_valid_and_report_what_their_devices_lack() {
        let ulx3s = Target::builtin("ulx3s-85f").unwrap();
        assert_eq!(ulx3s.device_overflows(), Vec::<String>::new());
        // The iCE40UP5K carries the small core: its block RAMs hold the micro-program and its
        // dispatch table, the register file (two copies of 128 x 48 bits) and the tables;
        // the multipliers are one per lane and three more.
        let ice = Target::builtin("icebreaker").unwrap();
        assert_eq!(ice.core, Core::Small);
        assert_eq!(ice.device_overflows(), Vec::<String>::new());
        let e = ice.small_core_estimate().unwrap();
        // Enough 4-Kbit block RAMs for the micro-program's bits, and for the tables' entries.
        let rom_bits = crate::micro::program().rom.len() * 48;
        assert!(e.micro_program * 4096 >= rom_bits + 256 * 16, "{e:?}");
        assert!(
            e.tables * 256 >= crate::micro::Table::rom_entries(),
            "{e:?}"
        );
        assert_eq!((e.registers, e.multipliers), (2 * 3, 4 + 3));
        assert_eq!((e.matrix, e.vector, e.in_spram), (2, 2, true));
        // The GW1N-9C has no SPRAM: its block RAMs hold the memories too, each at least its
        // bits in 18-Kbit blocks, and the register file is distributed RAM.
        let gowin = Target::builtin("gw1n-9").unwrap();
        assert_eq!(gowin.core, Core::Small);
        assert_eq!(gowin.device_overflows(), Vec::<String>::new());
        let g = gowin.small_core_estimate().unwrap();
        assert!(!g.in_spram && g.sprams() == 0 && g.registers == 0, "{g:?}");
        assert!(g.matrix * 16 * 1024 >= gowin.matrix_bytes() * 8, "{g:?}");
        assert!(
            g.vector * 16 * 1024 >= gowin.small_core_vector_elements() * 32,
            "{g:?}"
        );
        assert_eq!(
            g.block_rams(),
            g.micro_program + g.tables + g.matrix + g.vector
        );
        // An 18 x 18 multiplier for the ALU, and one for each two lanes' 9 x 9 products.
        assert_eq!(g.multipliers, 1 + gowin.lanes / 2);
        // The wide core on its device: 30 block RAMs of 256 x 16 bits are too few for the
        // memories' widths, and its 8 multipliers for 4 + 2 x 2 + 7.
        let wide = Target {
            core: Core::Wide,
            ..ice.clone()
        };
        let overflows = wide.device_overflows();
        assert!(
            overflows.len() == 2
                && overflows[0].contains("but the iCE40UP5K has 30")
                && overflows[1].contains("needs 15 multipliers"),
            "{overflows:?}"
        );
        // The small core with a matrix memory of three SPRAMs' depth.
        let deep = Target {
            matrix_tile_words: 3 * 16384,
            ..ice.clone()
        };
        assert_eq!(
            deep.device_overflows(),
            vec![
                "the small core needs 8 SPRAMs (matrix memory 6, vector space and program 2) \
                 but the iCE40UP5K has 4"
                    .to_string()
            ]
        );
        // The Tang Nano 20K's GW2A-18C: all 46 block RAMs, with dotv's 16 partial sums in
        // distributed RAM (its LUTs only synthesis counts).
        let gowin = Target::builtin("gw2a-18").unwrap();
        assert_eq!(gowin.device_overflows(), Vec::<String>::new());
        assert_eq!((gowin.registers, gowin.partial_sums), (32, 16));
        let e = gowin.block_ram_estimate().unwrap();
        assert_eq!((e.partial_sums, e.total()), (0, 46));
        let mut input_distributed = gowin.clone();
        input_distributed.block_ram[VectorMemory::Input.index()] = false;
        let e = input_distributed.block_ram_estimate().unwrap();
        assert_eq!((e.small, e.total()), (6, 45));
        let mut all_partial_sums = gowin.clone();
        all_partial_sums.partial_sums = 256;
        let overflows = all_partial_sums.device_overflows();
        assert!(
            overflows.len() == 1
                && overflows[0].contains("need 47 block RAMs (matrix 24, vector 8")
                && overflows[0].contains("the GW2A-18C has 46"),
            "{overflows:?}"
        );
        let mut big = ulx3s.clone();
        big.matrix_tiles = 7;
        big.lanes = 128;
        big.vector_lanes = 16;
        let overflows = big.device_overflows();
        assert!(
            overflows[0].contains("block RAMs (matrix 399"),
            "{overflows:?}"
        );
        assert!(
            overflows[1].contains("needs 167 multipliers"),
            "{overflows:?}"
        );
        assert_eq!(ulx3s.lanes, 64);
        assert_eq!(ulx3s.matrix_bytes(), 5 * 1024 * 64);
        let e = ulx3s.block_ram_estimate().unwrap();
        // 512-bit words in 29 slices of 18 bits (1024 deep); 8 lanes of 18 bits, 1024 deep, in
        // 8 slices of 18, twice; 116-bit instructions in 13 slices of 9 (2048 deep); tables: 4
        // for the lanes (two each), one sine, one scalar; the accumulator (two copies), wide and
        // input memories in block RAM (`small_memories = "block"`). 207 of the 85F's 208, as
        // yosys maps them.
        assert_eq!(
            (
                e.matrix,
                e.vector,
                e.small,
                e.program,
                e.tables,
                e.partial_sums
            ),
            (145, 16, 26, 13, 6, 1)
        );
        assert_eq!(multipliers(ulx3s.lanes, ulx3s.vector_lanes), 87);
        // The wide core puts the matrix memory in SPRAM where it fits; the small core has an
        // estimate of its own.
        let ice = Target::builtin("icebreaker").unwrap();
        assert!(ice.block_ram_estimate().is_none());
        let wide = Target {
            core: Core::Wide,
            ..ice
        };
        assert!(wide.block_ram_estimate().unwrap().matrix_in_spram);
    }

    #[test]
    fn the_vector_address_space_is_four_memories_in_order() {
        let t = Target::builtin("sim-tiny").unwrap();
        let mut next = 0;
        for m in VectorMemory::ALL {
            let r = t.range_of(m);
            assert_eq!(r.start, next, "{}", m.name());
            assert_eq!(r.len(), t.words_of(m) * t.vector_lanes);
            assert_eq!(t.memory_at(r.start), Some(m));
            assert_eq!(t.memory_of(r.clone()), Some(m));
            next = r.end;
        }
        assert_eq!(next, t.vector_space());
        assert_eq!(t.memory_at(next), None);
        let acc = t.range_of(VectorMemory::Accumulator);
        assert_eq!(t.memory_of(acc.start - 1..acc.start + 1), None, "crosses");
        assert_eq!(t.memory_of(acc.start..acc.start), None, "empty");
        assert!(VectorMemory::Vector.holds(131_071) && !VectorMemory::Vector.holds(131_072));
        assert!(VectorMemory::Input.holds(-128) && !VectorMemory::Input.holds(128));
        // holds_all agrees with holds on each edge, alone and among values that fit.
        for m in VectorMemory::ALL {
            let half = 1i64 << (m.bits() - 1);
            for v in [
                -half - 1,
                -half,
                -1,
                0,
                half - 1,
                half,
                i64::MIN,
                i64::MAX,
                i64::MIN + half,
                i64::MAX - half,
            ] {
                assert_eq!(m.holds_all(&[v]), m.holds(v), "{} {v}", m.name());
                assert_eq!(
                    m.holds_all(&[0, v, half - 1]),
                    m.holds(v),
                    "{} {v}",
                    m.name()
                );
            }
            assert!(m.holds_all(&[]));
        }
    }

    #[test]
    fn impossible_targets_name_the_field() {
        let base = RawTarget::parse(BUILTIN_TARGETS[1].1).unwrap();
        type Change = Box<dyn Fn(&mut RawTarget)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|t| t.lanes = 48), "`lanes` is 48"),
            (Box::new(|t| t.vector_lanes = 128), "`vector_lanes` is 128"),
            (Box::new(|t| t.vector_lanes = 1), "`vector_lanes` is 1"),
            (
                Box::new(|t| t.memory.input_words = 8000),
                "the ISA's 16-bit addresses",
            ),
            (
                Box::new(|t| t.memory.accumulator_words = 0),
                "`memory.accumulator_words` is 0",
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
                Box::new(|t| t.clock_hz = 0),
                "`clock_hz` is 0: must be in 1 ..= 1000000000 Hz",
            ),
            (
                Box::new(|t| t.memory.matrix_tile_words = 1000),
                "`memory.matrix_tile_words` is 1000: must be a power of two in 16 ..= 524288",
            ),
            (
                Box::new(|t| {
                    if let Some(d) = t.device.as_mut() {
                        d.luts = 0;
                    }
                }),
                "`device.luts` is 0: must be positive",
            ),
            (
                Box::new(|t| t.memory.accumulator_words = 1 << 30),
                "`memory.accumulator_words` is 1073741824: the vector, accumulator",
            ),
            (
                Box::new(|t| t.memory.matrix_tiles = 100_000_000),
                "`memory.matrix_tiles` is 100000000: times `memory.matrix_tile_words`",
            ),
            (
                Box::new(|t| t.memory.program_words = 65536),
                "`memory.program_words` is 65536: must be at most 16384: a wait counts",
            ),
            (Box::new(|t| t.registers = Some(16)), "`registers` is 16"),
            (Box::new(|t| t.registers = Some(48)), "`registers` is 48"),
            (Box::new(|t| t.registers = Some(128)), "`registers` is 128"),
            (
                Box::new(|t| t.memory.partial_sums = Some(512)),
                "`memory.partial_sums` is 512: must be a power of two in 8 ..= 256",
            ),
            (
                Box::new(|t| t.memory.small_memories = Some("ff".into())),
                "`memory.small_memories` is ff: must be block or distributed",
            ),
        ];
        for (change, needle) in cases {
            let mut t = base.clone();
            change(&mut t);
            let err = t.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
        // On the iCE40, whose memories are all block RAM, distributed ones are refused by name.
        let mut ice = RawTarget::parse(include_str!("../../../targets/icebreaker.toml")).unwrap();
        ice.memory.small_memories = Some("distributed".into());
        let err = ice.validate().unwrap_err().to_string();
        assert!(
            err.contains("`memory.small_memories` is distributed: the iCE40 has no"),
            "{err}"
        );
        // Unset, they keep the family's default; the vector memory is block RAM whatever it is.
        let mut raw = RawTarget::parse(BUILTIN_TARGETS[1].1).unwrap();
        raw.memory.small_memories = None;
        let t = raw.validate().unwrap();
        assert_eq!(t.block_ram, [true, false, false, false]);
        assert_eq!(t.registers, 64);
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
