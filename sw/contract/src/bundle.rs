//! The bundle: everything the compiler hands to a machine, as files in one folder.
//!
//! - `manifest.json`: magic, version, target and its config hash, the model's shape, the memory
//!   map, the named checkpoints (where each model step's values can be read, after which
//!   instruction) and the predicted cycles of a token step at every position;
//! - `program.bin`: the instructions, 16 little-endian bytes each, and `program.hex`, the same
//!   as the program memory's `$readmemh` image (one word per line, only the low
//!   [`isa::stored_bits`]: the bits the formats use, rounded up to a hexadecimal digit);
//! - `matrix_tile_NN.hex`: one `$readmemh` image per matrix-memory bank, one word per line, lane
//!   0 in the lowest byte;
//! - `vector.hex`, `accumulator.hex`, `wide.hex`, `input.hex`: the initial contents of the four
//!   memories of the vector address space, one word per line, each lane as wide as the memory's
//!   elements (18, 32, 32 and 8 bits, two's complement), lane 0 in the lowest bits;
//! - `listing.s`: the program as assembly with cycle stamps and model steps (for people: a
//!   bundle runs without it, but one that is there is checked like the other files, so an
//!   edited copy goes elsewhere; `monorail disasm` writes one to edit).
//!
//! The manifest also holds a hash of every other file as it was written (`files`), so that a
//! bundle whose files come from different compiles (a tile copied from another model's bundle,
//! a program assembled anew) is refused, not run with the wrong weights.
//!
//! Simulators read bundles through [`Bundle::read`], never the compiler's internals.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::isa::{self, decode_program, encode_program, FieldKind, Instr};
use crate::model_config::ModelConfig;
use crate::steps::ModelStep;
use crate::target::{Target, VectorMemory};

/// First field of every manifest.
pub const BUNDLE_MAGIC: &str = "monorail-bundle";
/// Version of the bundle format this crate reads and writes.
pub const BUNDLE_VERSION: u32 = 3;

/// Where one part of a checkpoint's value is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointPart {
    /// First vector-memory element (absent for a value held in a register).
    pub vector: Option<u32>,
    /// Number of elements (1 for a register).
    pub len: u32,
    /// The register holding the exponent, or for a register value, the value.
    pub register: u8,
}

/// A named model step's value: the values as they stand after instruction `after`, in program
/// order. On the overlapped hardware they are final once the last writer of each of them (at
/// or before `after`) has completed; later writers depend on those, so they stand until then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSpec {
    /// Model step name (`qkv`, ...).
    pub step: String,
    /// Layer, for layer steps.
    pub layer: Option<usize>,
    /// Index of the instruction after which the value is complete.
    pub after: usize,
    /// The parts, in the order of the golden model's values.
    pub parts: Vec<CheckpointPart>,
}

/// A named region of a memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// What it holds.
    pub name: String,
    /// [`Region::MATRIX`] (words), or a memory of the vector space ([`VectorMemory::name`]:
    /// elements).
    pub memory: String,
    /// First word or element.
    pub start: u32,
    /// Words or elements.
    pub size: u32,
}

/// The stems of the key/value cache's region names, one region for each key/value head
/// (`layer0.key_cache1`: layer 0, key/value head 1), in the order key cache, value cache.
pub const CACHE_REGION_STEMS: [&str; 2] = ["key_cache", "value_cache"];

/// The names of the cache exponents' regions, one for each layer (`layer0.key_exps`): a position
/// has one key exponent and one value exponent for all its key/value heads.
pub const CACHE_EXPONENT_REGION_STEMS: [&str; 2] = ["key_exps", "value_exps"];

impl Region {
    /// [`Region::memory`] of a region of the matrix memory.
    pub const MATRIX: &'static str = "matrix";

    /// Whether it is in the matrix memory (`m` addresses, words), not the vector space (`v`
    /// addresses, elements).
    pub fn is_matrix(&self) -> bool {
        self.memory == Region::MATRIX
    }

    /// Whether it is in the address space of a field of `kind` ([`FieldKind::M`] the matrix
    /// memory's, [`FieldKind::V`] the vector space's).
    fn is_in(&self, kind: FieldKind) -> bool {
        match kind {
            FieldKind::M => self.is_matrix(),
            FieldKind::V => !self.is_matrix(),
            _ => false,
        }
    }

