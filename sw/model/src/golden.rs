//! The golden integer model: one token step exactly as `docs/numerics.md` specifies it, written
//! with the contract crate's numerics and nothing else. The instruction-set simulator and the RTL
//! are judged against it: same tokens, and the same integers at every named model step.
//!
//! It speaks of model steps, not instructions, and knows no hardware target. Vectors are block
//! floating point: `(mantissas, exponent)`, 16-bit between steps, 8-bit into the matrix unit.

use monorail_contract::model_config::ModelConfig;
use monorail_contract::numerics::{
    argmax, cache_exponent, exp2_neg_q15, hidden_blocks, int8_dot_bits, normalize, normalize_by,
    normalize_grouped, normalize_grouped_by, pow2, recip, residual_exponent, rms_scale, rope_phase,
    shift_round, sigmoid_q14, sin_cos_q14, QuantMatrix, RmsEps, ACCUMULATOR_BITS,
    EXP2_INPUT_FRACTION_BITS, EXP2_INPUT_LIMIT, NARROW_BITS, Q14_FRACTION_BITS,
    SIGMOID_INPUT_FRACTION_BITS, WIDE_BITS, WIDE_MANTISSA_MAX,
};
use monorail_contract::steps::ModelStep;
pub use monorail_contract::steps::StepValues;
use std::ops::Range;

use crate::engine::{Engine, StepOutput};
use crate::quant::{NormWeights, QuantModel};

/// The golden model and its run state.
pub struct GoldenModel {
    model: QuantModel,
    record: bool,
    values: Vec<StepValues>,
    x: Vec<i32>,          // (dim,) residual stream, 16-bit
    x_exp: i32,           //
    xb: Vec<i8>,          // (dim,) normed input of the matrix unit, 8-bit
    q: Vec<i32>,          // (dim,) 16-bit
    k: Vec<i32>,          // (kv_dim,) 16-bit
    v: Vec<i32>,          // (kv_dim,) 16-bit
    heads: Vec<i32>,      // (dim,) attention output per head, 16-bit
    proj: Vec<i32>,       // (dim,) output of wo and of the ffn's w2, 16-bit
    head_exps: Vec<i32>,  // (n_heads,)
    att: Vec<i8>,         // (dim,) joined attention output, 8-bit
    hb: Vec<i32>,         // (hidden_dim,) 16-bit
    hb3: Vec<i32>,        // (hidden_dim,) 16-bit
    hh: Vec<i8>,          // (hidden_dim,) 8-bit
    wide: Vec<i64>,       // (max(dim, hidden, vocab, seq_len),) exact intermediate results
    narrow: Vec<i32>,     // (same,) normalised intermediate results
    probs: Vec<i64>,      // (seq_len,) attention probabilities, Q0.15
    weights: Vec<i8>,     // (seq_len,) attention weights with value exponents folded, 8-bit
    query: Vec<i8>,       // (dim,) the query, 8-bit, one exponent for all heads
    head_acc: Vec<i32>,   // (head_size,) one head's weighted sum of values
    score_exps: Vec<i32>, // (seq_len,)
    key_cache: Vec<i8>,   // (layer, seq_len, kv_dim)
    key_exps: Vec<i32>,   // (layer, seq_len) one for all key/value heads
    value_cache: Vec<i8>, // (layer, seq_len, kv_dim)
    value_exps: Vec<i32>, // (layer, seq_len)
    logits: Vec<i32>,     // (vocab,) 16-bit
    logits_exp: i32,      //
    logits_f32: Vec<f32>, // (vocab,) dequantised, for sampling and fidelity
    // (layer, hidden block): w2's columns that each block of hidden units feeds
    w2_blocks: Vec<Vec<QuantMatrix>>,
}

