//! Pass `lower`: one token step of the model as instructions, step by step in the golden model's
//! order and with its exact arithmetic (`sw/model/src/golden.rs`, `docs/numerics.md`).
//!
//! Consumes the quantised model and its [`Layout`]; produces the instructions (without waits),
//! each tagged with the model step it serves, and the checkpoints: where each step's value can be
//! read and after which instruction. Guarantees that every value the golden model records at a
//! named step is computed by the same integer operations in the same order of roundings.

use monorail_contract::bundle::{CheckpointPart, CheckpointSpec};
use monorail_contract::isa::{positions_plus, Instr, Op, REG_TOKEN, REG_ZERO};
use monorail_contract::numerics::{
    hidden_blocks, int8_dot_bits, normalize_shift, QuantMatrix, ACCUMULATOR_BITS,
    EXP2_INPUT_FRACTION_BITS, HIDDEN_BLOCK, NARROW_BITS, Q14_FRACTION_BITS, RMS_EXP_BELOW_RECIP,
    SUM_SQUARES_SHIFT, WIDE_BITS, WIDE_MANTISSA_MAX,
};
use monorail_contract::steps::ModelStep;
use monorail_contract::target::{Target, MIN_REGISTERS};
use monorail_model::quant::{QuantLayer, QuantModel};
use std::ops::Range;

use crate::layout::{LayerAt, Layout, MatrixAt};

/// An instruction and the model step it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tagged {
    /// The instruction.
    pub instr: Instr,
    /// Its model step.
    pub step: ModelStep,
    /// Its layer, for layer steps.
    pub layer: Option<usize>,
}

/// The lowered program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lowered {
    /// Instructions in program order.
    pub code: Vec<Tagged>,
    /// Checkpoints (`after` indexes `code`).
    pub checkpoints: Vec<CheckpointSpec>,
}

// Registers with one meaning through the program.
const R_X: i64 = 3; // exponent of the residual stream
const R_XB: i64 = 4; // exponent of the normed input of the matrix unit
const R_Q: i64 = 5; // exponent of q
const R_K: i64 = 6; // exponent of k
const R_V: i64 = 7; // exponent of v
const R_ATT: i64 = 8; // exponent of the joined attention output
const R_PROJ: i64 = 9; // exponent of a projection output (wo, w2)
const R_LOGITS: i64 = 10; // exponent of the logits
const R_NEXT: i64 = 11; // the next token
/// Temporaries are handed out round-robin from here to the target's last register; the scheduler
/// renames them (`schedule::schedule`). (The FFN's exponents are temporaries: one for each block
/// of hidden units.)
pub const FIRST_TEMP: i64 = 12;
const _: () = assert!(
    FIRST_TEMP < MIN_REGISTERS as i64,
    "every target has temporaries"
);

/// A matrix stacked in a product's matrix (`Emitter::matvec`), and where its requantised
/// results go.
#[derive(Clone, Copy)]
struct Part {
    /// Its first row in the stacked matrix.
    first: usize,
    /// Its rows.
    rows: usize,
    /// Its accumulators' bound ([`QuantMatrix::accumulator_bound`]).
    bound: u64,
    /// The exponent of its row scales.
    scale_exp: i32,
    /// Where its results go.
    dst: usize,
    /// The register that gets their exponent.
    eout: i64,
}

impl Part {
    /// `matrix`, from row `first` of the stacked matrix, into `dst` with exponent in `eout`.
    fn of(first: usize, matrix: &QuantMatrix, dst: usize, eout: i64) -> Part {
        Part {
            first,
            rows: matrix.rows,
            bound: matrix.accumulator_bound(),
            scale_exp: matrix.row_scale_exp,
            dst,
            eout,
        }
    }
}

/// Where the FFN's products keep their intermediates (`acc`, `wide`), as offsets into
/// those buffers: apart, where the buffers hold them, so that a product streams while the vector
/// unit still requantises the one before.
struct FfnPlaces {
    /// `w3`'s (w1's are at 0).
    w3: usize,
    /// `w2`'s, the blocks taking them in turn.
    w2: Vec<usize>,
}

struct Emitter<'a> {
    layout: &'a Layout,
    model: &'a QuantModel,
    /// The target's matrix lanes.
    lanes: usize,
    code: Vec<Tagged>,
    checkpoints: Vec<CheckpointSpec>,
    step: ModelStep,
    layer: Option<usize>,
    next_temp: i64,
    last_temp: i64,
    /// Temporaries that [`Emitter::temp`] skips while a value in them is still to be read
    /// (bit mask).
    pinned: u64,
    /// The most pieces a matrix product is issued in ([`Emitter::matvec_at`]).
    product_pieces: usize,
    /// The exponent and magnitude (pinned) of what the residual stream's last normalisation
    /// read, from which the next RMSNorm works out its exponent before that normalisation ends.
    residual_pre: Option<(i64, i64)>,
}