    /// Whether it is part of the key/value cache, which the program writes at a position before
    /// any read of it: a host loading a model over the host link skips these.
    pub fn is_cache(&self) -> bool {
        let last = self.name.rsplit('.').next().unwrap_or("");
        CACHE_EXPONENT_REGION_STEMS.contains(&last)
            || CACHE_REGION_STEMS.iter().any(|stem| {
                last.strip_prefix(stem)
                    .is_some_and(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_digit()))
            })
    }
}

/// What `regions` call `address` of a field of `kind` ([`FieldKind::V`] or [`FieldKind::M`]):
/// `@NAME`, or `@NAME+OFFSET` (elements or words into it), as `monorail asm` reads it
/// ([`named_address`]); `None` where no region holds it.
pub fn address_name(regions: &[Region], kind: FieldKind, address: i64) -> Option<String> {
    let r = regions.iter().find(|r| {
        r.is_in(kind) && (r.start as i64..r.start as i64 + r.size as i64).contains(&address)
    })?;
    Some(match address - r.start as i64 {
        0 => format!("@{}", r.name),
        offset => format!("@{}+{offset}", r.name),
    })
}

/// The address that `@NAME+OFFSET` names in a field of `kind` ([`FieldKind::V`] or
/// [`FieldKind::M`]), by `regions`: the region's start plus the offset, within the region;
/// otherwise what is wrong.
pub fn named_address(
    regions: &[Region],
    kind: FieldKind,
    name: &str,
    offset: i64,
) -> Result<i64, String> {
    let space = |matrix: bool| {
        if matrix {
            "matrix memory (words)"
        } else {
            "vector space (elements)"
        }
    };
    let Some(r) = regions.iter().find(|r| r.name == name) else {
        return Err(format!(
            "no region of the bundle's memory map is named `{name}` (manifest.json's `regions`; \
             `monorail disasm` names each address it can in its comments)"
        ));
    };
    if !r.is_in(kind) {
        return Err(format!(
            "`{name}` is a region of the {}, and this field addresses the {}",
            space(r.is_matrix()),
            space(!r.is_matrix())
        ));
    }
    if !(0..r.size as i64).contains(&offset) {
        return Err(format!(
            "`{name}` holds {} {}: offsets 0 to {}",
            r.size,
            if r.is_matrix() { "words" } else { "elements" },
            r.size as i64 - 1
        ));
    }
    Ok(r.start as i64 + offset)
}

/// The names of `instr`'s vector and matrix addresses that `regions` hold, in field order:
/// `dst=@acc+64 w=@layer0.wqkv+64 x=@xb` (empty where none is held).
pub fn operand_names(instr: &Instr, regions: &[Region]) -> String {
    let spec = instr.op.spec();
    spec.fields
        .iter()
        .zip(instr.op.values())
        .filter_map(|(f, v)| Some(format!("{}={}", f.name, address_name(regions, f.kind, v)?)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`BUNDLE_MAGIC`].
    pub magic: String,
    /// [`BUNDLE_VERSION`].
    pub version: u32,
    /// Target name.
    pub target: String,
    /// [`Target::config_hash`] in hex.
    pub config_hash: String,
    /// The model's shape.
    pub model: ModelConfig,
    /// Positions the bundle serves (the KV cache's length).
    pub context: usize,
    /// Instructions in `program.bin`.
    pub instructions: usize,
    /// Memory map.
    pub regions: Vec<Region>,
    /// Named checkpoints of one token step, in program order.
    pub checkpoints: Vec<CheckpointSpec>,
    /// Cycles of a token step at positions `0 .. context`.
    pub predicted_cycles: Vec<u64>,
    /// Where the program is not the compiler's: the text `monorail asm` assembled it from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assembled_from: Option<AssembledFrom>,
}

/// The program text a bundle's program was assembled from (`monorail asm`), recorded so that a
/// bundle whose program the compiler did not write says so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssembledFrom {
    /// The text's file as given to `monorail asm` (`standard input` for `-`).
    pub source: String,
    /// [`crate::fnv1a`] of the text, in 16 hex digits.
    pub text_fnv1a: String,
}

/// `manifest.json` as written: the manifest, and the hash of each file beside it
/// ([`crate::fnv1a`] in 16 hex digits, by file name), which [`Bundle::read`] checks.
#[derive(Serialize, Deserialize)]
struct ManifestFile {
    #[serde(flatten)]
    manifest: Manifest,
    files: BTreeMap<String, String>,
}

