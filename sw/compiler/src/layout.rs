//! Pass `layout`: places every weight, scale, norm vector, cache and scratch buffer in the
//! target's memories and builds their initial images.
//!
//! Consumes the quantised model, the target and the context length; produces a [`Layout`]: the
//! addresses every later pass uses, the memory images and the memory map. Guarantees that
//! everything fits (otherwise [`crate::CompileError::DoesNotFit`] names the memory, by how much it
//! overflows and which built-in targets would take the model), that matrices are in column-block
//! layout (word `b * cols + j`, lane `i` holds row `b * lanes + i`, column `j`), and that every
//! vector buffer starts on a vector-memory word, so element-wise operands share their lane.

use monorail_contract::bundle::Region;
use monorail_contract::numerics::QuantMatrix;
use monorail_contract::target::Target;
use monorail_model::quant::QuantModel;

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
    /// Down projection. // (dim, hidden)
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
    /// Key exponents per key/value head: one int8 lane per position. // (kv_heads,)
    pub key_exps: Vec<usize>,
    /// Value exponents per key/value head.
    pub value_exps: Vec<usize>,
}

/// Scratch buffers (vector-memory element addresses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scratch {
    /// Residual stream, 16-bit. // (dim,)
    pub x: usize,
    /// Normed matrix-unit input, 8-bit. // (dim,)
    pub xb: usize,
    /// Exact wide results. // (widest,)
    pub wide: usize,
    /// 16-bit intermediate. // (widest,)
    pub t16: usize,
    /// Accumulators and matrix outputs. // (widest,)
    pub acc: usize,
    /// q, k, v, 16-bit. // (dim + 2 kv_dim,)
    pub qkv: usize,
    /// 8-bit per-head queries and per-key/value-head keys and values, at the offsets of `qkv`.
    /// // (dim + 2 kv_dim,)
    pub qkv8: usize,
    /// Attention buffers over positions, sets used by heads in turn so that heads overlap: in the
    /// wide vector memory, as many sets as it holds (up to one per head), when it holds two; else
    /// two, the first in the vector memory and the second in the parts of `acc`, `wide` and
    /// `t16` that attention leaves free. // (sets, 3, context)
    pub scores: Vec<[usize; 3]>,
    /// The heads' weighted sums. // (dim,)
    pub head_acc: usize,
    /// Attention output per head, 16-bit. // (dim,)
    pub heads: usize,
    /// Exponents of the heads. // (n_heads,)
    pub head_exps: usize,
    /// Joined attention output, 8-bit. // (dim,)
    pub att: usize,
    /// Projection outputs. // (dim,)
    pub proj: usize,
    /// SwiGLU gate output, 16-bit. // (hidden,)
    pub h1: usize,
    /// SwiGLU up output, 16-bit. // (hidden,)
    pub h3: usize,
    /// FFN hidden, 8-bit. // (hidden,)
    pub hh: usize,
    /// One-hot lane selector for the embedding. // (lanes,)
    pub onehot: usize,
}

/// Where everything is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Positions served.
    pub context: usize,
    /// Token embedding (also the classifier when shared). // (vocab, dim)
    pub embedding: MatrixAt,
    /// Its row scales. // (vocab,)
    pub embedding_scales: usize,
    /// Layers.
    pub layers: Vec<LayerAt>,
    /// final_norm weights.
    pub final_norm: usize,
    /// Classifier. // (vocab, dim)
    pub classifier: MatrixAt,
    /// Its row scales.
    pub classifier_scales: usize,
    /// RoPE phase steps (u32 bit patterns). // (head_size / 2,)
    pub rope_steps: usize,
    /// Scratch.
    pub scratch: Scratch,
    /// Matrix words used.
    pub matrix_used: usize,
    /// Vector elements used.
    pub vector_used: usize,
    /// Memory map.
    pub regions: Vec<Region>,
    /// Matrix memory image. // (matrix_words, lanes)
    pub matrix: Vec<i8>,
    /// Vector memory image. // (vector_elements,)
    pub vector: Vec<i32>,
}

/// Bump allocation in both memories, recording the memory map.
struct Allocator {
    lanes: usize,
    vector_lanes: usize,
    matrix_next: usize,
    vector_next: usize,
    regions: Vec<Region>,
}

impl Allocator {
    fn matrix(&mut self, name: String, rows: usize, cols: usize) -> MatrixAt {
        let at = MatrixAt {
            word: self.matrix_next,
            rows,
            cols,
        };
        let words = rows.div_ceil(self.lanes) * cols;
        self.regions.push(Region {
            name,
            memory: "matrix".into(),
            start: at.word as u32,
            size: words as u32,
        });
        self.matrix_next += words;
        at
    }

    fn vector(&mut self, name: String, len: usize) -> usize {
        let at = self.vector_next;
        self.regions.push(Region {
            name,
            memory: "vector".into(),
            start: at as u32,
            size: len as u32,
        });
        self.vector_next += len.div_ceil(self.vector_lanes) * self.vector_lanes;
        at
    }
}