/// Store the BFP16 vector `mantissas` (exponent `exp`) normalised to 8 bits whole into `out`, with
/// the shift of a BFP16 mantissa's largest magnitude instead of a search (the key, the value and
/// the query: docs/numerics.md, *KV cache*); returns the exponent.
fn narrow_bfp16(
    mantissas: &[i32],
    exp: i32,
    wide: &mut [i64],
    narrow: &mut [i32],
    out: &mut [i8],
) -> i32 {
    let n = mantissas.len();
    for (w, &m) in wide[..n].iter_mut().zip(mantissas) {
        *w = m as i64;
    }
    let e = normalize_by(
        &wide[..n],
        exp,
        NARROW_BITS,
        WIDE_MANTISSA_MAX as u64,
        &mut narrow[..n],
    );
    for (o, &m) in out[..n].iter_mut().zip(narrow.iter()) {
        *o = m as i8;
    }
    e
}

/// Store `values` normalised to 8 bits into `out`; returns the exponent.
fn normalize_narrow(values: &[i64], exp: i32, scratch: &mut [i32], out: &mut [i8]) -> i32 {
    let scratch = &mut scratch[..values.len()];
    let e = normalize(values, exp, NARROW_BITS, scratch);
    for (o, &s) in out.iter_mut().zip(scratch.iter()) {
        *o = s as i8;
    }
    e
}

/// qkv, wo, ffn, classifier: `out = W x` for int8 `x * 2^x_exp`. The int32 accumulators are
/// normalised to 17 bits with the shift of the matrix's accumulator bound (known when the matrix
/// is quantised, not searched for), multiplied by their row's scale mantissa, and normalised
/// again, to the largest product.
fn matvec(w: &QuantMatrix, x: &[i8], x_exp: i32, wide: &mut [i64], out: &mut [i32]) -> i32 {
    matvec_rows(w, 0..w.rows, x, x_exp, wide, out)
}

/// [`matvec`] of the matrix's `rows` only, with their accumulator bound (the FFN's `w1` and `w3`
/// a block of hidden units at a time): `out` holds those rows' results.
fn matvec_rows(
    w: &QuantMatrix,
    rows: Range<usize>,
    x: &[i8],
    x_exp: i32,
    wide: &mut [i64],
    out: &mut [i32],
) -> i32 {
    let cols = w.cols;
    let wide = &mut wide[..rows.len()];
    let out = &mut out[..rows.len()];
    for (i, acc) in rows.clone().zip(wide.iter_mut()) {
        let row = &w.q[i * cols..(i + 1) * cols];
        *acc = row
            .iter()
            .zip(x)
            .map(|(&a, &b)| a as i32 * b as i32)
            .sum::<i32>() as i64;
    }
    let bound = w.accumulator_bound_of(rows.clone());
    let acc_exp = normalize_by(wide, x_exp, ACCUMULATOR_BITS, bound, out);
    for ((acc, &a), &m) in wide.iter_mut().zip(out.iter()).zip(&w.row_scale_mant[rows]) {
        *acc = a as i64 * m as i64;
    }
    normalize(wide, acc_exp + w.row_scale_exp, WIDE_BITS, out)
}

/// attn_norm, ffn_norm, final_norm: `x / rms(x) * g` to 8 bits. The exponent of `x` cancels
/// but in eps's term; `sqrt(dim)` is folded into `g`, so the scale is the reciprocal square
/// root of the sum of squared mantissas plus that term (`numerics::rms_scale`).
fn rmsnorm(
    x: &[i32],
    x_exp: i32,
    eps: RmsEps,
    g: &NormWeights,
    wide: &mut [i64],
    narrow: &mut [i32],
    out: &mut [i8],
) -> i32 {
    let n = x.len();
    let sum_squares: u64 = x.iter().map(|&m| (m as i64 * m as i64) as u64).sum();
    let scale = rms_scale(sum_squares, eps, x_exp);
    let wide = &mut wide[..n];
    for ((w, &m), &gm) in wide.iter_mut().zip(x).zip(&g.mant) {
        *w = m as i64 * gm as i64;
    }
    let e = normalize(wide, g.exp, WIDE_BITS, &mut narrow[..n]);
    for (w, &t) in wide.iter_mut().zip(narrow.iter()) {
        *w = t as i64 * scale.mant as i64;
    }
    normalize_narrow(wide, e + scale.exp, narrow, out)
}