impl ManifestFile {
    /// `dir`'s `manifest.json`, of this bundle format: its magic and version checked.
    fn read(dir: &Path) -> Result<ManifestFile, BundleError> {
        let path = dir.join("manifest.json");
        if !path.exists() {
            return Err(invalid(
                dir,
                "no bundle here (no manifest.json): give the folder that `monorail compile -o` \
                 or `monorail asm -o` wrote",
            ));
        }
        let file: ManifestFile = serde_json::from_slice(&read_at_most(&path, MOST_TEXT_BYTES)?)
            .map_err(|e| invalid(&path, format!("not a Monorail manifest: {e}")))?;
        let manifest = &file.manifest;
        if manifest.magic != BUNDLE_MAGIC {
            return Err(invalid(
                &path,
                format!("magic is {:?}, not {BUNDLE_MAGIC:?}", manifest.magic),
            ));
        }
        if manifest.version != BUNDLE_VERSION {
            return Err(invalid(
                &path,
                format!(
                    "bundle version {} is not {BUNDLE_VERSION}: recompile the model",
                    manifest.version
                ),
            ));
        }
        Ok(file)
    }
}

impl Manifest {
    /// The manifest of the bundle in `dir`, its magic and version checked, to learn which
    /// target the bundle is for before [`Bundle::read`] checks the rest against that target.
    pub fn read(dir: &Path) -> Result<Manifest, BundleError> {
        ManifestFile::read(dir).map(|file| file.manifest)
    }

    /// The names of the files of the bundle in `dir`: those its manifest lists, and the
    /// manifest itself.
    pub fn files(dir: &Path) -> Result<Vec<String>, BundleError> {
        let mut names: Vec<String> = ManifestFile::read(dir)?.files.into_keys().collect();
        names.push("manifest.json".into());
        Ok(names)
    }
}

/// A file's hash as [`ManifestFile::files`] holds it.
fn file_hash(bytes: &[u8]) -> String {
    format!("{:016x}", crate::fnv1a(bytes))
}

/// A bundle in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The manifest.
    pub manifest: Manifest,
    /// The program.
    pub program: Vec<Instr>,
    /// Matrix memory, `lanes` bytes per word. // (matrix_words, lanes)
    pub matrix: Vec<i8>,
    /// The vector address space's initial contents, one value per element, its four memories
    /// one after the other. // (vector_space,)
    pub vector: Vec<i32>,
    /// The listing text.
    pub listing: String,
}

/// What is wrong with a bundle.
#[derive(Debug, Error)]
pub enum BundleError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The bundle is malformed or does not belong to the target.
    #[error("{path}: {what}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

