//! Pass `layout`: places every weight, scale, norm vector, cache and scratch buffer in the
//! target's memories and builds their initial images.
//!
//! Consumes the quantised model, the target and the context length; produces a [`Layout`]: the
//! addresses every later pass uses, the memory images and the memory map, and what each memory
//! needs, from which [`crate::compile`] refuses a model that does not fit
//! ([`crate::CompileError::DoesNotFit`] names the memory, by how much it overflows and which
//! built-in targets would take the model) before [`fill`] builds the images. Guarantees that
//! matrices are in column-block layout (word `b * cols + j`, lane `i` holds row `b * lanes + i`,
//! column `j`), that every vector buffer starts on a word, so element-wise operands share their
//! lane, and that each buffer is in the memory its producer may write and its consumers may
//! read: the matrix unit's activations in `input`, its results in `accumulator`, the vector
//! unit's exact wide results in `wide`, every 16-bit mantissa and constant in `vector`.

use monorail_contract::bundle::{Region, CACHE_EXPONENT_REGION_STEMS, CACHE_REGION_STEMS};
use monorail_contract::numerics::{hidden_blocks, QuantMatrix};
use monorail_contract::target::{Target, VectorMemory};
use monorail_model::quant::QuantModel;
use std::ops::Range;

/// A matrix in column-block layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatrixAt {
    /// First word.
    pub word: usize,
    /// Rows.
    pub rows: usize,
    /// Columns (words per row block).
    pub cols: usize,
}

impl MatrixAt {
    /// Columns `cols` of a matrix laid out in column blocks (`w2`, [`LayerAt::w2`]), each in
    /// column-block layout, one after another: on a core of `lanes` lanes.
    pub fn column_block(&self, lanes: usize, cols: Range<usize>) -> MatrixAt {
        MatrixAt {
            word: self.word + self.rows.div_ceil(lanes) * cols.start,
            rows: self.rows,
            cols: cols.len(),
        }
    }
}

/// One layer's places.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerAt {
    /// `[wq; wk; wv]` stacked. // (dim + 2 kv_dim, dim)
    pub qkv: MatrixAt,
    /// Their row scale mantissas. // (dim + 2 kv_dim,)
    pub qkv_scales: usize,
    /// Output projection. // (dim, dim)
    pub wo: MatrixAt,
    /// Its scales.
    pub wo_scales: usize,
    /// SwiGLU gate. // (hidden, dim)
    pub w1: MatrixAt,
    /// Its scales.
    pub w1_scales: usize,
    /// SwiGLU up. // (hidden, dim)
    pub w3: MatrixAt,
    /// Its scales.
    pub w3_scales: usize,
    /// Down projection, in blocks of the columns that each block of hidden units feeds
    /// ([`hidden_blocks`], [`MatrixAt::column_block`]). // (dim, hidden)
    pub w2: MatrixAt,
    /// Its scales.
    pub w2_scales: usize,
    /// attn_norm weights. // (dim,)
    pub attn_norm: usize,
    /// ffn_norm weights. // (dim,)
    pub ffn_norm: usize,
    /// Key cache per key/value head, column-block with rows = positions. // (kv_heads,)
    pub keys: Vec<MatrixAt>,
    /// Value cache per key/value head.
    pub values: Vec<MatrixAt>,
    /// Key exponents, one for all key/value heads: one int8 lane per position.
    pub key_exps: usize,
    /// Value exponents, likewise.
    pub value_exps: usize,
}

/// The buffers of one head's attention over the positions, in the vector space. Heads use the
/// sets in turn, so that one head's matrix products overlap the previous head's vector work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionSet {
    /// Scores against every cached key (`matvec` output). // (context,) accumulator
    pub scores: usize,
    /// Normalised scores, then the weights with the value exponents folded in. // (context,) vector
    pub normed: usize,
    /// Softmax numerators, Q0.15. // (context,) vector
    pub probs: usize,
    /// 8-bit attention weights (`dotv` input). // (context,) input
    pub weights: usize,
}

/// A layer's cache exponents in the vector space (`mload` output), loaded once for all its
/// heads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheExps {
    /// The keys' exponents. // (context,) accumulator
    pub keys: usize,
    /// The values' exponents. // (context,) accumulator
    pub values: usize,
}