/// rope: rotate each pair `(i, i+1)` by the angle of its frequency at `pos` (sine and cosine in
/// Q1.14), then normalise to 16 bits.
fn rope(
    v: &mut [i32],
    exp: i32,
    pos: usize,
    head_size: usize,
    steps: &[u32],
    wide: &mut [i64],
) -> i32 {
    let n = v.len();
    for i in (0..n).step_by(2) {
        let (sin, cos) = sin_cos_q14(rope_phase(pos, steps[(i % head_size) / 2]));
        let (v0, v1) = (v[i] as i64, v[i + 1] as i64);
        wide[i] = v0 * cos - v1 * sin;
        wide[i + 1] = v0 * sin + v1 * cos;
    }
    normalize(&wide[..n], exp - Q14_FRACTION_BITS, WIDE_BITS, v)
}

/// wo, ffn: `x += y`, aligned to 15 guard bits below the larger exponent, then normalised.
fn residual_add(x: &mut [i32], x_exp: i32, y: &[i32], y_exp: i32, wide: &mut [i64]) -> i32 {
    let e = residual_exponent(x_exp, y_exp);
    let wide = &mut wide[..x.len()];
    for ((w, &a), &b) in wide.iter_mut().zip(x.iter()).zip(y) {
        *w = shift_round(a as i64, e - x_exp) + shift_round(b as i64, e - y_exp);
    }
    normalize(wide, e, WIDE_BITS, x)
}

impl GoldenModel {
    /// A golden model ready to run from position 0.
    pub fn new(model: QuantModel) -> GoldenModel {
        let c = model.config;
        let widest = c.dim.max(c.hidden_dim).max(c.vocab_size).max(c.seq_len);
        let cache = c.n_layers * c.seq_len * c.kv_dim();
        let cache_exps = c.n_layers * c.seq_len;
        GoldenModel {
            record: false,
            values: Vec::new(),
            x: vec![0; c.dim],
            x_exp: 0,
            xb: vec![0; c.dim],
            q: vec![0; c.dim],
            k: vec![0; c.kv_dim()],
            v: vec![0; c.kv_dim()],
            heads: vec![0; c.dim],
            proj: vec![0; c.dim],
            head_exps: vec![0; c.n_heads],
            att: vec![0; c.dim],
            hb: vec![0; c.hidden_dim],
            hb3: vec![0; c.hidden_dim],
            hh: vec![0; c.hidden_dim],
            w2_blocks: model
                .layers
                .iter()
                .map(|layer| {
                    hidden_blocks(c.hidden_dim)
                        .map(|block| layer.w2.column_block(block))
                        .collect()
                })
                .collect(),
            wide: vec![0; widest],
            narrow: vec![0; widest],
            probs: vec![0; c.seq_len],
            weights: vec![0; c.seq_len],
            query: vec![0; c.dim],
            head_acc: vec![0; c.head_size()],
            score_exps: vec![0; c.seq_len],
            key_cache: vec![0; cache],
            key_exps: vec![0; cache_exps],
            value_cache: vec![0; cache],
            value_exps: vec![0; cache_exps],
            logits: vec![0; c.vocab_size],
            logits_exp: 0,
            logits_f32: vec![0.0; c.vocab_size],
            model,
        }
    }

    /// The quantised model.
    pub fn model(&self) -> &QuantModel {
        &self.model
    }

    /// Record the values of every model step from now on (see [`GoldenModel::take_values`]).
    pub fn record_values(&mut self, on: bool) {
        self.record = on;
    }

    /// The values recorded since the last call, in step order.
    pub fn take_values(&mut self) -> Vec<StepValues> {
        std::mem::take(&mut self.values)
    }

    /// The last logits as 16-bit mantissas and their exponent.
    pub fn logits(&self) -> (&[i32], i32) {
        (&self.logits, self.logits_exp)
    }

    fn keep(&mut self, step: ModelStep, layer: Option<usize>, parts: &[(&[i32], i32)]) {
        if self.record {
            self.values.push(StepValues {
                step,
                layer,
                mant: parts.iter().flat_map(|(m, _)| m.iter().copied()).collect(),
                exps: parts.iter().map(|(_, e)| *e).collect(),
            });
        }
    }

