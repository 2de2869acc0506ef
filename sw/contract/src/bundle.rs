//! The bundle: everything the compiler hands to a machine, as files in one folder.
//!
//! - `manifest.json`: magic, version, target and its config hash, the model's shape, the memory
//!   map, the named checkpoints (where each model step's values can be read, after which
//!   instruction) and the predicted cycles of a token step at every position;
//! - `program.bin`: the instructions, 16 little-endian bytes each;
//! - `matrix_tile_NN.hex`: one `$readmemh` image per matrix-memory bank, one word per line, lane
//!   0 in the lowest byte;
//! - `vector.hex`: the vector memory's initial contents, lane 0 in the lowest 32 bits;
//! - `listing.s`: the program as assembly with cycle stamps and model steps (for people).
//!
//! Simulators read bundles through [`Bundle::read`], never the compiler's internals.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::isa::{decode_program, encode_program, Instr};
use crate::model_config::ModelConfig;
use crate::target::Target;

/// First field of every manifest.
pub const BUNDLE_MAGIC: &str = "monorail-bundle";
/// Version of the bundle format this crate reads and writes.
pub const BUNDLE_VERSION: u32 = 1;

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

/// A named model step's value: readable once instruction `after` has completed.
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
    /// `matrix` (words) or `vector` (elements).
    pub memory: String,
    /// First word or element.
    pub start: u32,
    /// Words or elements.
    pub size: u32,
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
    /// Vector memory's initial contents, one int32 per element (the wide vector memory starts at
    /// zero). // (vector_elements,)
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
    std::fs::read(path).map_err(|source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn tile_file(i: usize) -> String {
    format!("matrix_tile_{i:02}.hex")
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

impl Bundle {
    /// Write the bundle's files into `dir` (created if needed). Files are written to temporary
    /// names and renamed, the manifest last, so a half-written bundle never looks complete.
    pub fn write(&self, dir: &Path, target: &Target) -> Result<(), BundleError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BundleError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let put = |name: &str, bytes: &[u8]| -> Result<(), BundleError> {
            let path = dir.join(name);
            let tmp = dir.join(format!(".{name}.partial"));
            std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &path).map_err(io(&path))
        };
        let _ = std::fs::remove_file(dir.join("manifest.json"));
        let program = encode_program(&self.program)
            .map_err(|(i, e)| invalid(dir, format!("instruction {i}: {e}")))?;
        put("program.bin", &program)?;
        for t in 0..target.matrix_tiles {
            let words = t * target.matrix_tile_words..(t + 1) * target.matrix_tile_words;
            put(
                &tile_file(t),
                matrix_hex(&self.matrix, target.lanes, words).as_bytes(),
            )?;
        }
        let mut vector = String::new();
        for word in self.vector.chunks(target.vector_lanes) {
            for v in word.iter().rev() {
                let _ = write!(vector, "{:08x}", *v as u32);
            }
            vector.push('\n');
        }
        put("vector.hex", vector.as_bytes())?;
        put("listing.s", self.listing.as_bytes())?;
        let manifest = serde_json::to_string_pretty(&self.manifest).expect("manifest serialises");
        put("manifest.json", manifest.as_bytes())
    }

    /// Read and check a bundle for `target`: magic, version, config hash, sizes, and every
    /// address of the memory map and checkpoints inside the target's memories.
    pub fn read(dir: &Path, target: &Target) -> Result<Bundle, BundleError> {
        let manifest_path = dir.join("manifest.json");
        let manifest: Manifest = serde_json::from_slice(&read(&manifest_path)?)
            .map_err(|e| invalid(&manifest_path, format!("not a Monorail manifest: {e}")))?;
        if manifest.magic != BUNDLE_MAGIC {
            return Err(invalid(
                &manifest_path,
                format!("magic is {:?}, not {BUNDLE_MAGIC:?}", manifest.magic),
            ));
        }
        if manifest.version != BUNDLE_VERSION {
            return Err(invalid(
                &manifest_path,
                format!(
                    "bundle version {} is not {BUNDLE_VERSION}: recompile the model",
                    manifest.version
                ),
            ));
        }
        let hash = format!("{:016x}", target.config_hash());
        if manifest.target != target.name || manifest.config_hash != hash {
            return Err(invalid(
                &manifest_path,
                format!(
                    "compiled for target {} (config {}), not {} (config {hash}): recompile for this target",
                    manifest.target, manifest.config_hash, target.name
                ),
            ));
        }
        let program_path = dir.join("program.bin");
        let program = decode_program(&read(&program_path)?)
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
        if program.len() > target.program_words {
            return Err(invalid(
                &program_path,
                format!(
                    "{} instructions exceed the target's {} program words",
                    program.len(),
                    target.program_words
                ),
            ));
        }
        let mut matrix = Vec::with_capacity(target.matrix_bytes());
        for t in 0..target.matrix_tiles {
            let path = dir.join(tile_file(t));
            let text = String::from_utf8(read(&path)?).map_err(|_| invalid(&path, "not text"))?;
            let bytes = parse_hex(&path, &text, target.matrix_tile_words, target.lanes)?;
            matrix.extend(bytes.into_iter().map(|b| b as i8));
        }
        let path = dir.join("vector.hex");
        let text = String::from_utf8(read(&path)?).map_err(|_| invalid(&path, "not text"))?;
        let mut vector = Vec::with_capacity(target.vector_elements());
        let bytes = parse_hex(&path, &text, target.vector_words, 4 * target.vector_lanes)?;
        vector.extend(
            bytes
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes"))),
        );
        for r in &manifest.regions {
            let limit = match r.memory.as_str() {
                "matrix" => target.matrix_words(),
                "vector" => target.vector_space(),
                other => {
                    return Err(invalid(
                        &manifest_path,
                        format!("region {}: unknown memory {other}", r.name),
                    ))
                }
            };
            if r.start as usize + r.size as usize > limit {
                return Err(invalid(
                    &manifest_path,
                    format!("region {} ends past the {} memory", r.name, r.memory),
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
            for p in &c.parts {
                let end = p.vector.map_or(0, |v| v as usize + p.len as usize);
                if end > target.vector_space() || p.register as usize >= crate::isa::REGISTERS {
                    return Err(invalid(
                        &manifest_path,
                        format!("checkpoint {}: a part lies outside the machine", c.step),
                    ));
                }
            }
        }
        if manifest.predicted_cycles.len() != manifest.context {
            return Err(invalid(
                &manifest_path,
                "predicted_cycles does not cover the context",
            ));
        }
        let listing = std::fs::read_to_string(dir.join("listing.s")).unwrap_or_default();
        Ok(Bundle {
            manifest,
            program,
            matrix,
            vector,
            listing,
        })
    }
}