/// The layout of `model` with `context` positions on `target` (addresses only; no images).
pub fn plan(model: &QuantModel, target: &Target, context: usize) -> Layout {
    let c = &model.config;
    let (dim, hidden, kv_dim, hs) = (c.dim, c.hidden_dim, c.kv_dim(), c.head_size());
    let mut a = Allocator {
        lanes: target.lanes,
        vector_lanes: target.vector_lanes,
        matrix_next: 0,
        vector_next: 0,
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
        let mut key_exps = vec![];
        let mut value_exps = vec![];
        for g in 0..c.n_kv_heads {
            keys.push(a.matrix(format!("layer{l}.key_cache{g}"), context, hs));
            values.push(a.matrix(format!("layer{l}.value_cache{g}"), context, hs));
            key_exps.push(a.matrix(format!("layer{l}.key_exps{g}"), context, 1).word);
            value_exps.push(a.matrix(format!("layer{l}.value_exps{g}"), context, 1).word);
        }
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
    let embedding_scales = a.vector("token_embedding.scales".into(), c.vocab_size);
    for (l, layer) in layers.iter_mut().enumerate() {
        layer.qkv_scales = a.vector(format!("layer{l}.wqkv.scales"), dim + 2 * kv_dim);
        layer.wo_scales = a.vector(format!("layer{l}.wo.scales"), dim);
        layer.w1_scales = a.vector(format!("layer{l}.w1.scales"), hidden);
        layer.w3_scales = a.vector(format!("layer{l}.w3.scales"), hidden);
        layer.w2_scales = a.vector(format!("layer{l}.w2.scales"), dim);
        layer.attn_norm = a.vector(format!("layer{l}.attn_norm"), dim);
        layer.ffn_norm = a.vector(format!("layer{l}.ffn_norm"), dim);
    }
    let final_norm = a.vector("final_norm".into(), dim);
    let classifier_scales = match &model.classifier {
        Some(_) => a.vector("classifier.scales".into(), c.vocab_size),
        None => embedding_scales,
    };
    let rope_steps = a.vector("rope_steps".into(), hs / 2);
    let widest = (dim + 2 * kv_dim)
        .max(hidden)
        .max(c.vocab_size)
        .max(context);
    let scratch = Scratch {
        x: a.vector("x".into(), dim),
        xb: a.vector("xb".into(), dim),
        wide: a.vector("wide".into(), widest),
        t16: a.vector("t16".into(), widest),
        acc: a.vector("acc".into(), widest),
        qkv: a.vector("qkv".into(), dim + 2 * kv_dim),
        qkv8: a.vector("qkv8".into(), dim + 2 * kv_dim),
        scores: Vec::new(),
        head_acc: a.vector("head_acc".into(), dim),
        heads: a.vector("heads".into(), dim),
        head_exps: a.vector("head_exps".into(), c.n_heads),
        att: a.vector("att".into(), dim),
        proj: a.vector("proj".into(), dim),
        h1: a.vector("h1".into(), hidden),
        h3: a.vector("h3".into(), hidden),
        hh: a.vector("hh".into(), hidden),
        onehot: a.vector("onehot".into(), target.lanes),
    };
    let mut scratch = scratch;
    // The attention buffers run over the positions: in the wide vector memory when it holds two
    // sets or more (a vector instruction there moves `lanes` elements per cycle).
    let row = context.div_ceil(target.lanes) * target.lanes;
    let sets = (target.wide_elements() / (3 * row)).min(c.n_heads);
    scratch.scores = if sets >= 2 {
        let mut next = target.wide_start();
        let mut buffer = |name: String| {
            let at = next;
            a.regions.push(Region {
                name,
                memory: "vector".into(),
                start: at as u32,
                size: context as u32,
            });
            next += row;
            at
        };
        let mut set = |k: usize| {
            [
                buffer(format!("attention{k}.a")),
                buffer(format!("attention{k}.b")),
                buffer(format!("attention{k}.c")),
            ]
        };
        (0..sets).map(&mut set).collect()
    } else {
        let first = [
            a.vector("attention.a".into(), context),
            a.vector("attention.b".into(), context),
            a.vector("attention.c".into(), context),
        ];
        // Attention touches only the first `dim` elements of acc, wide and t16.
        let free_from = dim.div_ceil(target.vector_lanes) * target.vector_lanes;
        let second = if free_from + context <= widest {
            [
                scratch.acc + free_from,
                scratch.wide + free_from,
                scratch.t16 + free_from,
            ]
        } else {
            first
        };
        vec![first, second]
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
        scratch,
        matrix_used: a.matrix_next,
        vector_used: a.vector_next,
        regions: a.regions,
        matrix: Vec::new(),
        vector: Vec::new(),
    }
}

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
    let mut vector = vec![0i32; target.vector_elements()];
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
        put_matrix(&mut matrix, lanes, at.w2, &[&layer.w2]);
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
    let steps: Vec<i32> = model.rope_steps.iter().map(|&s| s as i32).collect();
    put_vector(&mut vector, layout.rope_steps, &steps);
    layout.matrix = matrix;
    layout.vector = vector;
}