    fn keep_narrow(&mut self, step: ModelStep, layer: Option<usize>, values: &[i8], exp: i32) {
        if self.record {
            let mant: Vec<i32> = values.iter().map(|&v| v as i32).collect();
            self.keep(step, layer, &[(&mant, exp)]);
        }
    }

    /// One token step at position `pos`; returns the next token (the integer argmax).
    pub fn forward(&mut self, token: u32, pos: usize) -> u32 {
        let c: ModelConfig = self.model.config;
        let dim = c.dim;

        // embedding: the token's int8 row times its scale
        let emb = &self.model.token_embedding;
        let row = token as usize;
        for (w, &q) in self.wide[..dim]
            .iter_mut()
            .zip(&emb.q[row * dim..(row + 1) * dim])
        {
            *w = q as i64 * emb.row_scale_mant[row] as i64;
        }
        self.x_exp = normalize(&self.wide[..dim], emb.row_scale_exp, WIDE_BITS, &mut self.x);
        let x = std::mem::take(&mut self.x);
        self.keep(ModelStep::Embedding, None, &[(&x, self.x_exp)]);
        self.x = x;

        for l in 0..c.n_layers {
            self.attention_block(l, pos);
            self.ffn_block(l);
        }

        // final_norm
        let mut xb = std::mem::take(&mut self.xb);
        let xb_exp = rmsnorm(
            &self.x,
            self.x_exp,
            self.model.rms_eps,
            &self.model.final_norm,
            &mut self.wide,
            &mut self.narrow,
            &mut xb,
        );
        self.keep_narrow(ModelStep::FinalNorm, None, &xb, xb_exp);

        // classifier
        self.logits_exp = matvec(
            self.model.classifier(),
            &xb,
            xb_exp,
            &mut self.wide,
            &mut self.logits,
        );
        self.xb = xb;
        let logits = std::mem::take(&mut self.logits);
        self.keep(ModelStep::Classifier, None, &[(&logits, self.logits_exp)]);
        self.logits = logits;
        let unit = pow2(self.logits_exp);
        for (f, &m) in self.logits_f32.iter_mut().zip(&self.logits) {
            *f = (m as f64 * unit) as f32;
        }

        // argmax
        let next = argmax(&self.logits) as u32;
        if self.record {
            self.values.push(StepValues {
                step: ModelStep::Argmax,
                layer: None,
                mant: vec![next as i32],
                exps: Vec::new(),
            });
        }
        next
    }