impl Emitter<'_> {
    fn emit(&mut self, op: Op) {
        self.code.push(Tagged {
            instr: Instr::new(op),
            step: self.step,
            layer: self.layer,
        });
    }

    /// The next temporary in turn, skipping the pinned ones.
    fn temp(&mut self) -> i64 {
        loop {
            let r = self.next_temp;
            self.next_temp = if r == self.last_temp {
                FIRST_TEMP
            } else {
                r + 1
            };
            if self.pinned & (1 << r) == 0 {
                return r;
            }
        }
    }

    /// `N` temporaries that hold their values together: the temporaries go round in turn, so
    /// that more than are free (not pinned) would hand a register out twice.
    fn temps<const N: usize>(&mut self) -> [i64; N] {
        let free = self.free_temps();
        assert!(N <= free, "{N} temporaries at once, where {free} are free");
        std::array::from_fn(|_| self.temp())
    }

    /// A temporary that keeps its value, however many temporaries are taken after it, until
    /// [`Emitter::unpin`].
    fn pinned_temp(&mut self) -> i64 {
        let r = self.temp();
        self.pinned |= 1 << r;
        assert!(self.free_temps() > 0, "a temporary is left unpinned");
        r
    }

    /// Keep `e` and `m` (the residual stream's normalisation's input exponent and magnitude)
    /// for the next RMSNorm, letting the previous ones go.
    fn keep_residual_pre(&mut self, e: i64, m: i64) {
        if let Some((e0, m0)) = self.residual_pre.replace((e, m)) {
            self.unpin(e0);
            self.unpin(m0);
        }
        self.pinned |= (1 << e) | (1 << m);
        assert!(self.free_temps() > 0, "a temporary is left unpinned");
    }

    /// The temporaries not pinned.
    fn free_temps(&self) -> usize {
        (FIRST_TEMP..=self.last_temp)
            .filter(|&t| self.pinned & (1 << t) == 0)
            .count()
    }

    /// Let [`Emitter::temp`] take `r` again.
    fn unpin(&mut self, r: i64) {
        self.pinned &= !(1 << r);
    }

    fn at(&mut self, step: ModelStep, layer: Option<usize>) {
        self.step = step;
        self.layer = layer;
    }

    /// Record that the current step's value is complete after the last instruction.
    fn checkpoint(&mut self, parts: &[(usize, usize, i64)]) {
        self.checkpoints.push(CheckpointSpec {
            step: self.step.name().to_string(),
            layer: self.layer,
            after: self.code.len() - 1,
            parts: parts
                .iter()
                .map(|&(vector, len, register)| CheckpointPart {
                    vector: Some(vector as u32),
                    len: len as u32,
                    register: register as u8,
                })
                .collect(),
        });
    }

    /// `norm` that searches its input for the largest magnitude (two passes).
    fn norm(&mut self, dst: usize, src: usize, n: usize, bits: u32, ein: i64, eout: i64) {
        self.norm_len(dst, src, n as i64, bits, ein, eout, REG_ZERO as i64);
    }

    /// `norm` with the magnitude in `mag`: that of what the producer that wrote it wrote to `src`,
    /// all of it, or a bound known beforehand (one pass).
    #[allow(clippy::too_many_arguments)]
    fn norm_by(
        &mut self,
        dst: usize,
        src: usize,
        n: usize,
        bits: u32,
        ein: i64,
        eout: i64,
        mag: i64,
    ) {
        self.norm_len(dst, src, n as i64, bits, ein, eout, mag);
    }

    /// `norm` with a raw length field (which may follow the position).
    #[allow(clippy::too_many_arguments)]
    fn norm_len(
        &mut self,
        dst: usize,
        src: usize,
        n: i64,
        bits: u32,
        ein: i64,
        eout: i64,
        mag: i64,
    ) {
        self.emit(Op::Norm {
            dst: dst as i64,
            src: src as i64,
            n,
            bits: bits as i64,
            ein,
            eout,
            mag,
        });
    }

    /// attn_norm / ffn_norm / final_norm: `x / rms(x) * g` into `xb` (8-bit), exponent in R_XB.
    /// The scale is `rsqrt((ss >> SUM_SQUARES_SHIFT) + eps term)` (`numerics::rms_scale`): the
    /// eps term is the constant mantissa shifted by twice the residual's exponent, clamped from
    /// below, plus the constant shift (`shrv`'s exponent difference, into a wide element, as
    /// the term can take 31 bits); half the sum's shift and the clamp's halves come off the
    /// gains' exponent. The residual's exponent is worked out from its normalisation's input
    /// exponent and magnitude ([`Emitter::keep_residual_pre`]), so that the term's path starts
    /// as that normalisation issues.
    fn rmsnorm(&mut self, g: usize, g_exp: i32, dim: usize) {
        let s = &self.layout.scratch;
        let (x, xb, wide, t16, eps_term) = (s.x, s.xb, s.wide, s.t16, s.eps_term);
        let eps = self.model.rms_eps;
        // The residual's exponent from its normalisation's input exponent and magnitude, a
        // table's latency after they are known instead of the normalisation's stream
        // (numerics::rms_eps_exp): u = ein - recip(m).exp, the exponent RMS_EXP_BELOW_RECIP
        // below it, which the clamp's constant here and the shift's (RmsEps::shift_offset) take
        // off.
        let (pre_e, pre_m) = self
            .residual_pre
            .take()
            .expect("a residual before its norm");
        let rexp = self.temp();
        let u = self.pinned_temp();
        // Only the exponent: the mantissa goes to r0, which drops it.
        self.emit(Op::Recip {
            mant: REG_ZERO as i64,
            exp: rexp,
            a: pre_m,
        });
        self.emit(Op::Sub {
            dst: u,
            a: pre_e,
            b: rexp,
        });
        self.unpin(pre_e);
        self.unpin(pre_m);
        let temps: [i64; 16] = self.temps();
        let [ss, mant, exp, eg, e1, e2, m1, m2, ..] = temps;
        let [.., half, least, twice, halves, term, shifted, sum, eg_less] = temps;
        self.emit(Op::Sumsq {
            dst: ss,
            src: x as i64,
            n: dim as i64,
        });
        // max(2e, min) as twice max(e, min / 2) (min is even), and the clamp's halves
        self.emit(Op::Li {
            dst: least,
            imm: (eps.min_twice_exp() / 2 + RMS_EXP_BELOW_RECIP) as i64,
        });
        self.emit(Op::Max {
            dst: half,
            a: u,
            b: least,
        });
        self.emit(Op::Add {
            dst: twice,
            a: half,
            b: half,
        });
        self.emit(Op::Sub {
            dst: halves,
            a: half,
            b: u,
        });
        self.unpin(u);
        self.emit(Op::Shrv {
            dst: eps_term as i64,
            a: self.layout.rms_eps_mant as i64,
            b: self.layout.rms_eps_shift_offset as i64,
            n: 1,
            s: twice,
            mag: REG_ZERO as i64,
        });
        self.emit(Op::Getv {
            dst: term,
            src: eps_term as i64,
            idx: REG_ZERO as i64,
        });
        self.emit(Op::Shri {
            dst: shifted,
            a: ss,
            imm: SUM_SQUARES_SHIFT as i64,
        });
        self.emit(Op::Add {
            dst: sum,
            a: shifted,
            b: term,
        });
        self.emit(Op::Rsqrt { mant, exp, a: sum });
        self.emit(Op::Mul {
            dst: wide as i64,
            a: x as i64,
            b: g as i64,
            n: dim as i64,
            mag: m1,
            sh: 0,
        });
        // rms_scale's exponent less half the sum's shift and the clamp's halves, taken off
        // here instead
        self.emit(Op::Li {
            dst: eg,
            imm: g_exp as i64 - (SUM_SQUARES_SHIFT / 2) as i64,
        });
        self.emit(Op::Sub {
            dst: eg_less,
            a: eg,
            b: halves,
        });
        self.norm_by(t16, wide, dim, WIDE_BITS, eg_less, e1, m1);
        self.emit(Op::Muls {
            dst: wide as i64,
            a: t16 as i64,
            n: dim as i64,
            s: mant,
            mag: m2,
        });
        self.emit(Op::Add {
            dst: e2,
            a: e1,
            b: exp,
        });
        self.norm_by(xb, wide, dim, NARROW_BITS, e2, R_XB, m2);
    }

    /// A matrix product and its requantisation: `parts` are the matrices stacked in `w`.
    fn matvec(&mut self, w: MatrixAt, scales: usize, x: usize, x_exp: i64, parts: &[Part]) {
        self.matvec_at(0, w, scales, x, x_exp, parts);
    }

    /// [`Self::matvec`] with its intermediates (`acc`, `wide`) `offset` elements into
    /// their buffers: a second product whose intermediates do not meet the first's can start
    /// while the vector unit still requantises the first.
    ///
    /// The product is issued in pieces of whole row blocks: at most `product_pieces` for the
    /// matrix, and a new piece wherever a part starts on a row block (qkv: q apart from k and v
    /// on a core whose lanes divide dim). The wide core's matrix unit takes the same cycles
    /// either way (a matvec has no fixed occupancy), and a piece's results are normalised with
    /// the accumulators' bound and multiplied by their row scales as soon as they drain, while
    /// the matrix unit streams the next piece; only a part's last normalisation waits for all
    /// its pieces, with the largest of their magnitudes. The values are those of one product:
    /// the bound's shift is the same for every piece, and the largest magnitude has the bit
    /// length of their OR.
    fn matvec_at(
        &mut self,
        offset: usize,
        w: MatrixAt,
        scales: usize,
        x: usize,
        x_exp: i64,
        parts: &[Part],
    ) {
        let s = &self.layout.scratch;
        let (acc, wide) = (s.acc + offset, s.wide + offset);
        let lanes = self.lanes;
        let blocks_per_piece = w.rows.div_ceil(lanes).div_ceil(self.product_pieces);
        let mut starts: Vec<usize> = (0..w.rows).step_by(blocks_per_piece * lanes).collect();
        starts.extend(
            parts
                .iter()
                .map(|p| p.first)
                .filter(|&first| first % lanes == 0),
        );
        starts.sort_unstable();
        starts.dedup();
        starts.push(w.rows);
        for run in starts.windows(2) {
            self.emit(Op::Matvec {
                dst: (acc + run[0]) as i64,
                w: (w.word + run[0] / lanes * w.cols) as i64,
                wreg: REG_ZERO as i64,
                x: x as i64,
                rows: (run[1] - run[0]) as i64,
                cols: w.cols as i64,
            });
        }
        for &Part {
            first,
            rows,
            bound: accumulator_bound,
            scale_exp,
            dst,
            eout,
        } in parts
        {
            // The accumulators normalised with the shift of their bound (docs/numerics.md,
            // *qkv*) in the same pass as the product with the row scales, piece by piece.
            let shift = normalize_shift(accumulator_bound, ACCUMULATOR_BITS);
            let mut magnitude = None;
            for run in starts.windows(2) {
                let (from, to) = (run[0].max(first), run[1].min(first + rows));
                if from >= to {
                    continue;
                }
                let m = self.temp();
                self.emit(Op::Mul {
                    dst: (wide + from) as i64,
                    a: (acc + from) as i64,
                    b: (scales + from) as i64,
                    n: (to - from) as i64,
                    mag: m,
                    sh: shift as i64,
                });
                magnitude = Some(match magnitude {
                    None => m,
                    Some(before) => {
                        let largest = self.temp();
                        self.emit(Op::Max {
                            dst: largest,
                            a: before,
                            b: m,
                        });
                        largest
                    }
                });
            }
            let e = self.temp();
            self.emit(Op::Addi {
                dst: e,
                a: x_exp,
                imm: (shift + scale_exp) as i64,
            });
            let m = magnitude.expect("a part has rows");
            self.norm_by(dst, wide + first, rows, WIDE_BITS, e, eout, m);
        }
    }

    /// wo / ffn: `x += proj`, aligned and renormalised.
    fn residual_add(&mut self, dim: usize) {
        let s = &self.layout.scratch;
        let (x, proj, wide) = (s.x, s.proj, s.wide);
        let (e, m) = (self.temp(), self.temp());
        self.emit(Op::Addalign {
            dst: wide as i64,
            a: x as i64,
            b: proj as i64,
            n: dim as i64,
            ea: R_X,
            eb: R_PROJ,
            eout: e,
            mag: m,
        });
        self.norm_by(x, wide, dim, WIDE_BITS, e, R_X, m);
        self.keep_residual_pre(e, m);
    }

    /// embedding: the token's row of the table, times its row scale, into the residual stream.
    fn embedding(&mut self) {
        let (layout, model, lanes) = (self.layout, self.model, self.lanes);
        let s = &layout.scratch;
        let dim = model.config.dim;
        // the token's lane of its row block
        let (block, offset, lane, scale, exp, m) = (
            self.temp(),
            self.temp(),
            self.temp(),
            self.temp(),
            self.temp(),
            self.temp(),
        );
        self.emit(Op::Shri {
            dst: block,
            a: REG_TOKEN as i64,
            imm: lanes.trailing_zeros() as i64,
        });
        self.emit(Op::Muli {
            dst: offset,
            a: block,
            imm: dim as i64,
        });
        self.emit(Op::Andi {
            dst: lane,
            a: REG_TOKEN as i64,
            imm: (lanes - 1) as i64,
        });
        self.emit(Op::Onehot {
            dst: s.onehot as i64,
            n: lanes as i64,
            idx: lane,
        });
        self.emit(Op::Dotv {
            dst: s.acc as i64,
            w: layout.embedding.word as i64,
            wreg: offset,
            x: s.onehot as i64,
            rows: lanes as i64,
            cols: dim as i64,
        });
        self.emit(Op::Getv {
            dst: scale,
            src: layout.embedding_scales as i64,
            idx: REG_TOKEN as i64,
        });
        self.emit(Op::Muls {
            dst: s.wide as i64,
            a: s.acc as i64,
            n: dim as i64,
            s: scale,
            mag: m,
        });
        self.emit(Op::Li {
            dst: exp,
            imm: model.token_embedding.row_scale_exp as i64,
        });
        self.norm_by(s.x, s.wide, dim, WIDE_BITS, exp, R_X, m);
        self.keep_residual_pre(exp, m);
        self.checkpoint(&[(s.x, dim, R_X)]);
    }

    /// qkv: one stacked product, requantised per matrix.
    fn qkv(&mut self, at: &LayerAt, layer: &QuantLayer) {
        let s = &self.layout.scratch;
        let (dim, kv_dim) = (self.model.config.dim, self.model.config.kv_dim());
        self.matvec(
            at.qkv,
            at.qkv_scales,
            s.xb,
            R_XB,
            &[
                Part::of(0, &layer.wq, s.qkv, R_Q),
                Part::of(dim, &layer.wk, s.qkv + dim, R_K),
                Part::of(dim + kv_dim, &layer.wv, s.qkv + dim + kv_dim, R_V),
            ],
        );
        self.checkpoint(&[
            (s.qkv, dim, R_Q),
            (s.qkv + dim, kv_dim, R_K),
            (s.qkv + dim + kv_dim, kv_dim, R_V),
        ]);
    }

    /// rope: q and k, each renormalised; the position's cosines and sines once per token step,
    /// in the first layer.
    fn rope(&mut self, first_layer: bool) {
        let layout = self.layout;
        let s = &layout.scratch;
        let (dim, kv_dim) = (self.model.config.dim, self.model.config.kv_dim());
        if first_layer {
            self.emit(Op::Sincos {
                dst: s.cs as i64,
                src: layout.rope_steps as i64,
                n: (dim + kv_dim) as i64,
            });
        }
        for (first, n, reg) in [(0, dim, R_Q), (dim, kv_dim, R_K)] {
            let (shifted, m) = (self.temp(), self.temp());
            self.emit(Op::Rope {
                dst: (s.wide + first) as i64,
                src: (s.qkv + first) as i64,
                cs: (s.cs + first) as i64,
                n: n as i64,
                mag: m,
            });
            self.emit(Op::Addi {
                dst: shifted,
                a: reg,
                imm: -Q14_FRACTION_BITS as i64,
            });
            self.norm_by(s.qkv + first, s.wide + first, n, WIDE_BITS, shifted, reg, m);
        }
        self.checkpoint(&[(s.qkv, dim, R_Q), (s.qkv + dim, kv_dim, R_K)]);
    }

    /// attention: this position's key and value enter the cache, 8-bit, each with one exponent
    /// for all key/value heads; then each head's scores, softmax and weighted sum of values,
    /// joined into one 8-bit vector.
    fn attention(&mut self, at: &LayerAt) {
        let (layout, model) = (self.layout, self.model);
        let s = &layout.scratch;
        let c = model.config;
        let (dim, kv_dim, hs) = (c.dim, c.kv_dim(), c.head_size());
        // k and v, 8-bit, for the cache, and the query, 8-bit, for the heads, each with one
        // exponent for all heads: they are BFP16 vectors, so their largest magnitude is a 16-bit
        // mantissa's
        let (wide_max, k_exp, v_exp) = (self.temp(), self.temp(), self.temp());
        let q_exp = self.pinned_temp();
        self.emit(Op::Li {
            dst: wide_max,
            imm: WIDE_MANTISSA_MAX,
        });
        for (first, reg, exp) in [(dim, R_K, k_exp), (dim + kv_dim, R_V, v_exp)] {
            let (dst, src) = (s.kv8 + first, s.qkv + first);
            self.norm_by(dst, src, kv_dim, NARROW_BITS, reg, exp, wide_max);
        }
        self.norm_by(s.q8, s.qkv, dim, NARROW_BITS, R_Q, q_exp, wide_max);
        for g in 0..c.n_kv_heads {
            for (first, cache) in [
                (dim + g * hs, at.keys[g]),
                (dim + kv_dim + g * hs, at.values[g]),
            ] {
                self.emit(Op::Kvstore {
                    dst: cache.word as i64,
                    src: (s.kv8 + first) as i64,
                    n: hs as i64,
                });
            }
        }
        for (exps, exp) in [(at.key_exps, k_exp), (at.value_exps, v_exp)] {
            self.emit(Op::Kvexp {
                dst: exps as i64,
                src: exp,
            });
        }
        // the cache exponents, and the largest value exponent, once for all heads
        let positions = positions_plus(0);
        let exps = s.cache_exps;
        for (dst, src) in [(exps.keys, at.key_exps), (exps.values, at.value_exps)] {
            self.emit(Op::Mload {
                dst: dst as i64,
                src: src as i64,
                n: positions,
            });
        }
        // the probabilities' shift is -(e_a + A.e + 8), one `sub` a head from this; the scores
        // are normalised with their keys' exponents alone (the query's, the same for all, is
        // taken off here instead), so e_a is their exponent plus the query's
        let neg_scale_exp = self.pinned_temp();
        self.emit(Op::Li {
            dst: neg_scale_exp,
            imm: -(model.attention_scale.exp as i64 + EXP2_INPUT_FRACTION_BITS as i64),
        });
        self.emit(Op::Sub {
            dst: neg_scale_exp,
            a: neg_scale_exp,
            b: q_exp,
        });
        self.unpin(q_exp);
        let value_max = self.pinned_temp();
        self.emit(Op::Vmax {
            dst: value_max,
            src: exps.values as i64,
            n: positions,
        });
        // the scores' top bit, not searched for: the largest an int8 query head and int8 keys
        // can give, at the largest key exponent
        let (key_max, score_top) = (self.temp(), self.pinned_temp());
        self.emit(Op::Vmax {
            dst: key_max,
            src: exps.keys as i64,
            n: positions,
        });
        self.emit(Op::Addi {
            dst: score_top,
            a: key_max,
            imm: int8_dot_bits(hs) as i64,
        });
        for h in 0..c.n_heads {
            let set = s.attention[h % s.attention.len()];
            let g = h / c.kv_mul();
            let first = h * hs;
            let (score_exp, max, shift, sum, w_exp, w_mag) = (
                self.temp(),
                self.temp(),
                self.temp(),
                self.temp(),
                self.temp(),
                self.temp(),
            );
            // scores against every cached key, each with its key's exponent
            self.emit(Op::Matvec {
                dst: set.scores as i64,
                w: at.keys[g].word as i64,
                wreg: REG_ZERO as i64,
                x: (s.q8 + first) as i64,
                rows: positions,
                cols: hs as i64,
            });
            self.emit(Op::Normg {
                dst: set.normed as i64,
                src: set.scores as i64,
                n: positions,
                exps: exps.keys as i64,
                bits: WIDE_BITS as i64,
                eout: score_exp,
                max,
                top: score_top,
            });
            // probabilities 2^((s - max) log2(e) / sqrt(head_size)), Q0.15, and their sum
            self.emit(Op::Sub {
                dst: shift,
                a: neg_scale_exp,
                b: score_exp,
            });
            self.emit(Op::Expneg {
                dst: set.probs as i64,
                src: set.normed as i64,
                n: positions,
                max,
                mant: model.attention_scale.mant as i64,
                shift,
                sum,
            });
            // weights with the value exponents folded in, 8-bit
            self.emit(Op::Shrv {
                dst: set.normed as i64,
                a: set.probs as i64,
                b: exps.values as i64,
                n: positions,
                s: value_max,
                mag: w_mag,
            });
            self.norm_len(
                set.weights,
                set.normed,
                positions,
                NARROW_BITS,
                value_max,
                w_exp,
                w_mag,
            );
            // sum_t w_t v_t, then times 1 / sum(p)
            let (out_exp, rmant, rexp, total, head_exp, out_mag) = (
                self.temp(),
                self.temp(),
                self.temp(),
                self.temp(),
                self.temp(),
                self.temp(),
            );
            self.emit(Op::Dotv {
                dst: (s.head_acc + first) as i64,
                w: at.values[g].word as i64,
                wreg: REG_ZERO as i64,
                x: set.weights as i64,
                rows: positions,
                cols: hs as i64,
            });
            self.norm(
                s.t16 + first,
                s.head_acc + first,
                hs,
                WIDE_BITS,
                w_exp,
                out_exp,
            );
            self.emit(Op::Recip {
                mant: rmant,
                exp: rexp,
                a: sum,
            });
            self.emit(Op::Muls {
                dst: (s.wide + first) as i64,
                a: (s.t16 + first) as i64,
                n: hs as i64,
                s: rmant,
                mag: out_mag,
            });
            self.emit(Op::Add {
                dst: total,
                a: out_exp,
                b: rexp,
            });
            self.norm_by(
                s.heads + first,
                s.wide + first,
                hs,
                WIDE_BITS,
                total,
                head_exp,
                out_mag,
            );
            // the head's exponent beside each of its elements
            self.emit(Op::Fill {
                dst: (s.head_exps + first) as i64,
                n: hs as i64,
                s: head_exp,
            });
        }
        self.unpin(value_max);
        self.unpin(score_top);
        self.unpin(neg_scale_exp);
        // the heads join into one 8-bit vector
        self.emit(Op::Normg {
            dst: s.att as i64,
            src: s.heads as i64,
            n: dim as i64,
            exps: s.head_exps as i64,
            bits: NARROW_BITS as i64,
            eout: R_ATT,
            max: REG_ZERO as i64,
            top: REG_ZERO as i64,
        });
        self.checkpoint(&[(s.att, dim, R_ATT)]);
    }

    /// ffn: w2(silu(w1 x) * w3 x), added into the residual stream a block of hidden units at a
    /// time (docs/numerics.md, *ffn*). A block's `w1` and `w3` rows, its SwiGLU and its `w2`
    /// columns depend on no other block, so the matrix unit streams a block's `w2` while the
    /// vector unit works on the next block's hidden units; only the residual additions follow
    /// each other. The blocks' `w1` and `w3` products are issued in groups that start on a row
    /// block: one block each where the lanes divide [`HIDDEN_BLOCK`].
    fn ffn(&mut self, at: &LayerAt, layer: &QuantLayer, places: &FfnPlaces) {
        let s = &self.layout.scratch;
        let (lanes, dim) = (self.lanes, self.model.config.dim);
        let blocks: Vec<Range<usize>> = hidden_blocks(self.model.config.hidden_dim).collect();
        let mut next = 0;
        while next < blocks.len() {
            let first = next;
            next += 1;
            while next < blocks.len() && blocks[next - 1].end % lanes != 0 {
                next += 1;
            }
            let group = &blocks[first..next];
            let (lo, hi) = (group[0].start, group[group.len() - 1].end);
            let rows_of = |m: MatrixAt| MatrixAt {
                word: m.word + lo / lanes * m.cols,
                rows: hi - lo,
                cols: m.cols,
            };
            let mut parts = |m: &QuantMatrix, dst: usize| -> Vec<Part> {
                group
                    .iter()
                    .map(|rows| Part {
                        first: rows.start - lo,
                        rows: rows.len(),
                        bound: m.accumulator_bound_of(rows.clone()),
                        scale_exp: m.row_scale_exp,
                        dst: dst + rows.start,
                        eout: self.pinned_temp(),
                    })
                    .collect()
            };
            let (gate, up) = (parts(&layer.w1, s.h1), parts(&layer.w3, s.h3));
            self.matvec_at(lo, rows_of(at.w1), at.w1_scales + lo, s.xb, R_XB, &gate);
            // w3's intermediates beside w1's when the scratch buffers hold both (they are as
            // wide as the widest vector; the vocabulary makes them so): w3's product then
            // streams while w1's is requantised and put through silu.
            let up_at = places.w3 + lo;
            self.matvec_at(up_at, rows_of(at.w3), at.w3_scales + lo, s.xb, R_XB, &up);
            for ((rows, gate), up) in group.iter().zip(&gate).zip(&up) {
                let hh_exp = self.swiglu(rows.clone(), gate.eout, up.eout);
                self.unpin(gate.eout);
                self.unpin(up.eout);
                let block = layer.w2.column_block(rows.clone());
                self.matvec_at(
                    places.w2[rows.start / HIDDEN_BLOCK % places.w2.len()],
                    at.w2.column_block(lanes, rows.clone()),
                    at.w2_scales,
                    s.hh + rows.start,
                    hh_exp,
                    &[Part::of(0, &block, s.proj, R_PROJ)],
                );
                self.unpin(hh_exp);
                self.residual_add(dim);
            }
        }
        self.checkpoint(&[(s.x, dim, R_X)]);
    }

    /// The SwiGLU of the hidden units `rows`, from `h1` and `h3` with exponents in `e1` and `e3`
    /// (their requantised intermediates in `t16` and `wide` free again), to 8 bits in `hh`;
    /// returns the register of its exponent, pinned.
    fn swiglu(&mut self, rows: Range<usize>, e1: i64, e3: i64) -> i64 {
        let s = &self.layout.scratch;
        let (lo, n) = (rows.start, rows.len() as i64);
        let (shifted, silu_exp, product_exp, m1, m2) = (
            self.temp(),
            self.temp(),
            self.temp(),
            self.temp(),
            self.temp(),
        );
        self.emit(Op::Silu {
            dst: (s.wide + lo) as i64,
            src: (s.h1 + lo) as i64,
            n,
            e: e1,
            mag: m1,
        });
        self.emit(Op::Addi {
            dst: shifted,
            a: e1,
            imm: -Q14_FRACTION_BITS as i64,
        });
        self.norm_by(
            s.t16 + lo,
            s.wide + lo,
            rows.len(),
            WIDE_BITS,
            shifted,
            silu_exp,
            m1,
        );
        self.emit(Op::Mul {
            dst: (s.wide + lo) as i64,
            a: (s.t16 + lo) as i64,
            b: (s.h3 + lo) as i64,
            n,
            mag: m2,
            sh: 0,
        });
        self.emit(Op::Add {
            dst: product_exp,
            a: silu_exp,
            b: e3,
        });
        let hh_exp = self.pinned_temp();
        self.norm_by(
            s.hh + lo,
            s.wide + lo,
            rows.len(),
            NARROW_BITS,
            product_exp,
            hh_exp,
            m2,
        );
        hh_exp
    }
}