/// Scratch buffers (element addresses of the vector space), by memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scratch {
    /// Elements of `t16`, `acc` and `wide`: the widest vector (`dim + 2 kv_dim`, `hidden` or
    /// the vocabulary).
    pub widest: usize,
    /// Residual stream, 16-bit. // (dim,) vector
    pub x: usize,
    /// 16-bit intermediate. // (widest,) vector
    pub t16: usize,
    /// q, k, v, 16-bit. // (dim + 2 kv_dim,) vector
    pub qkv: usize,
    /// 8-bit keys and values of this position, at the offsets of `qkv`. // (dim + 2 kv_dim,) vector
    pub kv8: usize,
    /// Cosines and sines of this position's RoPE phases, at the offsets of `qkv`.
    /// // (dim + kv_dim,) vector
    pub cs: usize,
    /// Attention output per head, 16-bit. // (dim,) vector
    pub heads: usize,
    /// Each head's exponent, repeated over its elements. // (dim,) vector
    pub head_exps: usize,
    /// Projection outputs. // (dim,) vector
    pub proj: usize,
    /// SwiGLU gate output, 16-bit. // (hidden,) vector
    pub h1: usize,
    /// SwiGLU up output, 16-bit. // (hidden,) vector
    pub h3: usize,
    /// Logits, 16-bit. // (vocab,) vector
    pub logits: usize,
    /// Matrix-unit results. // (widest,) accumulator
    pub acc: usize,
    /// The heads' weighted sums. // (dim,) accumulator
    pub head_acc: usize,
    /// Exact wide results. // (widest,) wide
    pub wide: usize,
    /// RMSNorm's eps term, 32-bit, on its way from `shrv` to a register: the first element of
    /// `wide`'s last word (lane 0, as the constants), which the norms do not use where the
    /// vocabulary or the hidden layer is wider than `dim` (else the scheduler orders the
    /// accesses; the wide memory of `ulx3s-85f` is full). // (1,) wide
    pub eps_term: usize,
    /// Normed matrix-unit input, 8-bit. // (dim,) input
    pub xb: usize,
    /// 8-bit per-head queries, at the offsets of `qkv`. // (dim,) input
    pub q8: usize,
    /// Joined attention output, 8-bit. // (dim,) input
    pub att: usize,
    /// FFN hidden, 8-bit. // (hidden,) input
    pub hh: usize,
    /// One-hot lane selector for the embedding. // (lanes,) input
    pub onehot: usize,
    /// Attention buffer sets. // (sets,)
    pub attention: Vec<AttentionSet>,
    /// The layer's cache exponents, which every head reads: inside `acc` when it holds them
    /// (nothing else uses `acc` from the qkv requantisation to wo's product), else a buffer of
    /// their own.
    pub cache_exps: CacheExps,
}

/// Where everything is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Positions served.
    pub context: usize,
    /// Token embedding (also the classifier when shared). // (vocab, dim)
    pub embedding: MatrixAt,
    /// Its row scales. // (vocab,) vector
    pub embedding_scales: usize,
    /// Layers.
    pub layers: Vec<LayerAt>,
    /// final_norm weights. // (dim,) vector
    pub final_norm: usize,
    /// Classifier. // (vocab, dim)
    pub classifier: MatrixAt,
    /// Its row scales. // (vocab,) vector
    pub classifier_scales: usize,
    /// RoPE phase steps (u32 bit patterns), one per element of q and k: element `i` of a head
    /// has its pair's step. // (dim + kv_dim,) accumulator
    pub rope_steps: usize,
    /// RMSNorm's eps term's mantissa (`numerics::RmsEps`). // (1,) vector
    pub rms_eps_mant: usize,
    /// `RmsEps::shift_offset`, which `shrv` subtracts from twice the clamped exponent as the
    /// machine reads it (`numerics::rms_eps_exp`): the next word's first element, in lane 0 as
    /// the mantissa, as `shrv` streams them. // (1,) vector
    pub rms_eps_shift_offset: usize,
    /// Scratch.
    pub scratch: Scratch,
    /// Matrix words used.
    pub matrix_used: usize,
    /// Elements used of each memory of the vector space, in `VectorMemory::ALL` order.
    pub vector_used: [usize; 4],
    /// Memory map.
    pub regions: Vec<Region>,
    /// Matrix memory image. // (matrix_words, lanes)
    pub matrix: Vec<i8>,
    /// Vector space image. // (vector_space,)
    pub vector: Vec<i32>,
}