fn invalid(path: &Path, what: impl Into<String>) -> BundleError {
    BundleError::Invalid {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, BundleError> {
    std::fs::read(path).map_err(|source| reading(path, source))
}

/// A bundle's file that cannot be read: a missing one says that the bundle is incomplete.
fn reading(path: &Path, source: std::io::Error) -> BundleError {
    if source.kind() == std::io::ErrorKind::NotFound {
        invalid(
            path,
            "missing: `monorail compile` and `monorail asm` write a bundle's files together, and \
             this one is incomplete; compile it again",
        )
    } else {
        BundleError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The most bytes a bundle's manifest or listing is read from (a listing of the largest program
/// is a few megabytes).
const MOST_TEXT_BYTES: u64 = 64 << 20;

/// Bytes a `$readmemh` image may hold beyond its words' digits and line ends (blank lines).
const HEX_SLACK_BYTES: u64 = 64 << 10;

/// [`read`], refusing before reading a file longer than `limit` bytes, the most such a file of
/// the bundle can be: a damaged or foreign file must not take the memory its length claims.
fn read_at_most(path: &Path, limit: u64) -> Result<Vec<u8>, BundleError> {
    let len = std::fs::metadata(path)
        .map_err(|source| reading(path, source))?
        .len();
    if len > limit {
        return Err(invalid(
            path,
            format!(
                "{len} bytes, more than this file of a bundle can be ({limit} at most): not a \
                 bundle's file, or a damaged one; compile again"
            ),
        ));
    }
    read(path)
}

/// The most bytes a `$readmemh` image of `words` words of `digits` hex digits can be.
fn hex_limit(words: usize, digits: usize) -> u64 {
    words as u64 * (digits as u64 + 2) + HEX_SLACK_BYTES
}

fn tile_file(i: usize) -> String {
    format!("matrix_tile_{i:02}.hex")
}

/// The tile whose image `name` is, if it is one's ([`tile_file`]).
fn tile_number(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("matrix_tile_")?.strip_suffix(".hex")?;
    let t = digits.parse().ok()?;
    (tile_file(t) == name).then_some(t)
}

/// A memory of the core that a `$readmemh` image of the bundle initialises.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryImage {
    /// The image's file name (`program.hex`, `matrix_tile_00.hex`, `vector.hex`, ...).
    pub file: String,
    /// Bits of a word: the memory's width, a whole number of hexadecimal digits.
    pub width_bits: usize,
    /// Words: the memory's depth (an image may hold fewer; the rest starts as zeros).
    pub depth_words: usize,
    /// Whether the core keeps it in block RAM, whose contents a bitstream holds apart from the
    /// logic (else in distributed RAM, or SPRAM, which a bitstream cannot initialise).
    pub block_ram: bool,
}

/// The memories a bundle initialises on `target`'s core, with the geometry the core declares
/// them with: what a bitstream's block RAMs hold of a model. None on the small core, whose
/// memories start empty: the host link loads its model (`docs/small-core.md`).
pub fn memory_images(target: &Target) -> Vec<MemoryImage> {
    if target.core == crate::target::Core::Small {
        return Vec::new();
    }
    let matrix_in_spram = target
        .block_ram_estimate()
        .is_some_and(|e| e.matrix_in_spram);
    let mut images = vec![MemoryImage {
        file: "program.hex".into(),
        width_bits: isa::stored_bits() as usize,
        depth_words: target.program_words,
        block_ram: true,
    }];
    images.extend((0..target.matrix_tiles).map(|t| MemoryImage {
        file: tile_file(t),
        width_bits: target.lanes * 8,
        depth_words: target.matrix_tile_words,
        block_ram: !matrix_in_spram,
    }));
    images.extend(VectorMemory::ALL.map(|m| MemoryImage {
        file: vector_file(m),
        width_bits: target.vector_lanes * m.bits() as usize,
        depth_words: target.words_of(m),
        block_ram: target.in_block_ram(m),
    }));
    images
}

/// Parse `$readmemh` text of `words` words of `bytes` bytes each (lowest byte last on the line),
/// returning the bytes in memory order (lowest first), `words * bytes` of them.
fn parse_hex(path: &Path, text: &str, words: usize, bytes: usize) -> Result<Vec<u8>, BundleError> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != words {
        return Err(invalid(
            path,
            format!("has {} words, expected {words}", lines.len()),
        ));
    }
    let mut out = Vec::with_capacity(words * bytes);
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim().as_bytes();
        if line.len() != 2 * bytes {
            return Err(invalid(
                path,
                format!("line {}: expected {} hex digits", i + 1, 2 * bytes),
            ));
        }
        for pair in line.rchunks(2) {
            let text = std::str::from_utf8(pair).unwrap_or("");
            let byte = u8::from_str_radix(text, 16)
                .map_err(|_| invalid(path, format!("line {}: not hexadecimal", i + 1)))?;
            out.push(byte);
        }
    }
    Ok(out)
}

/// Hex text of the matrix memory, one word of `lanes` bytes per line (lane 0 lowest), for the
/// words `range`.
fn matrix_hex(matrix: &[i8], lanes: usize, range: std::ops::Range<usize>) -> String {
    let mut out = String::with_capacity(range.len() * (2 * lanes + 1));
    for w in range {
        for lane in (0..lanes).rev() {
            let _ = write!(out, "{:02x}", matrix[w * lanes + lane] as u8);
        }
        out.push('\n');
    }
    out
}

/// The image file of a memory of the vector space.
pub fn vector_file(memory: VectorMemory) -> String {
    format!("{}.hex", memory.name())
}

/// Hex digits of a line of [`lanes_hex`]: a word of `lanes` elements of `bits` bits.
fn lanes_hex_digits(lanes: usize, bits: u32) -> usize {
    (lanes * bits as usize).div_ceil(4)
}

/// `program.hex` of the encoded program `program` (`program.bin`'s bytes): a line of each
/// instruction's stored bits.
fn program_hex_text(program: &[u8]) -> String {
    let digits = program_hex_digits();
    let mut hex = String::with_capacity(program.len() / isa::INSTRUCTION_BYTES * (digits + 1));
    for word in program.chunks_exact(isa::INSTRUCTION_BYTES) {
        let value = u128::from_le_bytes(word.try_into().expect("chunks_exact"));
        let _ = writeln!(hex, "{value:0digits$x}");
    }
    hex
}

/// Hex digits of a line of `program.hex`: an instruction's stored bits.
fn program_hex_digits() -> usize {
    (isa::stored_bits() as usize).div_ceil(4)
}

/// Hex text of words of `lanes` elements of `bits` bits each (two's complement), one word per
/// line, lane 0 in the lowest bits: what `$readmemh` reads into a `lanes * bits`-bit memory.
pub fn lanes_hex(values: &[i32], lanes: usize, bits: u32) -> String {
    let digits = lanes_hex_digits(lanes, bits);
    let mut out = String::with_capacity(values.len() / lanes * (digits + 1));
    let mask = if bits == 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    };
    for word in values.chunks(lanes) {
        // Little-endian nibbles of the word's bit string.
        let mut nibbles = vec![0u8; digits];
        for (lane, &v) in word.iter().enumerate() {
            let v = v as u32 & mask;
            for b in 0..bits as usize {
                if v >> b & 1 == 1 {
                    let at = lane * bits as usize + b;
                    nibbles[at / 4] |= 1 << (at % 4);
                }
            }
        }
        for &n in nibbles.iter().rev() {
            out.push(char::from_digit(n as u32, 16).expect("a nibble"));
        }
        out.push('\n');
    }
    out
}

