//! llama2.c checkpoints: the legacy float format (v0), `ak42` float (v1) and `ak42` Q8_0 (v2).
//!
//! Every loader reads the header first, validates it, computes the exact file size the header
//! promises and compares it with the file's length before allocating anything for the weights.
//! Quantised (v2) files are dequantised to float on load (`q * group scale`, as llama2.c's
//! `runq.c`): Monorail re-quantises every model with its own per-row scheme (`docs/numerics.md`).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use monorail_contract::model_config::{ModelConfig, RawModelConfig};
use monorail_contract::numerics::ROPE_THETA;

use crate::error::ModelError;

/// `ak42` in little-endian: the magic of the v1 and v2 formats.
pub const AK42_MAGIC: u32 = 0x616b_3432;
/// Size of the v1/v2 header.
pub const AK42_HEADER_BYTES: usize = 256;
/// Size of the legacy header (7 x i32).
pub const LEGACY_HEADER_BYTES: usize = 28;

/// The on-disk format a checkpoint was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// Legacy float32 (what llama2.c's `run.c` reads).
    LegacyV0,
    /// `ak42` version 1, float32.
    V1,
    /// `ak42` version 2, Q8_0 with the given group size.
    V2Q80 {
        /// Quantisation group size.
        group_size: usize,
    },
}

/// The float weights of a llama2.c transformer, in llama2.c's layouts (matrices row-major as
/// `(out, in)`).
#[derive(Clone, Debug, PartialEq)]
pub struct FloatWeights {
    /// Token embedding table. // (vocab, dim)
    pub token_embedding: Vec<f32>,
    /// Attention RMSNorm weights. // (layer, dim)
    pub rms_att: Vec<f32>,
    /// Query projections. // (layer, dim, dim)
    pub wq: Vec<f32>,
    /// Key projections. // (layer, kv_dim, dim)
    pub wk: Vec<f32>,
    /// Value projections. // (layer, kv_dim, dim)
    pub wv: Vec<f32>,
    /// Attention output projections. // (layer, dim, dim)
    pub wo: Vec<f32>,
    /// Feed-forward RMSNorm weights. // (layer, dim)
    pub rms_ffn: Vec<f32>,
    /// SwiGLU gate projections. // (layer, hidden_dim, dim)
    pub w1: Vec<f32>,
    /// SwiGLU down projections. // (layer, dim, hidden_dim)
    pub w2: Vec<f32>,
    /// SwiGLU up projections. // (layer, hidden_dim, dim)
    pub w3: Vec<f32>,
    /// Final RMSNorm weights. // (dim,)
    pub rms_final: Vec<f32>,
    /// Classifier, when not shared with the embedding. // (vocab, dim)
    pub classifier: Option<Vec<f32>>,
}

impl FloatWeights {
    /// The classifier matrix (the embedding table when shared). // (vocab, dim)
    pub fn classifier(&self) -> &[f32] {
        self.classifier.as_deref().unwrap_or(&self.token_embedding)
    }
}

/// A loaded checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Validated hyper-parameters.
    pub config: ModelConfig,
    /// The weights, in float.
    pub weights: FloatWeights,
    /// The format it was read from.
    pub format: CheckpointFormat,
}

/// The shapes of the tensors in llama2.c's order (norms, then matrices), in elements.
struct TensorSizes {
    embedding: usize,
    norm: usize,     // per layer
    wq: usize,       // per layer
    wkv: usize,      // per layer
    wo: usize,       // per layer
    ffn_up: usize,   // per layer (w1, w3)
    ffn_down: usize, // per layer (w2)
    layers: usize,
}

impl TensorSizes {
    fn of(c: &ModelConfig) -> TensorSizes {
        TensorSizes {
            embedding: c.vocab_size * c.dim,
            norm: c.dim,
            wq: c.dim * c.dim,
            wkv: c.kv_dim() * c.dim,
            wo: c.dim * c.dim,
            ffn_up: c.hidden_dim * c.dim,
            ffn_down: c.dim * c.hidden_dim,
            layers: c.n_layers,
        }
    }