/// Bump allocation in every memory, recording the memory map.
struct Allocator<'t> {
    target: &'t Target,
    matrix_next: usize,
    /// Elements allocated in each vector-space memory.
    vector_next: [usize; 4],
    regions: Vec<Region>,
}

impl Allocator<'_> {
    fn matrix(&mut self, name: String, rows: usize, cols: usize) -> MatrixAt {
        let at = MatrixAt {
            word: self.matrix_next,
            rows,
            cols,
        };
        let words = rows.div_ceil(self.target.lanes) * cols;
        self.regions.push(Region {
            name,
            memory: Region::MATRIX.into(),
            start: at.word as u32,
            size: words as u32,
        });
        self.matrix_next += words;
        at
    }

    /// `len` elements in `memory`, starting on a word.
    fn vector(&mut self, memory: VectorMemory, name: String, len: usize) -> usize {
        let at = self.target.range_of(memory).start + self.vector_next[memory.index()];
        self.regions.push(Region {
            name,
            memory: memory.name().into(),
            start: at as u32,
            size: len as u32,
        });
        let v = self.target.vector_lanes;
        self.vector_next[memory.index()] += len.div_ceil(v) * v;
        at
    }
}

/// The layout of `model` with `context` positions on `target` and `attention_sets` sets of
/// attention buffers (at most one a head), addresses only, no images.
/// Addresses past a memory's end are possible here: the caller checks `matrix_used` and
/// `vector_used` before using them.
pub fn plan(model: &QuantModel, target: &Target, context: usize, attention_sets: usize) -> Layout {
    use VectorMemory::{Accumulator, Input, Vector, Wide};
    let c = &model.config;
    let (dim, hidden, kv_dim, hs) = (c.dim, c.hidden_dim, c.kv_dim(), c.head_size());
    let mut a = Allocator {
        target,
        matrix_next: 0,
        vector_next: [0; 4],
        regions: Vec::new(),
    };
    let embedding = a.matrix("token_embedding".into(), c.vocab_size, dim);
    let mut layers = Vec::with_capacity(c.n_layers);
    for l in 0..c.n_layers {
        let qkv = a.matrix(format!("layer{l}.wqkv"), dim + 2 * kv_dim, dim);
        let wo = a.matrix(format!("layer{l}.wo"), dim, dim);
        let w1 = a.matrix(format!("layer{l}.w1"), hidden, dim);
        let w3 = a.matrix(format!("layer{l}.w3"), hidden, dim);
        let w2 = a.matrix(format!("layer{l}.w2"), dim, hidden);
        let mut keys = vec![];
        let mut values = vec![];
        for g in 0..c.n_kv_heads {
            let [key, value] = CACHE_REGION_STEMS;
            keys.push(a.matrix(format!("layer{l}.{key}{g}"), context, hs));
            values.push(a.matrix(format!("layer{l}.{value}{g}"), context, hs));
        }
        let [key_exp, value_exp] = CACHE_EXPONENT_REGION_STEMS;
        let key_exps = a.matrix(format!("layer{l}.{key_exp}"), context, 1).word;
        let value_exps = a.matrix(format!("layer{l}.{value_exp}"), context, 1).word;
        layers.push(LayerAt {
            qkv,
            qkv_scales: 0,
            wo,
            wo_scales: 0,
            w1,
            w1_scales: 0,
            w3,
            w3_scales: 0,
            w2,
            w2_scales: 0,
            attn_norm: 0,
            ffn_norm: 0,
            keys,
            values,
            key_exps,
            value_exps,
        });
    }
    let classifier = match &model.classifier {
        Some(_) => a.matrix("classifier".into(), c.vocab_size, dim),
        None => embedding,
    };
    let embedding_scales = a.vector(Vector, "token_embedding.scales".into(), c.vocab_size);
    for (l, layer) in layers.iter_mut().enumerate() {
        layer.qkv_scales = a.vector(Vector, format!("layer{l}.wqkv.scales"), dim + 2 * kv_dim);
        layer.wo_scales = a.vector(Vector, format!("layer{l}.wo.scales"), dim);
        layer.w1_scales = a.vector(Vector, format!("layer{l}.w1.scales"), hidden);
        layer.w3_scales = a.vector(Vector, format!("layer{l}.w3.scales"), hidden);
        layer.w2_scales = a.vector(Vector, format!("layer{l}.w2.scales"), dim);
        layer.attn_norm = a.vector(Vector, format!("layer{l}.attn_norm"), dim);
        layer.ffn_norm = a.vector(Vector, format!("layer{l}.ffn_norm"), dim);
    }
    let final_norm = a.vector(Vector, "final_norm".into(), dim);
    let classifier_scales = match &model.classifier {
        Some(_) => a.vector(Vector, "classifier.scales".into(), c.vocab_size),
        None => embedding_scales,
    };
    let rope_steps = a.vector(Accumulator, "rope_steps".into(), dim + kv_dim);
    let rms_eps_mant = a.vector(Vector, "rms_eps.mant".into(), 1);
    let rms_eps_shift_offset = a.vector(Vector, "rms_eps.shift_offset".into(), 1);
    let widest = (dim + 2 * kv_dim).max(hidden).max(c.vocab_size);
    let wide = a.vector(Wide, "wide".into(), widest);
    let v = target.vector_lanes;
    let eps_term = wide + (widest - 1) / v * v;
    let mut scratch = Scratch {
        widest,
        x: a.vector(Vector, "x".into(), dim),
        t16: a.vector(Vector, "t16".into(), widest),
        qkv: a.vector(Vector, "qkv".into(), dim + 2 * kv_dim),
        kv8: a.vector(Vector, "kv8".into(), dim + 2 * kv_dim),
        cs: a.vector(Vector, "cs".into(), dim + kv_dim),
        heads: a.vector(Vector, "heads".into(), dim),
        head_exps: a.vector(Vector, "head_exps".into(), dim),
        proj: a.vector(Vector, "proj".into(), dim),
        h1: a.vector(Vector, "h1".into(), hidden),
        h3: a.vector(Vector, "h3".into(), hidden),
        logits: a.vector(Vector, "logits".into(), c.vocab_size),
        acc: a.vector(Accumulator, "acc".into(), widest),
        head_acc: a.vector(Accumulator, "head_acc".into(), dim),
        wide,
        eps_term,
        xb: a.vector(Input, "xb".into(), dim),
        q8: a.vector(Input, "q8".into(), dim),
        att: a.vector(Input, "att".into(), dim),
        hh: a.vector(Input, "hh".into(), hidden),
        onehot: a.vector(Input, "onehot".into(), target.lanes),
        attention: Vec::new(),
        cache_exps: CacheExps { keys: 0, values: 0 },
    };
    // The matrix unit drains whole blocks of `lanes` results: the scores and exponent buffers
    // hold whole blocks.
    let row = context.div_ceil(target.lanes) * target.lanes;
    scratch.attention = (0..attention_sets.min(c.n_heads))
        .map(|k| AttentionSet {
            scores: a.vector(Accumulator, format!("attention{k}.scores"), row),
            normed: a.vector(Vector, format!("attention{k}.normed"), context),
            probs: a.vector(Vector, format!("attention{k}.probs"), context),
            weights: a.vector(Input, format!("attention{k}.weights"), row),
        })
        .collect();
    let base = if 2 * row <= widest {
        scratch.acc
    } else {
        a.vector(Accumulator, "cache_exps".into(), 2 * row)
    };
    scratch.cache_exps = CacheExps {
        keys: base,
        values: base + row,
    };
    Layout {
        context,
        embedding,
        embedding_scales,
        layers,
        final_norm,
        classifier,
        classifier_scales,
        rope_steps,
        rms_eps_mant,
        rms_eps_shift_offset,
        scratch,
        matrix_used: a.matrix_next,
        vector_used: a.vector_next,
        regions: a.regions,
        matrix: Vec::new(),
        vector: Vec::new(),
    }
}