/// The most pieces a matrix product is issued in that the compiler tries
/// (`Emitter::matvec_at`): more pieces let the vector unit start on a product's results
/// sooner, at the cost of an instruction or three more for each piece, which the cores with
/// fewer lanes (more row blocks, a busier vector unit) feel more. Of 1, 2, 4 and 8, 2 was never
/// the fastest on a built-in target, so it is not tried (each count is a schedule more).
pub const PRODUCT_PIECES: [usize; 3] = [1, 4, 8];

/// Lower one token step, each matrix product in at most `product_pieces` pieces.
pub fn lower(
    model: &QuantModel,
    layout: &Layout,
    target: &Target,
    product_pieces: usize,
) -> Lowered {
    let c = model.config;
    let (dim, hidden) = (c.dim, c.hidden_dim);
    let mut e = Emitter {
        layout,
        model,
        lanes: target.lanes,
        code: Vec::new(),
        checkpoints: Vec::new(),
        step: ModelStep::Embedding,
        layer: None,
        next_temp: FIRST_TEMP,
        last_temp: target.registers as i64 - 1,
        pinned: 0,
        product_pieces: product_pieces.max(1),
        residual_pre: None,
    };
    let s = &layout.scratch;
    let ffn_places = {
        let aligned = |n: usize| n.div_ceil(target.vector_lanes) * target.vector_lanes;
        let fits = |at: usize, n: usize| at + n <= s.widest;
        let w3 = if fits(aligned(hidden), hidden) {
            aligned(hidden)
        } else {
            0
        };
        let after = w3 + aligned(hidden);
        let w2 = if fits(after + aligned(dim), dim) {
            vec![after, after + aligned(dim)]
        } else if fits(after, dim) {
            vec![after]
        } else {
            vec![0]
        };
        FfnPlaces { w3, w2 }
    };

    e.embedding();

    for (l, (at, layer)) in layout.layers.iter().zip(&model.layers).enumerate() {
        let layer_step = Some(l);

        e.at(ModelStep::AttnNorm, layer_step);
        e.rmsnorm(at.attn_norm, layer.attn_norm.exp, dim);
        e.checkpoint(&[(s.xb, dim, R_XB)]);

        e.at(ModelStep::Qkv, layer_step);
        e.qkv(at, layer);

        e.at(ModelStep::Rope, layer_step);
        e.rope(l == 0);

        e.at(ModelStep::Attention, layer_step);
        e.attention(at);

        // wo, added into the residual stream
        e.at(ModelStep::Wo, layer_step);
        e.matvec(
            at.wo,
            at.wo_scales,
            s.att,
            R_ATT,
            &[Part::of(0, &layer.wo, s.proj, R_PROJ)],
        );
        e.residual_add(dim);
        e.checkpoint(&[(s.x, dim, R_X)]);

        e.at(ModelStep::FfnNorm, layer_step);
        e.rmsnorm(at.ffn_norm, layer.ffn_norm.exp, dim);
        e.checkpoint(&[(s.xb, dim, R_XB)]);

        e.at(ModelStep::Ffn, layer_step);
        e.ffn(at, layer, &ffn_places);
    }

    // final_norm
    e.at(ModelStep::FinalNorm, None);
    e.rmsnorm(layout.final_norm, model.final_norm.exp, dim);
    e.checkpoint(&[(s.xb, dim, R_XB)]);

    // classifier
    e.at(ModelStep::Classifier, None);
    let classifier = model.classifier();
    e.matvec(
        layout.classifier,
        layout.classifier_scales,
        s.xb,
        R_XB,
        &[Part::of(0, classifier, s.logits, R_LOGITS)],
    );
    e.checkpoint(&[(s.logits, c.vocab_size, R_LOGITS)]);

    // argmax
    e.at(ModelStep::Argmax, None);
    e.emit(Op::Argmax {
        dst: R_NEXT,
        src: s.logits as i64,
        n: c.vocab_size as i64,
    });
    e.checkpoints.push(CheckpointSpec {
        step: ModelStep::Argmax.name().to_string(),
        layer: None,
        after: e.code.len() - 1,
        parts: vec![CheckpointPart {
            vector: None,
            len: 1,
            register: R_NEXT as u8,
        }],
    });
    e.emit(Op::End { token: R_NEXT });
    Lowered {
        code: e.code,
        checkpoints: e.checkpoints,
    }
}