    /// Float elements of everything but the classifier.
    fn float_elements(&self) -> u128 {
        let l = self.layers as u128;
        self.embedding as u128
            + l * (2 * self.norm as u128
                + self.wq as u128
                + 2 * self.wkv as u128
                + self.wo as u128
                + 3 * self.ffn_up as u128)
            + self.norm as u128
    }
}

fn read_i32(bytes: &[u8], offset: usize) -> i32 {
    i32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

fn raw_config(bytes: &[u8]) -> RawModelConfig {
    RawModelConfig {
        dim: read_i32(bytes, 0),
        hidden_dim: read_i32(bytes, 4),
        n_layers: read_i32(bytes, 8),
        n_heads: read_i32(bytes, 12),
        n_kv_heads: read_i32(bytes, 16),
        vocab_size: read_i32(bytes, 20),
        seq_len: read_i32(bytes, 24),
    }
}

/// Sequential reader over the weight bytes of a checkpoint whose total size was checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Cursor<'_> {
    fn floats(&mut self, n: usize) -> Vec<f32> {
        let end = self.offset + 4 * n;
        let out = self.bytes[self.offset..end]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        self.offset = end;
        out
    }

    fn int8s(&mut self, n: usize) -> &[u8] {
        let out = &self.bytes[self.offset..self.offset + n];
        self.offset += n;
        out
    }

    /// Q8_0 tensor of `n` elements: `n` int8 values, then `n / group` float scales.
    fn q80(&mut self, n: usize, group: usize) -> Vec<f32> {
        let q = self.int8s(n).to_vec();
        let scales = self.floats(n / group);
        q.iter()
            .enumerate()
            .map(|(i, &v)| (v as i8) as f32 * scales[i / group])
            .collect()
    }
}

/// Load a llama2.c checkpoint of any supported format.
pub fn load(path: &Path) -> Result<Checkpoint, ModelError> {
    let file_len = crate::error::regular_file_len(path)?;
    let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
    read(file, file_len, path)
}

/// Parse a checkpoint held in memory (`name` is what errors call it).
pub fn parse(bytes: &[u8], name: &Path) -> Result<Checkpoint, ModelError> {
    read(bytes, bytes.len() as u64, name)
}

/// A checkpoint's shape and format from its header, checked against the file's length, without
/// reading its weights: what a file is, for a message about another (a tokenizer that failed).
pub fn header(path: &Path) -> Result<(ModelConfig, CheckpointFormat), ModelError> {
    let file_len = crate::error::regular_file_len(path)?;
    let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
    let (_, config, format, _) = read_header(file, file_len, path)?;
    Ok((config, format))
}