/// Attention buffer sets, at the least: two, so that one head's products overlap the previous
/// head's vector work. Whether a model fits a target is decided with this many.
pub const MIN_ATTENTION_SETS: usize = 2;

/// Attention buffer sets, at the most. More sets let more heads' softmaxes run at once (with `k`
/// sets, head `h` reuses head `h - k`'s buffers once it is done with them), but they take
/// scratch space in three memories (accumulator, vector, input), which a small target may need
/// for positions; the compiler tries each count from [`MIN_ATTENTION_SETS`] that fits the
/// context and keeps the fastest schedule.
pub const MAX_ATTENTION_SETS: usize = 4;

/// Write matrices stacked by rows into the image at `at`, in column-block layout.
fn put_matrix(image: &mut [i8], lanes: usize, at: MatrixAt, parts: &[&QuantMatrix]) {
    let mut row = 0;
    for m in parts {
        debug_assert_eq!(m.cols, at.cols);
        for r in 0..m.rows {
            let (block, lane) = ((row + r) / lanes, (row + r) % lanes);
            for j in 0..m.cols {
                image[(at.word + block * at.cols + j) * lanes + lane] = m.q[r * m.cols + j];
            }
        }
        row += m.rows;
    }
}

fn put_vector(image: &mut [i32], at: usize, values: &[i32]) {
    image[at..at + values.len()].copy_from_slice(values);
}

