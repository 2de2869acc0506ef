//! The float reference: llama2.c's `run.c` forward pass, ported operation for operation in
//! float32 (same loop orders, same `powf`/`sinf`/`cosf`/`expf`), so that it reproduces `run.c`'s
//! tokens exactly. It is the yardstick of the integer numerics, never part of the datapath.

use monorail_contract::model_config::ModelConfig;
use monorail_contract::numerics::{RMS_NORM_EPS, ROPE_THETA};

use crate::checkpoint::{Checkpoint, FloatWeights};
use crate::engine::{Engine, StepOutput};
use crate::sampler::argmax_f32;

/// A float model with its run state (activations and key/value cache).
pub struct FloatModel {
    config: ModelConfig,
    w: FloatWeights,
    x: Vec<f32>,           // (dim,) residual stream
    xb: Vec<f32>,          // (dim,)
    xb2: Vec<f32>,         // (dim,)
    hb: Vec<f32>,          // (hidden_dim,)
    hb2: Vec<f32>,         // (hidden_dim,)
    q: Vec<f32>,           // (dim,)
    att: Vec<f32>,         // (n_heads, seq_len)
    logits: Vec<f32>,      // (vocab,)
    key_cache: Vec<f32>,   // (layer, seq_len, kv_dim)
    value_cache: Vec<f32>, // (layer, seq_len, kv_dim)
}

/// `run.c`'s `rmsnorm`: `o = weight * (x / sqrt(mean(x^2) + 1e-5))`.
fn rmsnorm(o: &mut [f32], x: &[f32], weight: &[f32]) {
    let mut ss = 0.0f32;
    for &v in x {
        ss += v * v;
    }
    ss /= x.len() as f32;
    ss += RMS_NORM_EPS as f32;
    ss = 1.0 / ss.sqrt();
    for ((o, &x), &w) in o.iter_mut().zip(x).zip(weight) {
        *o = w * (ss * x);
    }
}

/// `run.c`'s `matmul`: `xout = W x` with W `(d, n)` row-major, each row accumulated left to
/// right in float32 exactly as `run.c` does. Four rows run interleaved (as gcc's unroll-and-jam
/// does with run.c at -O3): independent sums, so the same bits, without waiting on one chain.
fn matmul(xout: &mut [f32], x: &[f32], w: &[f32]) {
    let n = x.len();
    let mut blocks = xout.chunks_exact_mut(4);
    let mut i = 0;
    for out in &mut blocks {
        let rows = &w[i * n..(i + 4) * n];
        let (r0, rest) = rows.split_at(n);
        let (r1, rest) = rest.split_at(n);
        let (r2, r3) = rest.split_at(n);
        let mut val = [0.0f32; 4];
        for j in 0..n {
            let xj = x[j];
            val[0] += r0[j] * xj;
            val[1] += r1[j] * xj;
            val[2] += r2[j] * xj;
            val[3] += r3[j] * xj;
        }
        out.copy_from_slice(&val);
        i += 4;
    }
    for out in blocks.into_remainder() {
        let row = &w[i * n..(i + 1) * n];
        let mut val = 0.0f32;
        for (a, b) in row.iter().zip(x) {
            val += a * b;
        }
        *out = val;
        i += 1;
    }
}

impl FloatModel {
    /// A model ready to run from position 0.
    pub fn new(checkpoint: Checkpoint) -> FloatModel {
        let c = checkpoint.config;
        let cache = c.n_layers * c.seq_len * c.kv_dim();
        FloatModel {
            x: vec![0.0; c.dim],
            xb: vec![0.0; c.dim],
            xb2: vec![0.0; c.dim],
            hb: vec![0.0; c.hidden_dim],
            hb2: vec![0.0; c.hidden_dim],
            q: vec![0.0; c.dim],
            att: vec![0.0; c.n_heads * c.seq_len],
            logits: vec![0.0; c.vocab_size],
            key_cache: vec![0.0; cache],
            value_cache: vec![0.0; cache],
            config: c,
            w: checkpoint.weights,
        }
    }