/// The header of a checkpoint of `file_len` bytes read from `file`: its bytes, shape, format and
/// where its weights start, the length checked against what the header promises.
fn read_header(
    mut file: impl Read,
    file_len: u64,
    path: &Path,
) -> Result<(Vec<u8>, ModelConfig, CheckpointFormat, usize), ModelError> {
    let mut head = vec![0u8; (file_len.min(AK42_HEADER_BYTES as u64)) as usize];
    file.read_exact(&mut head)
        .map_err(|e| ModelError::io(path, e))?;
    if head.len() < LEGACY_HEADER_BYTES {
        return Err(ModelError::format(
            path,
            format!(
                "file is {file_len} bytes, shorter than the smallest llama2.c header \
                 ({LEGACY_HEADER_BYTES} bytes)"
            ),
        ));
    }
    let magic = u32::from_le_bytes(head[0..4].try_into().expect("4 bytes"));
    let (config, format, data_offset) = if magic == AK42_MAGIC {
        if head.len() < AK42_HEADER_BYTES {
            return Err(ModelError::format(
                path,
                format!(
                    "file is {file_len} bytes, shorter than the {AK42_HEADER_BYTES}-byte \
                     `ak42` header"
                ),
            ));
        }
        let version = read_i32(&head, 4);
        let raw = raw_config(&head[8..36]);
        let shared = match head[36] {
            0 => false,
            1 => true,
            other => {
                return Err(ModelError::format(
                    path,
                    format!("byte 36 (shared_classifier) is {other}; it must be 0 or 1"),
                ))
            }
        };
        let config = raw.validate(shared).map_err(|source| ModelError::Config {
            path: path.to_path_buf(),
            source,
        })?;
        let format = match version {
            1 => CheckpointFormat::V1,
            2 => {
                let group = read_i32(&head, 37);
                if group <= 0 || group > 1 << 20 {
                    return Err(ModelError::format(
                        path,
                        format!("group size {group} at byte 37 must be in 1 ..= 1048576"),
                    ));
                }
                CheckpointFormat::V2Q80 {
                    group_size: group as usize,
                }
            }
            other => {
                return Err(ModelError::format(
                    path,
                    format!(
                        "`ak42` version {other} is not supported (llama2.c writes 1 for float \
                         and 2 for Q8_0)"
                    ),
                ))
            }
        };
        (config, format, AK42_HEADER_BYTES)
    } else {
        let raw = raw_config(&head[..LEGACY_HEADER_BYTES]);
        let shared = raw.vocab_size > 0;
        // The legacy format negates vocab_size for an unshared classifier; i32::MIN has no
        // positive counterpart and stays as it is, to be refused by name.
        let raw = RawModelConfig {
            vocab_size: raw.vocab_size.checked_abs().unwrap_or(raw.vocab_size),
            ..raw
        };
        // No magic to go by: an absurd header is most likely not a checkpoint at all (another
        // file, a damaged magic), and is said to be one of the two.
        let config = raw.validate(shared).map_err(|source| {
            ModelError::format(
                path,
                format!(
                    "not a llama2.c checkpoint, or a damaged one: it does not start with the \
                     `ak42` magic of versions 1 and 2, and read as a legacy (version 0) header, \
                     {source}"
                ),
            )
        })?;
        (config, CheckpointFormat::LegacyV0, LEGACY_HEADER_BYTES)
    };

    let expected = data_offset as u128 + payload_bytes(&config, format, path)?;
    if expected != file_len as u128 {
        let what = if (file_len as u128) < expected {
            "it is truncated: export or download it again".to_string()
        } else {
            format!(
                "it has trailing bytes, which run.c would ignore and Monorail does not guess \
                 at: if they are not the model's, cut them (`truncate -s {expected} FILE`)"
            )
        };
        return Err(ModelError::format(
            path,
            format!(
                "file is {file_len} bytes but its header ({}, {}) promises {expected}: {what}",
                describe(format),
                describe_config(&config)
            ),
        ));
    }
    Ok((head, config, format, data_offset))
}

fn read(mut file: impl Read, file_len: u64, path: &Path) -> Result<Checkpoint, ModelError> {
    let (head, config, format, data_offset) = read_header(&mut file, file_len, path)?;
    let mut bytes = Vec::with_capacity(file_len as usize);
    bytes.extend_from_slice(&head);
    file.read_to_end(&mut bytes)
        .map_err(|e| ModelError::io(path, e))?;
    if bytes.len() as u64 != file_len {
        return Err(ModelError::format(path, "file changed while it was read"));
    }
    let mut cur = Cursor {
        bytes: &bytes,
        offset: data_offset,
    };
    let weights = match format {
        CheckpointFormat::LegacyV0 => read_legacy(&mut cur, &config),
        CheckpointFormat::V1 => read_ak42(&mut cur, &config, None),
        CheckpointFormat::V2Q80 { group_size } => read_ak42(&mut cur, &config, Some(group_size)),
    };
    for (name, tensor) in weights.named() {
        if let Some(i) = tensor.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::format(
                path,
                format!("tensor `{name}` holds a non-finite value at element {i}"),
            ));
        }
    }
    Ok(Checkpoint {
        config,
        weights,
        format,
    })
}

fn describe(format: CheckpointFormat) -> String {
    match format {
        CheckpointFormat::LegacyV0 => "legacy v0 float".into(),
        CheckpointFormat::V1 => "ak42 v1 float".into(),
        CheckpointFormat::V2Q80 { group_size } => format!("ak42 v2 Q8_0, group size {group_size}"),
    }
}