/// Build the memory images of a layout that fits.
pub fn fill(layout: &mut Layout, model: &QuantModel, target: &Target) {
    let lanes = target.lanes;
    let mut matrix = vec![0i8; target.matrix_words() * lanes];
    let mut vector = vec![0i32; target.vector_space()];
    put_matrix(
        &mut matrix,
        lanes,
        layout.embedding,
        &[&model.token_embedding],
    );
    put_vector(
        &mut vector,
        layout.embedding_scales,
        &model.token_embedding.row_scale_mant,
    );
    for (at, layer) in layout.layers.iter().zip(&model.layers) {
        put_matrix(
            &mut matrix,
            lanes,
            at.qkv,
            &[&layer.wq, &layer.wk, &layer.wv],
        );
        put_matrix(&mut matrix, lanes, at.wo, &[&layer.wo]);
        put_matrix(&mut matrix, lanes, at.w1, &[&layer.w1]);
        put_matrix(&mut matrix, lanes, at.w3, &[&layer.w3]);
        for block in hidden_blocks(layer.w2.cols) {
            let at = at.w2.column_block(lanes, block.clone());
            put_matrix(&mut matrix, lanes, at, &[&layer.w2.column_block(block)]);
        }
        let qkv_scales: Vec<i32> = [&layer.wq, &layer.wk, &layer.wv]
            .iter()
            .flat_map(|m| m.row_scale_mant.iter().copied())
            .collect();
        put_vector(&mut vector, at.qkv_scales, &qkv_scales);
        put_vector(&mut vector, at.wo_scales, &layer.wo.row_scale_mant);
        put_vector(&mut vector, at.w1_scales, &layer.w1.row_scale_mant);
        put_vector(&mut vector, at.w3_scales, &layer.w3.row_scale_mant);
        put_vector(&mut vector, at.w2_scales, &layer.w2.row_scale_mant);
        put_vector(&mut vector, at.attn_norm, &layer.attn_norm.mant);
        put_vector(&mut vector, at.ffn_norm, &layer.ffn_norm.mant);
    }
    put_vector(&mut vector, layout.final_norm, &model.final_norm.mant);
    if let Some(cls) = &model.classifier {
        put_matrix(&mut matrix, lanes, layout.classifier, &[cls]);
        put_vector(&mut vector, layout.classifier_scales, &cls.row_scale_mant);
    }
    // One step per element of q, then of k: element i of a head has its pair's step.
    let hs = model.config.head_size();
    let steps: Vec<i32> = (0..model.config.dim + model.config.kv_dim())
        .map(|i| model.rope_steps[(i % hs) / 2] as i32)
        .collect();
    put_vector(&mut vector, layout.rope_steps, &steps);
    let eps = model.rms_eps;
    put_vector(&mut vector, layout.rms_eps_mant, &[eps.mant]);
    put_vector(
        &mut vector,
        layout.rms_eps_shift_offset,
        &[eps.shift_offset()],
    );
    layout.matrix = matrix;
    layout.vector = vector;
}