    fn attention_block(&mut self, l: usize, pos: usize) {
        let c = self.model.config;
        let (head_size, kv_dim) = (c.head_size(), c.kv_dim());
        let layer = &self.model.layers[l];

        // attn_norm
        let xb_exp = rmsnorm(
            &self.x,
            self.x_exp,
            self.model.rms_eps,
            &layer.attn_norm,
            &mut self.wide,
            &mut self.narrow,
            &mut self.xb,
        );
        let xb = std::mem::take(&mut self.xb);
        self.keep_narrow(ModelStep::AttnNorm, Some(l), &xb, xb_exp);

        // qkv
        let layer = &self.model.layers[l];
        let q_exp = matvec(&layer.wq, &xb, xb_exp, &mut self.wide, &mut self.q);
        let k_exp = matvec(&layer.wk, &xb, xb_exp, &mut self.wide, &mut self.k);
        let v_exp = matvec(&layer.wv, &xb, xb_exp, &mut self.wide, &mut self.v);
        self.xb = xb;
        let (q, k, v) = (
            std::mem::take(&mut self.q),
            std::mem::take(&mut self.k),
            std::mem::take(&mut self.v),
        );
        self.keep(
            ModelStep::Qkv,
            Some(l),
            &[(&q, q_exp), (&k, k_exp), (&v, v_exp)],
        );
        (self.q, self.k, self.v) = (q, k, v);

        // rope
        let steps = &self.model.rope_steps;
        let q_exp = rope(&mut self.q, q_exp, pos, head_size, steps, &mut self.wide);
        let k_exp = rope(&mut self.k, k_exp, pos, head_size, steps, &mut self.wide);
        let (q, k) = (std::mem::take(&mut self.q), std::mem::take(&mut self.k));
        self.keep(ModelStep::Rope, Some(l), &[(&q, q_exp), (&k, k_exp)]);
        (self.q, self.k) = (q, k);

        // the key and value of this position enter the cache, 8-bit, each with one exponent for
        // all key/value heads: the shift of a BFP16 vector's largest magnitude, with no search
        let at = (l * c.seq_len + pos) * kv_dim;
        let exp_at = l * c.seq_len + pos;
        for (src, exp, cache, exps) in [
            (&self.k, k_exp, &mut self.key_cache, &mut self.key_exps),
            (&self.v, v_exp, &mut self.value_cache, &mut self.value_exps),
        ] {
            let out = &mut cache[at..at + kv_dim];
            let exp = narrow_bfp16(src, exp, &mut self.wide, &mut self.narrow, out);
            // Cache exponents are stored as int8 beside the cache (docs/numerics.md).
            exps[exp_at] = cache_exponent(exp as i64) as i32;
        }

        // attention: the query, 8-bit, with one exponent for all heads, normalised as the cache's
        // entries are; then each head
        let (wide, narrow) = (&mut self.wide, &mut self.narrow);
        let q8_exp = narrow_bfp16(&self.q, q_exp, wide, narrow, &mut self.query);
        for h in 0..c.n_heads {
            self.attention_head(l, pos, h, q8_exp);
        }
        let mut wide = std::mem::take(&mut self.wide);
        for (w, &m) in wide.iter_mut().zip(&self.heads) {
            *w = m as i64;
        }
        let att_exp = normalize_grouped(
            &wide[..c.dim],
            &self.head_exps,
            head_size,
            NARROW_BITS,
            &mut self.narrow[..c.dim],
        );
        for (a, &n) in self.att.iter_mut().zip(&self.narrow) {
            *a = n as i8;
        }
        self.wide = wide;
        let att = std::mem::take(&mut self.att);
        self.keep_narrow(ModelStep::Attention, Some(l), &att, att_exp);

        // wo: projection, added into the residual stream
        let layer = &self.model.layers[l];
        let o_exp = matvec(&layer.wo, &att, att_exp, &mut self.wide, &mut self.proj);
        self.att = att;
        self.x_exp = residual_add(&mut self.x, self.x_exp, &self.proj, o_exp, &mut self.wide);
        let x = std::mem::take(&mut self.x);
        self.keep(ModelStep::Wo, Some(l), &[(&x, self.x_exp)]);
        self.x = x;
    }