fn describe_config(c: &ModelConfig) -> String {
    format!(
        "dim {}, hidden {}, {} layers, {} heads, {} kv heads, vocab {}, seq_len {}, {} classifier",
        c.dim,
        c.hidden_dim,
        c.n_layers,
        c.n_heads,
        c.n_kv_heads,
        c.vocab_size,
        c.seq_len,
        if c.shared_classifier {
            "shared"
        } else {
            "unshared"
        }
    )
}

/// Bytes after the header that the header promises.
fn payload_bytes(
    c: &ModelConfig,
    format: CheckpointFormat,
    path: &Path,
) -> Result<u128, ModelError> {
    let t = TensorSizes::of(c);
    let classifier = if c.shared_classifier {
        0
    } else {
        t.embedding as u128
    };
    Ok(match format {
        CheckpointFormat::LegacyV0 => {
            // Two legacy RoPE tables (seq_len, head_size / 2) that run.c skips.
            let rope = 2 * c.seq_len as u128 * (c.head_size() / 2) as u128;
            4 * (t.float_elements() + rope + classifier)
        }
        CheckpointFormat::V1 => 4 * (t.float_elements() + classifier),
        CheckpointFormat::V2Q80 { group_size } => {
            let g = group_size as u128;
            let norms = (2 * t.layers as u128 + 1) * t.norm as u128;
            let mut tensors = vec![("token_embedding", t.embedding)];
            for (name, per_layer) in [
                ("wq", t.wq),
                ("wk", t.wkv),
                ("wv", t.wkv),
                ("wo", t.wo),
                ("w1", t.ffn_up),
                ("w2", t.ffn_down),
                ("w3", t.ffn_up),
            ] {
                tensors.extend(std::iter::repeat_n((name, per_layer), t.layers));
            }
            if !c.shared_classifier {
                tensors.push(("classifier", t.embedding));
            }
            let mut total = 4 * norms;
            for (name, n) in tensors {
                if n as u128 % g != 0 {
                    return Err(ModelError::format(
                        path,
                        format!(
                            "tensor `{name}` has {n} elements, not a multiple of the group \
                             size {group_size}: llama2.c's export cannot have written this file"
                        ),
                    ));
                }
                total += n as u128 + 4 * (n as u128 / g);
            }
            total
        }
    })
}

fn read_legacy(cur: &mut Cursor, c: &ModelConfig) -> FloatWeights {
    let t = TensorSizes::of(c);
    let l = t.layers;
    let token_embedding = cur.floats(t.embedding);
    let rms_att = cur.floats(l * t.norm);
    let wq = cur.floats(l * t.wq);
    let wk = cur.floats(l * t.wkv);
    let wv = cur.floats(l * t.wkv);
    let wo = cur.floats(l * t.wo);
    let rms_ffn = cur.floats(l * t.norm);
    let w1 = cur.floats(l * t.ffn_up);
    let w2 = cur.floats(l * t.ffn_down);
    let w3 = cur.floats(l * t.ffn_up);
    let rms_final = cur.floats(t.norm);
    cur.offset += 4 * 2 * c.seq_len * (c.head_size() / 2);
    let classifier = (!c.shared_classifier).then(|| cur.floats(t.embedding));
    FloatWeights {
        token_embedding,
        rms_att,
        wq,
        wk,
        wv,
        wo,
        rms_ffn,
        w1,
        w2,
        w3,
        rms_final,
        classifier,
    }
}