    /// One token step at position `pos`; returns the logits.
    pub fn forward(&mut self, token: u32, pos: usize) -> &[f32] {
        let p = self.config;
        let w = &self.w;
        let (dim, hidden_dim, head_size) = (p.dim, p.hidden_dim, p.head_size());
        let (kv_dim, kv_mul) = (p.kv_dim(), p.kv_mul());

        // embedding: copy the token's row into the residual stream
        let token = token as usize;
        self.x
            .copy_from_slice(&w.token_embedding[token * dim..(token + 1) * dim]);

        for l in 0..p.n_layers {
            // attn_norm
            rmsnorm(&mut self.xb, &self.x, &w.rms_att[l * dim..(l + 1) * dim]);

            // qkv: the key and value of this position go straight into the cache
            let loff = l * p.seq_len * kv_dim;
            let kv_at = loff + pos * kv_dim;
            matmul(
                &mut self.q,
                &self.xb,
                &w.wq[l * dim * dim..(l + 1) * dim * dim],
            );
            let wkv = l * kv_dim * dim..(l + 1) * kv_dim * dim;
            matmul(
                &mut self.key_cache[kv_at..kv_at + kv_dim],
                &self.xb,
                &w.wk[wkv.clone()],
            );
            matmul(
                &mut self.value_cache[kv_at..kv_at + kv_dim],
                &self.xb,
                &w.wv[wkv],
            );

            // rope: rotate pairs (i, i+1) of q, and of k within kv_dim
            for i in (0..dim).step_by(2) {
                let head_dim = i % head_size;
                let freq = 1.0f32 / (ROPE_THETA as f32).powf(head_dim as f32 / head_size as f32);
                let val = pos as f32 * freq;
                let (fci, fcr) = (val.sin(), val.cos());
                let rotate = |vec: &mut [f32]| {
                    let (v0, v1) = (vec[i], vec[i + 1]);
                    vec[i] = v0 * fcr - v1 * fci;
                    vec[i + 1] = v0 * fci + v1 * fcr;
                };
                rotate(&mut self.q);
                if i < kv_dim {
                    rotate(&mut self.key_cache[kv_at..kv_at + kv_dim]);
                }
            }

            // attention: each head attends over positions 0..=pos of its key/value head
            for h in 0..p.n_heads {
                let q = &self.q[h * head_size..(h + 1) * head_size];
                let att = &mut self.att[h * p.seq_len..h * p.seq_len + pos + 1];
                let kv_head = (h / kv_mul) * head_size;
                for (t, a) in att.iter_mut().enumerate() {
                    let k = &self.key_cache[loff + t * kv_dim + kv_head..][..head_size];
                    let mut score = 0.0f32;
                    for i in 0..head_size {
                        score += q[i] * k[i];
                    }
                    *a = score / (head_size as f32).sqrt();
                }
                crate::sampler::softmax(att);
                let xb = &mut self.xb[h * head_size..(h + 1) * head_size];
                xb.fill(0.0);
                for (t, &a) in att.iter().enumerate() {
                    let v = &self.value_cache[loff + t * kv_dim + kv_head..][..head_size];
                    for i in 0..head_size {
                        xb[i] += a * v[i];
                    }
                }
            }

            // wo: output projection, added into the residual stream
            matmul(
                &mut self.xb2,
                &self.xb,
                &w.wo[l * dim * dim..(l + 1) * dim * dim],
            );
            for (x, &o) in self.x.iter_mut().zip(&self.xb2) {
                *x += o;
            }

            // ffn_norm
            rmsnorm(&mut self.xb, &self.x, &w.rms_ffn[l * dim..(l + 1) * dim]);

            // ffn: SwiGLU, w2(silu(w1 x) * w3 x), added into the residual stream
            let up = l * hidden_dim * dim..(l + 1) * hidden_dim * dim;
            matmul(&mut self.hb, &self.xb, &w.w1[up.clone()]);
            matmul(&mut self.hb2, &self.xb, &w.w3[up.clone()]);
            for (h, &h3) in self.hb.iter_mut().zip(&self.hb2) {
                let mut val = *h;
                val *= 1.0f32 / (1.0f32 + (-val).exp());
                val *= h3;
                *h = val;
            }
            matmul(&mut self.xb, &self.hb, &w.w2[up]);
            for (x, &o) in self.x.iter_mut().zip(&self.xb) {
                *x += o;
            }
        }

        // final_norm (in place, as run.c)
        let x = self.x.clone();
        rmsnorm(&mut self.x, &x, &w.rms_final);

        // classifier
        matmul(&mut self.logits, &self.x, w.classifier());
        &self.logits
    }
}

impl Engine for FloatModel {
    fn config(&self) -> &ModelConfig {
        &self.config
    }

    fn step(&mut self, token: u32, pos: usize) -> Result<StepOutput<'_>, crate::ModelError> {
        crate::engine::check_step(&self.config, token, pos)?;
        let logits = self.forward(token, pos);
        // argmax: run.c's sample_argmax over the float logits
        let argmax = argmax_f32(logits);
        Ok(StepOutput { logits, argmax })
    }
}