    /// One head: scores against every cached key, base-2 softmax through the `2^-u` table,
    /// probabilities (with the value exponents folded in) times the cached values, divided by the
    /// sum of the probabilities.
    fn attention_head(&mut self, l: usize, pos: usize, h: usize, q8_exp: i32) {
        let c = self.model.config;
        let (head_size, kv_dim) = (c.head_size(), c.kv_dim());
        let g = h / c.kv_mul();
        let positions = pos + 1;
        let cache_row = |t: usize| (l * c.seq_len + t) * kv_dim + g * head_size;
        let exp_index = |t: usize| l * c.seq_len + t;

        let q8 = &self.query[h * head_size..(h + 1) * head_size];

        // scores q . k_t, each with its key's exponent, normalised together to 16 bits with the
        // top bit of the largest that any int8 query and keys could give, not searched for
        for t in 0..positions {
            let k = &self.key_cache[cache_row(t)..cache_row(t) + head_size];
            let dot: i32 = q8.iter().zip(k).map(|(&a, &b)| a as i32 * b as i32).sum();
            self.wide[t] = dot as i64;
            self.score_exps[t] = q8_exp + self.key_exps[exp_index(t)];
        }
        let key_exp_max = (0..positions)
            .map(|t| self.key_exps[exp_index(t)])
            .max()
            .expect("at least one position");
        let score_exp = normalize_grouped_by(
            &self.wide[..positions],
            &self.score_exps[..positions],
            1,
            WIDE_BITS,
            int8_dot_bits(head_size) as i32 + q8_exp + key_exp_max,
            &mut self.narrow[..positions],
        );
        let scores = &self.narrow[..positions];
        let max = *scores.iter().max().expect("at least one position");

        // p_t = 2^((s_t - max) * log2(e) / sqrt(head_size)), the exponent in Q.8, p in Q0.15
        let scale = self.model.attention_scale;
        let shift = -(score_exp + scale.exp + EXP2_INPUT_FRACTION_BITS as i32);
        let mut sum: u64 = 0;
        for (p, &s) in self.probs[..positions].iter_mut().zip(scores) {
            let y = shift_round((s - max) as i64 * scale.mant as i64, shift);
            *p = exp2_neg_q15((-y).min(EXP2_INPUT_LIMIT));
            sum += *p as u64;
        }

        // weights: p_t * 2^(value_exp_t - max value_exp), normalised to 8 bits
        let value_exp_max = (0..positions)
            .map(|t| self.value_exps[exp_index(t)])
            .max()
            .expect("at least one position");
        for t in 0..positions {
            self.wide[t] =
                shift_round(self.probs[t], value_exp_max - self.value_exps[exp_index(t)]);
        }
        let weights = &mut self.weights[..positions];
        let weights_exp = normalize_narrow(
            &self.wide[..positions],
            value_exp_max,
            &mut self.narrow,
            weights,
        );

        // sum_t w_t * v_t (int32, in any order: integer sums are exact), then times 1 / sum(p)
        let acc = &mut self.head_acc[..head_size];
        acc.fill(0);
        for (t, &w) in weights.iter().enumerate() {
            let v = &self.value_cache[cache_row(t)..cache_row(t) + head_size];
            for (a, &x) in acc.iter_mut().zip(v) {
                *a += w as i32 * x as i32;
            }
        }
        for (w, &a) in self.wide[..head_size].iter_mut().zip(acc.iter()) {
            *w = a as i64;
        }
        let out = &mut self.heads[h * head_size..(h + 1) * head_size];
        let e = normalize(&self.wide[..head_size], weights_exp, WIDE_BITS, out);
        let r = recip(sum);
        for (w, &o) in self.wide[..head_size].iter_mut().zip(out.iter()) {
            *w = o as i64 * r.mant as i64;
        }
        self.head_exps[h] = normalize(&self.wide[..head_size], e + r.exp, WIDE_BITS, out);
    }

    fn ffn_block(&mut self, l: usize) {
        let layer = &self.model.layers[l];

        // ffn_norm
        let xb_exp = rmsnorm(
            &self.x,
            self.x_exp,
            self.model.rms_eps,
            &layer.ffn_norm,
            &mut self.wide,
            &mut self.narrow,
            &mut self.xb,
        );
        let xb = std::mem::take(&mut self.xb);
        self.keep_narrow(ModelStep::FfnNorm, Some(l), &xb, xb_exp);

        // ffn: w2(silu(w1 x) * w3 x), added into the residual stream a block of hidden units
        // at a time, each block with its own exponents
        let layer = &self.model.layers[l];
        for (block, w2) in hidden_blocks(layer.w1.rows).zip(&self.w2_blocks[l]) {
            let (hb, hb3) = (&mut self.hb[block.clone()], &mut self.hb3[block.clone()]);
            let e1 = matvec_rows(&layer.w1, block.clone(), &xb, xb_exp, &mut self.wide, hb);
            let e3 = matvec_rows(&layer.w3, block.clone(), &xb, xb_exp, &mut self.wide, hb3);
            let n = block.len();
            let index_shift = -(e1 + SIGMOID_INPUT_FRACTION_BITS as i32);
            for (w, &m) in self.wide[..n].iter_mut().zip(hb.iter()) {
                *w = m as i64 * sigmoid_q14(shift_round(m as i64, index_shift));
            }
            let silu_exp = normalize(&self.wide[..n], e1 - Q14_FRACTION_BITS, WIDE_BITS, hb);
            for ((w, &a), &b) in self.wide[..n].iter_mut().zip(hb.iter()).zip(hb3.iter()) {
                *w = a as i64 * b as i64;
            }
            let hh = &mut self.hh[block];
            let hh_exp = normalize_narrow(&self.wide[..n], silu_exp + e3, &mut self.narrow, hh);
            let f_exp = matvec(w2, hh, hh_exp, &mut self.wide, &mut self.proj);
            self.x_exp = residual_add(&mut self.x, self.x_exp, &self.proj, f_exp, &mut self.wide);
        }
        self.xb = xb;
        let x = std::mem::take(&mut self.x);
        self.keep(ModelStep::Ffn, Some(l), &[(&x, self.x_exp)]);
        self.x = x;
    }
}