/// Parse [`lanes_hex`] text of `words` words back into sign-extended values.
fn parse_lanes_hex(
    path: &Path,
    text: &str,
    words: usize,
    lanes: usize,
    bits: u32,
) -> Result<Vec<i32>, BundleError> {
    let digits = lanes_hex_digits(lanes, bits);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != words {
        return Err(invalid(
            path,
            format!("has {} words, expected {words}", lines.len()),
        ));
    }
    let mut out = Vec::with_capacity(words * lanes);
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        if line.len() != digits {
            return Err(invalid(
                path,
                format!("line {}: expected {digits} hex digits", i + 1),
            ));
        }
        let nibbles = line
            .chars()
            .rev()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| invalid(path, format!("line {}: not hexadecimal", i + 1)))?;
        for lane in 0..lanes {
            let mut v: u32 = 0;
            for b in 0..bits as usize {
                let at = lane * bits as usize + b;
                v |= (((nibbles[at / 4] >> (at % 4)) & 1) as u32) << b;
            }
            // Sign-extend from `bits`.
            let shift = 32 - bits;
            out.push(((v << shift) as i32) >> shift);
        }
    }
    Ok(out)
}

impl Bundle {
    /// Write the bundle's files into `dir` (created if needed). Files are written to temporary
    /// names and renamed, the manifest last, so a half-written bundle never looks complete.
    pub fn write(&self, dir: &Path, target: &Target) -> Result<(), BundleError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BundleError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let files = std::cell::RefCell::new(BTreeMap::new());
        let put = |name: &str, bytes: &[u8]| -> Result<(), BundleError> {
            files
                .borrow_mut()
                .insert(name.to_string(), file_hash(bytes));
            let path = dir.join(name);
            let tmp = dir.join(format!(".{name}.partial"));
            std::fs::write(&tmp, bytes)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    io(&path)(e)
                })
        };
        let _ = std::fs::remove_file(dir.join("manifest.json"));
        let program = encode_program(&self.program)
            .map_err(|(i, e)| invalid(dir, format!("instruction {i}: {e}")))?;
        put("program.bin", &program)?;
        put("program.hex", program_hex_text(&program).as_bytes())?;
        for t in 0..target.matrix_tiles {
            let words = t * target.matrix_tile_words..(t + 1) * target.matrix_tile_words;
            put(
                &tile_file(t),
                matrix_hex(&self.matrix, target.lanes, words).as_bytes(),
            )?;
        }
        for m in VectorMemory::ALL {
            let text = lanes_hex(
                &self.vector[target.range_of(m)],
                target.vector_lanes,
                m.bits(),
            );
            put(&vector_file(m), text.as_bytes())?;
        }
        put("listing.s", self.listing.as_bytes())?;
        // A bundle of more tiles written here before leaves no tile of its own behind.
        let entries = std::fs::read_dir(dir).map_err(io(dir))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if tile_number(&name).is_some_and(|t| t >= target.matrix_tiles) {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        let manifest = ManifestFile {
            manifest: self.manifest.clone(),
            files: files.take(),
        };
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        put("manifest.json", text.as_bytes())
    }

    /// Read and check a bundle for `target`: magic, version, config hash, the model's config
    /// and the context, sizes, the program (decoded, with an `end`), each file against its hash,
    /// every address of the memory map and checkpoints inside the target's memories, each
    /// checkpoint's step and layer, the logits' one checkpoint as the host reads it, and the
    /// predicted cycles against the timing rules.
    pub fn read(dir: &Path, target: &Target) -> Result<Bundle, BundleError> {
        let manifest_path = dir.join("manifest.json");
        let ManifestFile { manifest, files } = ManifestFile::read(dir)?;
        // Each file read is the one the manifest was written with (checked after its own
        // checks, which say more about a damaged file than a hash can).
        let written_with = |path: &Path, bytes: &[u8]| -> Result<(), BundleError> {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let hash = file_hash(bytes);
            match files.get(name.as_ref()) {
                Some(h) if *h == hash => Ok(()),
                Some(h) => Err(invalid(
                    path,
                    format!(
                        "not the file this bundle's manifest was written with (hash {hash}, the \
                         manifest's {h}): the bundle's files come from different compiles; \
                         compile again"
                    ),
                )),
                None => Err(invalid(path, "the manifest lists no such file")),
            }
        };
        let hash = format!("{:016x}", target.config_hash());
        if manifest.target != target.name {
            return Err(invalid(
                &manifest_path,
                format!(
                    "compiled for target {} (config {}), not {} (config {hash}): recompile for this target",
                    manifest.target, manifest.config_hash, target.name
                ),
            ));
        }
        if manifest.config_hash != hash {
            return Err(invalid(
                &manifest_path,
                format!(
                    "compiled for another definition of target {} (config {}, where the target's \
                     is {hash}): the target changed since, or the manifest was edited; recompile",
                    target.name, manifest.config_hash
                ),
            ));
        }
        // The model and the context, which the machines take as given.
        manifest
            .model
            .validate()
            .map_err(|e| invalid(&manifest_path, format!("model: {e}")))?;
        if !(1..=manifest.model.seq_len).contains(&manifest.context) {
            return Err(invalid(
                &manifest_path,
                format!(
                    "context {} is outside 1 ..= the model's seq_len ({}): the manifest was \
                     edited; compile again",
                    manifest.context, manifest.model.seq_len
                ),
            ));
        }
        let program_path = dir.join("program.bin");
        // Its length first: a program longer than the target's program memory is not read.
        let program_limit = (target.program_words * isa::INSTRUCTION_BYTES) as u64;
        if let Ok(meta) = std::fs::metadata(&program_path) {
            if meta.len() > program_limit {
                return Err(invalid(
                    &program_path,
                    format!(
                        "{} bytes: {} instructions exceed the target's {} program words",
                        meta.len(),
                        meta.len() / isa::INSTRUCTION_BYTES as u64,
                        target.program_words
                    ),
                ));
            }
        }
        let program_bytes = read(&program_path)?;
        if program_bytes.len() % isa::INSTRUCTION_BYTES != 0 {
            return Err(invalid(
                &program_path,
                format!(
                    "{} bytes, not a whole number of {}-byte instructions: cut short? compile \
                     again",
                    program_bytes.len(),
                    isa::INSTRUCTION_BYTES
                ),
            ));
        }
        let program = decode_program(&program_bytes)
            .map_err(|(i, e)| invalid(&program_path, format!("instruction {i}: {e}")))?;
        if program.len() != manifest.instructions {
            return Err(invalid(
                &program_path,
                format!(
                    "holds {} instructions, the manifest says {}",
                    program.len(),
                    manifest.instructions
                ),
            ));
        }
        if !program.iter().any(|i| matches!(i.op, isa::Op::End { .. })) {
            return Err(invalid(
                &program_path,
                "has no `end`, so a token step would run to the step limit: compile or assemble \
                 again",
            ));
        }
        for (i, instr) in program.iter().enumerate() {
            instr
                .op
                .check_registers(target)
                .map_err(|e| invalid(&program_path, format!("instruction {i}: {e}")))?;
        }
        written_with(&program_path, &program_bytes)?;
        // The program memory's image, which the RTL loads, is the same program's.
        let program_hex = dir.join("program.hex");
        let hex = read_at_most(
            &program_hex,
            hex_limit(target.program_words, program_hex_digits()),
        )?;
        written_with(&program_hex, &hex)?;
        let expected = program_hex_text(&program_bytes);
        if hex != expected.as_bytes() {
            let differs = expected
                .lines()
                .zip(hex.split(|&b| b == b'\n'))
                .position(|(want, have)| want.as_bytes() != have);
            let what = match differs {
                Some(line) => format!("line {}: not program.bin's instruction {line}", line + 1),
                None if hex.len() < expected.len() => {
                    "ends early, or without its last newline".to_string()
                }
                None => format!(
                    "has lines past program.bin's {} instructions",
                    program.len()
                ),
            };
            return Err(invalid(
                &program_hex,
                format!("{what}: the two images of the program differ; compile again"),
            ));
        }
        let mut matrix = Vec::with_capacity(target.matrix_bytes());
        for t in 0..target.matrix_tiles {
            let path = dir.join(tile_file(t));
            let limit = hex_limit(target.matrix_tile_words, 2 * target.lanes);
            let text = String::from_utf8(read_at_most(&path, limit)?)
                .map_err(|_| invalid(&path, "not text"))?;
            let bytes = parse_hex(&path, &text, target.matrix_tile_words, target.lanes)?;
            written_with(&path, text.as_bytes())?;
            matrix.extend(bytes.into_iter().map(|b| b as i8));
        }
        let mut vector = Vec::with_capacity(target.vector_space());
        for m in VectorMemory::ALL {
            let path = dir.join(vector_file(m));
            let limit = hex_limit(
                target.words_of(m),
                lanes_hex_digits(target.vector_lanes, m.bits()),
            );
            let text = String::from_utf8(read_at_most(&path, limit)?)
                .map_err(|_| invalid(&path, "not text"))?;
            vector.extend(parse_lanes_hex(
                &path,
                &text,
                target.words_of(m),
                target.vector_lanes,
                m.bits(),
            )?);
            written_with(&path, text.as_bytes())?;
        }
        for r in &manifest.regions {
            let limit = match r.memory.as_str() {
                Region::MATRIX => 0..target.matrix_words(),
                name => match VectorMemory::ALL.into_iter().find(|m| m.name() == name) {
                    Some(m) => target.range_of(m),
                    None => {
                        return Err(invalid(
                            &manifest_path,
                            format!("region {}: unknown memory {name}", r.name),
                        ))
                    }
                },
            };
            if (r.start as usize) < limit.start || r.start as usize + r.size as usize > limit.end {
                return Err(invalid(
                    &manifest_path,
                    format!("region {} lies outside the {} memory", r.name, r.memory),
                ));
            }
        }
        for c in &manifest.checkpoints {
            if c.after >= program.len() {
                return Err(invalid(
                    &manifest_path,
                    format!(
                        "checkpoint {} after instruction {} past the program",
                        c.step, c.after
                    ),
                ));
            }
            let step = ModelStep::from_name(&c.step).ok_or_else(|| {
                invalid(
                    &manifest_path,
                    format!("checkpoint {}: no such model step", c.step),
                )
            })?;
            let layer_is_the_steps = match (step.per_layer(), c.layer) {
                (true, Some(layer)) => layer < manifest.model.n_layers,
                (per_layer, layer) => !per_layer && layer.is_none(),
            };
            if !layer_is_the_steps {
                return Err(invalid(
                    &manifest_path,
                    format!(
                        "checkpoint {}: {} is not one of the step's (the model has {} layers, \
                         and only the layers' steps name one)",
                        c.step,
                        c.layer
                            .map_or("no layer".to_string(), |l| format!("layer {l}")),
                        manifest.model.n_layers
                    ),
                ));
            }
            for p in &c.parts {
                let end = p.vector.map_or(0, |v| v as usize + p.len as usize);
                if end > target.vector_space() || p.register as usize >= target.registers {
                    return Err(invalid(
                        &manifest_path,
                        format!("checkpoint {}: a part lies outside the machine", c.step),
                    ));
                }
            }
            // The logits, which the host reads to sample: the vocabulary's mantissas, with
            // their exponents.
            let logits: usize = c.parts.iter().map(|p| p.len as usize).sum();
            let in_a_register = c.parts.iter().any(|p| p.vector.is_none());
            let exponents = c.parts.iter().filter(|p| p.register != c.parts[0].register);
            if step == ModelStep::Classifier
                && (in_a_register || logits != manifest.model.vocab_size || exponents.count() > 0)
            {
                return Err(invalid(
                    &manifest_path,
                    format!(
                        "checkpoint classifier: the host reads the vocabulary's {} logits from \
                         vector memory, with one exponent, where its parts hold {logits} \
                         values{}",
                        manifest.model.vocab_size,
                        if in_a_register {
                            ", one of them in a register"
                        } else if logits == manifest.model.vocab_size {
                            ", their exponents in more than one register"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        // The logits, once: the host samples from them.
        let classifiers = manifest
            .checkpoints
            .iter()
            .filter(|c| c.step == ModelStep::Classifier.name())
            .count();
        if classifiers != 1 {
            return Err(invalid(
                &manifest_path,
                format!(
                    "{classifiers} classifier checkpoints, where the host reads the logits from \
                     one"
                ),
            ));
        }
        if manifest.predicted_cycles.len() != manifest.context {
            return Err(invalid(
                &manifest_path,
                "predicted_cycles does not cover the context",
            ));
        }
        // The predictions are the program's, by the timing rules the machines count with.
        for (pos, &predicted) in manifest.predicted_cycles.iter().enumerate() {
            let cycles = crate::timing::token_cycles(&program, target, pos).map_err(|d| {
                invalid(
                    &program_path,
                    format!("instruction {} at position {pos}: {}", d.index, d.message),
                )
            })?;
            if cycles != predicted {
                return Err(invalid(
                    &manifest_path,
                    format!(
                        "predicts {predicted} cycles at position {pos}, and the program takes \
                         {cycles} by the timing rules: the manifest or the program was edited by hand (`monorail \
                         asm` predicts an edited program's cycles); compile or assemble again"
                    ),
                ));
            }
        }
        // The listing is for people, and a bundle runs without it; one that is there is the
        // program's, like every other file.
        let listing_path = dir.join("listing.s");
        let listing = match read_at_most(&listing_path, MOST_TEXT_BYTES) {
            Ok(bytes) => {
                written_with(&listing_path, &bytes)?;
                String::from_utf8(bytes).map_err(|_| invalid(&listing_path, "not text"))?
            }
            Err(_) if !listing_path.exists() => String::new(),
            Err(e) => return Err(e),
        };
        Ok(Bundle {
            manifest,
            program,
            matrix,
            vector,
            listing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_regions_are_named_by_their_stems() {
        let region = |name: &str| Region {
            name: name.into(),
            memory: Region::MATRIX.into(),
            start: 0,
            size: 1,
        };
        for cache in [
            "layer0.key_cache1",
            "layer4.value_cache0",
            "layer2.key_exps",
            "layer3.value_exps",
        ] {
            assert!(region(cache).is_cache(), "{cache}");
        }
        for weights in [
            "layer0.wqkv",
            "token_embedding",
            "layer1.key_cache",
            "a.key_cachex",
            "layer2.key_exps3",
            "layer2.key_expsx",
        ] {
            assert!(!region(weights).is_cache(), "{weights}");
        }
    }

    #[test]
    fn every_targets_memory_images_are_whole_hex_digits_wide() {
        for name in crate::target::builtin_names() {
            let target = Target::builtin(name).unwrap();
            let images = memory_images(&target);
            if target.core == crate::target::Core::Small {
                assert!(images.is_empty(), "{name}");
                continue;
            }
            assert_eq!(images.len(), 1 + target.matrix_tiles + 4, "{name}");
            for image in &images {
                assert!(
                    image.width_bits % 4 == 0 && image.width_bits > 0 && image.depth_words > 0,
                    "{name}: {image:?}"
                );
            }
            let program = &images[0];
            assert_eq!(program.width_bits % 4, 0);
            assert!(program.width_bits as u32 >= isa::encoded_bits());
        }
    }

    #[test]
    fn lane_images_round_trip_at_every_width() {
        for (bits, lanes) in [(18, 4), (18, 16), (32, 2), (8, 16)] {
            let half = 1i64 << (bits - 1);
            let values: Vec<i32> = (0..lanes * 3)
                .map(|i| match i % 4 {
                    0 => -half as i32,
                    1 => (half - 1) as i32,
                    2 => -1,
                    _ => i as i32,
                })
                .collect();
            let text = lanes_hex(&values, lanes, bits);
            let back = parse_lanes_hex(Path::new("t.hex"), &text, 3, lanes, bits).unwrap();
            assert_eq!(back, values, "{bits} bits x {lanes}");
        }
        // Lane 0 in the lowest bits: 18-bit lanes 1 and -1 (0x3ffff) side by side.
        assert_eq!(lanes_hex(&[1, -1], 2, 18), "ffffc0001\n");
    }
}