/// v1 (float) and v2 (Q8_0): norms first, then the matrices in export.py's order.
fn read_ak42(cur: &mut Cursor, c: &ModelConfig, group: Option<usize>) -> FloatWeights {
    let t = TensorSizes::of(c);
    let l = t.layers;
    let rms_att = cur.floats(l * t.norm);
    let rms_ffn = cur.floats(l * t.norm);
    let rms_final = cur.floats(t.norm);
    let mut tensor = |n: usize, count: usize| -> Vec<f32> {
        match group {
            None => cur.floats(n * count),
            Some(g) => (0..count).flat_map(|_| cur.q80(n, g)).collect(),
        }
    };
    let token_embedding = tensor(t.embedding, 1);
    let wq = tensor(t.wq, l);
    let wk = tensor(t.wkv, l);
    let wv = tensor(t.wkv, l);
    let wo = tensor(t.wo, l);
    let w1 = tensor(t.ffn_up, l);
    let w2 = tensor(t.ffn_down, l);
    let w3 = tensor(t.ffn_up, l);
    let classifier = (!c.shared_classifier).then(|| tensor(t.embedding, 1));
    FloatWeights {
        token_embedding,
        rms_att,
        wq,
        wk,
        wv,
        wo,
        rms_ffn,
        w1,
        w2,
        w3,
        rms_final,
        classifier,
    }
}

impl FloatWeights {
    /// Every tensor with its name, in the legacy file order.
    pub fn named(&self) -> Vec<(&'static str, &[f32])> {
        let mut out: Vec<(&'static str, &[f32])> = vec![
            ("token_embedding", &self.token_embedding),
            ("rms_att", &self.rms_att),
            ("wq", &self.wq),
            ("wk", &self.wk),
            ("wv", &self.wv),
            ("wo", &self.wo),
            ("rms_ffn", &self.rms_ffn),
            ("w1", &self.w1),
            ("w2", &self.w2),
            ("w3", &self.w3),
            ("rms_final", &self.rms_final),
        ];
        if let Some(c) = &self.classifier {
            out.push(("classifier", c));
        }
        out
    }
}

/// Write a checkpoint in the legacy v0 float format (`run.c`'s), RoPE tables included as
/// llama2.c's legacy export wrote them, so that `run.c` itself can read the file. The file is
/// written beside the target and renamed into place, so a failure leaves nothing half-written.
pub fn write_legacy(path: &Path, config: &ModelConfig, w: &FloatWeights) -> Result<(), ModelError> {
    let vocab = config.vocab_size as i32;
    let header = [
        config.dim as i32,
        config.hidden_dim as i32,
        config.n_layers as i32,
        config.n_heads as i32,
        config.n_kv_heads as i32,
        if config.shared_classifier {
            vocab
        } else {
            -vocab
        },
        config.seq_len as i32,
    ];
    let mut bytes = Vec::new();
    for v in header {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let mut put = |t: &[f32]| {
        for v in t {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    };
    put(&w.token_embedding);
    put(&w.rms_att);
    put(&w.wq);
    put(&w.wk);
    put(&w.wv);
    put(&w.wo);
    put(&w.rms_ffn);
    put(&w.w1);
    put(&w.w2);
    put(&w.w3);
    put(&w.rms_final);
    // Legacy RoPE tables: cos then sin of pos * freq, (seq_len, head_size / 2) each.
    let half = config.head_size() / 2;
    for table in 0..2 {
        let mut values = Vec::with_capacity(config.seq_len * half);
        for pos in 0..config.seq_len {
            for i in 0..half {
                let freq =
                    1.0f32 / (ROPE_THETA as f32).powf((2 * i) as f32 / config.head_size() as f32);
                let angle = pos as f32 * freq;
                values.push(if table == 0 { angle.cos() } else { angle.sin() });
            }
        }
        put(&values);
    }
    if let Some(c) = &w.classifier {
        put(c);
    }
    write_atomically(path, &bytes)
}

/// Write `bytes` to `path` whole or not at all: into a temporary file beside it, named for this
/// process (so that two processes writing the same file do not share one), then renamed into
/// place. A symbolic link is written through (the file it names is replaced, the link
/// stays), and something other than a regular file or a folder (a FIFO, a device such as
/// `/dev/stdout`) is written to as it is, there being no file to replace.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    // What the path reaches, links followed (a pipe behind /dev/stdout too).
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| ModelError::io(path, e));
    }
    let path = &through_links(path).map_err(|e| ModelError::io(path, e))?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let file_name = path
        .file_name()
        .ok_or_else(|| ModelError::Invalid(format!("{}: not a file path", path.display())))?;
    let tmp = dir.unwrap_or(Path::new(".")).join(format!(
        ".{}.{}.partial",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(ModelError::io(path, e));
    }
    Ok(())
}