impl Engine for GoldenModel {
    fn config(&self) -> &ModelConfig {
        &self.model.config
    }

    fn step(&mut self, token: u32, pos: usize) -> Result<StepOutput<'_>, crate::ModelError> {
        crate::engine::check_step(&self.model.config, token, pos)?;
        let argmax = self.forward(token, pos);
        Ok(StepOutput {
            logits: &self.logits_f32,
            argmax,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monorail_contract::numerics::{fixed_mantissas, RMS_NORM_EPS};

    /// `run.c`'s RMSNorm in doubles, with or without its eps.
    fn float_rmsnorm(x: &[f64], g: &[f32], eps: f64) -> Vec<f64> {
        let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let scale = 1.0 / (ms + eps).sqrt();
        x.iter()
            .zip(g)
            .map(|(v, &w)| w as f64 * v * scale)
            .collect()
    }

    fn relative_rms_error(got: &[f64], want: &[f64]) -> f64 {
        let err: f64 = got.iter().zip(want).map(|(a, b)| (a - b).powi(2)).sum();
        let norm: f64 = want.iter().map(|b| b * b).sum();
        (err / norm).sqrt()
    }

    /// The golden RMSNorm keeps run.c's eps: it follows run.c where eps outweighs the mean
    /// square as where it does not, and where eps's term is clamped (the scale's exponent
    /// taking the rest).
    #[test]
    fn rmsnorm_keeps_eps_as_run_c_does() {
        let dim = 64;
        let g: Vec<f32> = (0..dim).map(|j| 0.5 + (j % 7) as f32 * 0.1).collect();
        let gains = NormWeights::quantize(&g);
        let shape: Vec<f64> = (0..dim)
            .map(|j| ((j * 37 % 23) as f64 - 11.0) / 11.0)
            .collect();
        let shape_rms = (shape.iter().map(|v| v * v).sum::<f64>() / dim as f64).sqrt();
        let (mut wide, mut narrow, mut out) = (vec![0; dim], vec![0; dim], vec![0i8; dim]);
        let eps = RmsEps::for_dim(dim);
        let mut clamped = 0;
        for rms in [1.0, 0.03, 3e-3, 1e-3, 3e-4, 3e-5, 3e-6, 3e-7, 1e-12, 1e-30] {
            let x: Vec<f64> = shape.iter().map(|v| v * rms / shape_rms).collect();
            let (mant, exp) = fixed_mantissas(&x);
            clamped += usize::from(eps.clamp_halves(exp) > 0);
            let e = rmsnorm(&mant, exp, eps, &gains, &mut wide, &mut narrow, &mut out);
            let got: Vec<f64> = out.iter().map(|&m| m as f64 * pow2(e)).collect();
            let want = float_rmsnorm(&x, &g, RMS_NORM_EPS);
            let error = relative_rms_error(&got, &want);
            assert!(error < 0.02, "RMS {rms}: {error} from run.c's");
            // Where eps matters, dropping it would part from run.c: this test would see it.
            let without = float_rmsnorm(&x, &g, 0.0);
            if rms <= 1e-3 {
                assert!(relative_rms_error(&without, &want) > 0.04, "RMS {rms}");
            }
        }
        // The smallest take the term's clamp, and the scale's exponent the rest.
        assert!(clamped >= 3, "{clamped} clamped");
    }
}