/// The kernel's limit on the links a path may pass through.
const MOST_LINKS: usize = 40;

/// The path a write to `path` reaches: `path` with each symbolic link at its end replaced by
/// what it names (which need not exist yet); an error past the kernel's 40 links (a loop).
pub fn through_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..MOST_LINKS {
        match std::fs::read_link(&path) {
            // A relative link names a path from its own folder; an absolute one replaces it.
            Ok(target) => path = path.parent().unwrap_or(Path::new("")).join(target),
            Err(_) => return Ok(path),
        }
    }
    Err(std::io::Error::other(format!(
        "more than {MOST_LINKS} symbolic links (a loop?)"
    )))
}

/// `path` made absolute without links or `.` and `..`: its longest existing folder resolved
/// by the file system, the rest taken as written.
fn resolved(path: &Path) -> PathBuf {
    use std::path::Component;
    let absolute = std::env::current_dir().unwrap_or_default().join(path);
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                out = std::fs::canonicalize(&out).unwrap_or(out);
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    // The longest part that exists, as the file system names it.
    let existing = out.ancestors().find(|a| a.exists()).map(Path::to_path_buf);
    match existing.and_then(|e| Some((std::fs::canonicalize(&e).ok()?, e))) {
        Some((real, e)) => real.join(out.strip_prefix(&e).unwrap_or(Path::new(""))),
        None => out,
    }
}

/// Whether `a` and `b` name the same file, once written: the same file where both exist, or
/// otherwise the same path, links followed and folders resolved (including ones still to be
/// made).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(a), Ok(b)) = (through_links(a), through_links(b)) else {
        return false;
    };
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(&a), std::fs::metadata(&b)) {
        return (ma.dev(), ma.ino()) == (mb.dev(), mb.ino());
    }
    resolved(&a) == resolved(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn a_write_goes_through_a_link_and_keeps_it() {
        let dir = tempfile::TempDir::new().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = dir.path().join("model.bin");
        // A relative link to a file that does not exist yet.
        std::os::unix::fs::symlink("real/model.bin", &link).unwrap();
        write_atomically(&link, b"weights").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read(real.join("model.bin")).unwrap(), b"weights");
        assert!(same_file(&link, &real.join("model.bin")));
        assert!(same_file(&link, &dir.path().join("real/../real/model.bin")));
        assert!(!same_file(&link, &dir.path().join("other.bin")));
        // Before either exists: the same name in the same folder, though the folder is still
        // to be made.
        assert!(same_file(
            &dir.path().join("new.bin"),
            &real.join("../new.bin")
        ));
        let later = dir.path().join("later");
        assert!(same_file(&later.join("m.bin"), &later.join("./m.bin")));
        assert!(same_file(&later.join("m.bin"), &later.join("x/../m.bin")));
        assert!(!same_file(&later.join("m.bin"), &later.join("t.bin")));
        // A loop of links is an error, not a file written in the link's place.
        let (a, b) = (dir.path().join("loop-a"), dir.path().join("loop-b"));
        std::os::unix::fs::symlink("loop-b", &a).unwrap();
        std::os::unix::fs::symlink("loop-a", &b).unwrap();
        assert!(write_atomically(&a, b"x").is_err());
        assert!(std::fs::symlink_metadata(&a).unwrap().is_symlink());
    }

    #[test]
    fn a_write_to_a_fifo_goes_into_it() {
        let dir = tempfile::TempDir::new().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let (sent, read) = std::sync::mpsc::channel();
        {
            let fifo = fifo.clone();
            std::thread::spawn(move || sent.send(std::fs::read(fifo).unwrap()));
        }
        write_atomically(&fifo, b"tokens").unwrap();
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "the FIFO was replaced: {kind:?}");
        // (a reader left waiting fails the test rather than hanging it)
        let bytes = read.recv_timeout(std::time::Duration::from_secs(20));
        assert_eq!(bytes.unwrap(), b"tokens");
    }
}
