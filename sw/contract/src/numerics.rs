//! The normative integer numerics of the Monorail datapath.
//!
//! `docs/numerics.md` explains the choices; this module is the definition. The golden model, the
//! instruction-set simulator and the RTL must produce exactly what these functions produce.
//!
//! In short:
//! - Vectors are *block floating point* (BFP): integer mantissas sharing one power-of-two exponent,
//!   `value = mantissa * 2^exp`. Between model steps they are 16-bit ([`WIDE_BITS`]); the inputs of
//!   the matrix unit are 8-bit ([`NARROW_BITS`]) so that every MAC is int8 x int8 into int32.
//! - Every step computes an exact wide integer result, then [`normalize`]s it: a max-abs reduction
//!   picks the shift that fits the largest element into the target width, every element is shifted
//!   with round-half-up ([`shift_round`]) and saturated symmetrically ([`saturate`]).
//! - Weights are int8, symmetric, one scale per output row; the per-row scales of a matrix are a
//!   15-bit mantissa each with one exponent per matrix ([`quantize_matrix`]).
//! - Non-linear functions are look-up tables of at most 1025 entries of at most 16 bits, indexed by
//!   bit fields: reciprocal square root ([`rsqrt`]), reciprocal ([`recip`]), `2^-u` ([`exp2_neg_q15`]),
//!   sigmoid ([`sigmoid_q14`]) and sine/cosine of a 32-bit phase ([`sin_cos_q14`]).
//!
//! No floating point is used in the datapath. Floating point appears only offline, in weight
//! quantisation and table generation, and there only IEEE-754 double operations whose results are
//! reproducible (see [`tables`] for how the transcendental ones are kept robust).

use std::sync::OnceLock;

/// Mantissa width of the vectors that flow between model steps.
pub const WIDE_BITS: u32 = 16;
/// The largest magnitude of a [`WIDE_BITS`] mantissa (saturation is symmetric): a normalised
/// BFP16 vector's largest element has its bit length, unless the vector is all zero.
pub const WIDE_MANTISSA_MAX: i64 = (1 << (WIDE_BITS - 1)) - 1;
/// Mantissa width of the matrix unit's inputs (activations broadcast to the lanes, and weights).
pub const NARROW_BITS: u32 = 8;
/// Largest magnitude of an int8 weight or activation: the range is symmetric, `[-127, 127]`.
pub const INT8_MAX: i32 = 127;
/// The bit length of the largest magnitude a sum of `n` products of int8 values can have
/// (`n * 127 * 127`): a bound on an attention score, the dot product of an 8-bit query head and
/// an 8-bit cached key, that the machine's grouped normalisation of the scores takes instead of
/// searching them (docs/numerics.md, *attention*).
pub fn int8_dot_bits(n: usize) -> u32 {
    bit_length(n as u64 * (INT8_MAX as u64 * INT8_MAX as u64))
}
/// Mantissa width of a matrix product's accumulators after their first normalisation, which
/// takes its shift from the matrix's [`QuantMatrix::accumulator_bound`] and so leaves the
/// mantissas some bits short of it: the widest whose product with a row-scale mantissa (at most
/// [`WIDE_MANTISSA_MAX`]) still fits the int32 it is stored as.
pub const ACCUMULATOR_BITS: u32 = 17;
const _: () =
    assert!(((1i64 << (ACCUMULATOR_BITS - 1)) - 1) * WIDE_MANTISSA_MAX <= i32::MAX as i64);
/// The FFN's hidden units go in blocks of this many, each with its own exponents from `w1`'s and
/// `w3`'s products to `w2`'s input, and `w2` is applied a block of its columns at a time, each
/// block's product added into the residual stream (docs/numerics.md, *ffn*): so the matrix unit
/// can stream a block's `w2` while the vector unit still works on the next block, where one
/// exponent for all hidden units held `w2` back until the last of them was done. A constant of
/// the numerics, not of the target, so that every target computes the same values.
pub const HIDDEN_BLOCK: usize = 64;

/// The FFN's blocks of hidden units ([`HIDDEN_BLOCK`]), in order; the last may be shorter.
pub fn hidden_blocks(hidden: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..hidden)
        .step_by(HIDDEN_BLOCK)
        .map(move |lo| lo..(lo + HIDDEN_BLOCK).min(hidden))
}

/// Fraction bits of the Q1.14 fixed-point format of sine, cosine and sigmoid values.
pub const Q14_FRACTION_BITS: i32 = 14;
/// `1.0` in Q1.14.
pub const Q14_ONE: i64 = 1 << Q14_FRACTION_BITS;
/// Guard bits of the residual addition: the larger operand is aligned this far up.
pub const RESIDUAL_GUARD_BITS: i32 = WIDE_BITS as i32 - 1;
/// Fraction bits of the scalar multipliers ([`FixedScale`]) and of the `2^-u` table (Q0.15).
pub const SCALE_FRACTION_BITS: u32 = 15;
/// Fraction bits of the base-2 exponent that feeds [`exp2_neg_q15`] (Q.8).
pub const EXP2_INPUT_FRACTION_BITS: u32 = 8;
/// `2^-u` for `u >= EXP2_INPUT_LIMIT` (in Q.8) is zero.
pub const EXP2_INPUT_LIMIT: i64 = 16 << EXP2_INPUT_FRACTION_BITS;
/// Fraction bits of the sigmoid table's input (`x` in steps of 1/64).
pub const SIGMOID_INPUT_FRACTION_BITS: u32 = 6;
/// Largest sigmoid table index: inputs are clamped to `[-511, 511] / 64`, about `[-8, 8)`.
pub const SIGMOID_INPUT_MAX: i64 = 511;
/// Entries of the quarter-wave sine table, not counting its end point (`sin(pi/2)`).
pub const SINE_QUARTER_ENTRIES: usize = 1024;
/// The phase of RoPE's rotation is a 32-bit fraction of a turn; its top bits index the sine table.
pub const PHASE_BITS: u32 = 32;
/// Bits of the phase that index one turn of the sine table (4096 steps per turn).
pub const PHASE_INDEX_BITS: u32 = 12;

/// Number of significant bits of `x` (0 for 0).
#[inline]
pub fn bit_length(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// `x * 2^-s`, rounded half up (toward +infinity) when `s > 0`; an exact left shift when
/// `s <= 0`, saturated to the `i64` range. This is the only rounding rule of the datapath:
/// in hardware it is an adder of `2^(s-1)` followed by an arithmetic shift.
#[inline]
pub fn shift_round(x: i64, s: i32) -> i64 {
    // Fast path: every value of the datapath is far below 2^62, so the sum cannot overflow.
    if (1..=62).contains(&s) && x.unsigned_abs() < 1 << 62 {
        return (x + (1i64 << (s - 1))) >> s;
    }
    if s > 0 {
        let s = s.min(126) as u32;
        ((x as i128 + (1i128 << (s - 1))) >> s) as i64
    } else if s == 0 || x == 0 {
        x
    } else {
        let left = (-s) as u32;
        if left > 64 {
            return if x > 0 { i64::MAX } else { -i64::MAX };
        }
        let wide = (x as i128) << left;
        wide.clamp(-(i64::MAX as i128), i64::MAX as i128) as i64
    }
}

/// Clamp `x` to the symmetric range of a `bits`-wide signed integer, `[-(2^(bits-1) - 1),
/// 2^(bits-1) - 1]`. Symmetric so that negation never overflows.
#[inline]
pub fn saturate(x: i64, bits: u32) -> i64 {
    let max = (1i64 << (bits - 1)) - 1;
    x.clamp(-max, max)
}

/// The shift that [`normalize`] applies to fit `max_abs` into `bits`: the largest element lands
/// in `[2^(bits-2), 2^(bits-1))` before rounding. Zero for an all-zero vector.
#[inline]
pub fn normalize_shift(max_abs: u64, bits: u32) -> i32 {
    if max_abs == 0 {
        0
    } else {
        bit_length(max_abs) as i32 - (bits as i32 - 1)
    }
}

/// `out[i] = saturate(shift_round(values[i], s), bits)` for a whole slice, with the shift's cases
/// hoisted out of the loop (the hot loop of every normalisation).
#[inline]
fn shift_slice(values: &[i64], s: i32, bits: u32, out: &mut [i32]) {
    let max = (1i64 << (bits - 1)) - 1;
    let small = values.iter().all(|v| v.unsigned_abs() < 1 << 61);
    if small && (1..=62).contains(&s) {
        let half = 1i64 << (s - 1);
        for (o, &v) in out.iter_mut().zip(values) {
            *o = ((v + half) >> s).clamp(-max, max) as i32;
        }
    } else if small && (-2..=0).contains(&s) {
        for (o, &v) in out.iter_mut().zip(values) {
            *o = (v << -s).clamp(-max, max) as i32;
        }
    } else {
        for (o, &v) in out.iter_mut().zip(values) {
            *o = saturate(shift_round(v, s), bits) as i32;
        }
    }
}

/// Normalise exact wide values `values[i] * 2^exp` to `bits`-bit mantissas with one shared
/// exponent, which is returned. `out[i] = saturate(shift_round(values[i], s), bits)` with
/// `s = normalize_shift(max |values|, bits)`, and the exponent is `exp + s`.
pub fn normalize(values: &[i64], exp: i32, bits: u32, out: &mut [i32]) -> i32 {
    normalize_by(values, exp, bits, magnitude(values.iter().copied()), out)
}

/// [`normalize`] with the shift of `max_abs`, which must have at least the bit length of the
/// largest `|values[i]|`: with that bit length (such as their [`magnitude`]) it is
/// [`normalize`]; with a longer one the mantissas are shorter than `bits` (never saturated).
pub fn normalize_by(values: &[i64], exp: i32, bits: u32, max_abs: u64, out: &mut [i32]) -> i32 {
    debug_assert_eq!(values.len(), out.len());
    let s = normalize_shift(max_abs, bits);
    shift_slice(values, s, bits, out);
    exp + s
}

/// Bits of a magnitude register (`isa`'s *Magnitudes*): a stored result has 32 bits at most (the
/// accumulator and wide memories' elements), so the OR of their absolute values is below
/// `2^MAGNITUDE_BITS`; a `norm` refuses a register outside that range.
pub const MAGNITUDE_BITS: u32 = 32;

/// The magnitude of `values`: the bitwise OR of their absolute values, which has the bit length
/// of the largest (what a `mag` register gets; an OR where hardware would compare).
pub fn magnitude(values: impl IntoIterator<Item = i64>) -> u64 {
    values.into_iter().fold(0, |m, v| m | v.unsigned_abs())
}

/// Normalise values that come in groups of `group` elements, each group with its own exponent
/// (`values[i] * 2^exps[i / group]`), to `bits`-bit mantissas with one shared exponent, in a
/// single rounding. The shared exponent is `E - (bits - 1)` where `E` is the largest
/// `bit_length(|v|) + exp` over the non-zero elements ([`grouped_top`]); an all-zero input keeps
/// the largest group exponent.
pub fn normalize_grouped(
    values: &[i64],
    exps: &[i32],
    group: usize,
    bits: u32,
    out: &mut [i32],
) -> i32 {
    match grouped_top(values, exps, group) {
        Some(top) => normalize_grouped_by(values, exps, group, bits, top, out),
        None => {
            out.iter_mut().for_each(|o| *o = 0);
            exps.iter().copied().max().unwrap_or(0)
        }
    }
}

/// The largest `bit_length(|values[i]|) + exps[i / group]` over the non-zero values (`None`
/// when all are zero): the top bit of the largest value of a [`normalize_grouped`].
pub fn grouped_top(values: &[i64], exps: &[i32], group: usize) -> Option<i32> {
    debug_assert_eq!(values.len(), exps.len() * group);
    let mut top: Option<i32> = None;
    for (g, &e) in exps.iter().enumerate() {
        let chunk = &values[g * group..(g + 1) * group];
        let max_abs = chunk.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
        if max_abs != 0 {
            let t = bit_length(max_abs) as i32 + e;
            top = Some(top.map_or(t, |m| m.max(t)));
        }
    }
    top
}

/// [`normalize_grouped`] with the top bit `top` given instead of searched for: the shared
/// exponent is `top - (bits - 1)`. `top` must be at least the values' [`grouped_top`]: with it
/// this is [`normalize_grouped`] (of values not all zero), with a larger one the mantissas are
/// shorter than `bits` (never saturated).
pub fn normalize_grouped_by(
    values: &[i64],
    exps: &[i32],
    group: usize,
    bits: u32,
    top: i32,
    out: &mut [i32],
) -> i32 {
    debug_assert_eq!(values.len(), out.len());
    debug_assert_eq!(values.len(), exps.len() * group);
    let exp = top - (bits as i32 - 1);
    if group == 1 {
        for ((o, &v), &e) in out.iter_mut().zip(values).zip(exps) {
            *o = saturate(shift_round(v, exp - e), bits) as i32;
        }
    } else {
        for (g, &e) in exps.iter().enumerate() {
            let range = g * group..(g + 1) * group;
            shift_slice(&values[range.clone()], exp - e, bits, &mut out[range]);
        }
    }
    exp
}

/// The common exponent of a residual addition of vectors with exponents `ea` and `eb`: the
/// larger, less [`RESIDUAL_GUARD_BITS`], so that the larger operand is kept exact.
pub fn residual_exponent(ea: i32, eb: i32) -> i32 {
    ea.max(eb) - RESIDUAL_GUARD_BITS
}

/// A key/value cache exponent as stored beside the cache: int8, saturated.
pub fn cache_exponent(exp: i64) -> i8 {
    exp.clamp(i8::MIN as i64, i8::MAX as i64) as i8
}

/// Index of the largest value; ties go to the lowest index (as llama2.c's `argmax`).
pub fn argmax(values: &[i32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// A positive scalar `mant * 2^exp` with `mant` a 15-bit unsigned mantissa (`< 2^15`): the form of
/// every scalar multiplier (weight row scales, norm results, reciprocals, model constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FixedScale {
    /// Mantissa, `0 ..= 32767`.
    pub mant: i32,
    /// Power-of-two exponent.
    pub exp: i32,
}

impl FixedScale {
    /// The nearest `FixedScale` with a mantissa in `[2^14, 2^15)` to a positive finite `value`
    /// (offline use: model constants). Zero and non-finite values give zero.
    pub fn from_f64(value: f64) -> FixedScale {
        let (mants, exp) = fixed_mantissas(&[value]);
        FixedScale {
            mant: mants[0],
            exp,
        }
    }

    /// The value as a double (for reports and tests, never for the datapath).
    pub fn to_f64(self) -> f64 {
        self.mant as f64 * pow2(self.exp)
    }
}

/// `2^n` as an exact double (for `|n| < 1000`).
pub fn pow2(n: i32) -> f64 {
    // Build it from the bit pattern so that it is exact (and identical) on every platform.
    if n < -1022 {
        return pow2(n + 600) * pow2(-600);
    }
    if n > 1023 {
        return pow2(n - 600) * pow2(600);
    }
    f64::from_bits(((n + 1023) as u64) << 52)
}

/// `floor(log2(|v|))` of a finite non-zero double, read exactly from its bit pattern.
pub fn floor_log2(v: f64) -> i32 {
    let v = v.abs();
    if v < f64::MIN_POSITIVE {
        return floor_log2(v * pow2(600)) - 600;
    }
    ((v.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// Signed 15-bit mantissas sharing one exponent for `values` (offline: scales, norm weights).
/// The largest magnitude lands in `[2^14, 2^15)` before rounding (ties to even), and mantissas
/// saturate to `[-32767, 32767]`. All-zero (or non-finite) input gives zeros with exponent 0.
pub fn fixed_mantissas(values: &[f64]) -> (Vec<i32>, i32) {
    let max_abs = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    if max_abs == 0.0 {
        return (vec![0; values.len()], 0);
    }
    let exp = floor_log2(max_abs) - 14;
    let unit = pow2(-exp);
    let mants = values
        .iter()
        .map(|&v| {
            if v.is_finite() {
                let max = WIDE_MANTISSA_MAX as f64;
                (v * unit).round_ties_even().clamp(-max, max) as i32
            } else {
                0
            }
        })
        .collect();
    (mants, exp)
}

/// A weight matrix quantised for the matrix unit: int8 values, symmetric, one scale per row.
/// Row `i` means `q[i, j] * row_scale_mant[i] * 2^row_scale_exp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantMatrix {
    /// Output rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// int8 weights, row-major. // (rows, cols)
    pub q: Vec<i8>,
    /// Per-row scale mantissas, `0 ..= 32767`. // (rows,)
    pub row_scale_mant: Vec<i32>,
    /// The exponent shared by all row scales.
    pub row_scale_exp: i32,
    /// Each row's accumulator bound. // (rows,)
    row_bounds: Vec<u64>,
}

/// The largest magnitude each row's accumulator can reach: `sum_j |q[i, j]|` times
/// [`INT8_MAX`]. // (rows,)
fn row_bounds(q: &[i8], cols: usize) -> Vec<u64> {
    q.chunks(cols.max(1))
        .map(|row| row.iter().map(|&v| v.unsigned_abs() as u64).sum::<u64>() * INT8_MAX as u64)
        .collect()
}

impl QuantMatrix {
    /// The largest magnitude an accumulator of this matrix's product can reach, whatever its
    /// input: `max_i sum_j |q[i, j]|` times [`INT8_MAX`] (inputs are BFP8, saturated
    /// symmetrically). Fixed when the matrix is quantised, it gives the first
    /// normalisation of every product its shift at compile time ([`normalize_by`]), so that the
    /// machine streams it once instead of first searching the accumulators. Below
    /// `2^MAGNITUDE_BITS` for any matrix the model limits allow (`cols <= 2^17`).
    pub fn accumulator_bound(&self) -> u64 {
        self.accumulator_bound_of(0..self.rows)
    }

    /// [`Self::accumulator_bound`] over `rows` only: that of a product of those rows.
    pub fn accumulator_bound_of(&self, rows: std::ops::Range<usize>) -> u64 {
        self.row_bounds[rows].iter().copied().max().unwrap_or(0)
    }

    /// The matrix of columns `cols` (the same rows and row scales), with its own accumulator
    /// bounds: `w2`'s part that one block of hidden units ([`hidden_blocks`]) feeds.
    pub fn column_block(&self, cols: std::ops::Range<usize>) -> QuantMatrix {
        let width = cols.len();
        let mut q = Vec::with_capacity(self.rows * width);
        for row in self.q.chunks(self.cols.max(1)) {
            q.extend_from_slice(&row[cols.clone()]);
        }
        QuantMatrix {
            rows: self.rows,
            cols: width,
            row_bounds: row_bounds(&q, width),
            q,
            row_scale_mant: self.row_scale_mant.clone(),
            row_scale_exp: self.row_scale_exp,
        }
    }
}

/// Quantise a row-major float matrix: each row to int8 with `scale = max|row| / 127`,
/// `q = round_half_even(w / scale)` (computed in double precision), then the row scales to
/// [`fixed_mantissas`]. Per-row rather than per-group: a lane owns one output row, so one scale per
/// row is a single multiply after the accumulation, while group scales would need a multiply per
/// lane every group of inputs.
pub fn quantize_matrix(w: &[f32], rows: usize, cols: usize) -> QuantMatrix {
    assert_eq!(w.len(), rows * cols, "matrix shape does not match its data");
    let mut q = vec![0i8; rows * cols];
    let mut scales = vec![0f64; rows];
    for r in 0..rows {
        let row = &w[r * cols..(r + 1) * cols];
        let max_abs = row.iter().fold(0f64, |m, &v| m.max((v as f64).abs()));
        if max_abs == 0.0 || !max_abs.is_finite() {
            continue;
        }
        let scale = max_abs / INT8_MAX as f64;
        scales[r] = scale;
        for (o, &v) in q[r * cols..(r + 1) * cols].iter_mut().zip(row) {
            *o = (v as f64 / scale)
                .round_ties_even()
                .clamp(-(INT8_MAX as f64), INT8_MAX as f64) as i8;
        }
    }
    let (row_scale_mant, row_scale_exp) = fixed_mantissas(&scales);
    QuantMatrix {
        rows,
        cols,
        row_bounds: row_bounds(&q, cols),
        q,
        row_scale_mant,
        row_scale_exp,
    }
}

/// The look-up tables of the non-linear functions, generated once.
///
/// Table entries are rounded to at most 16 bits from double-precision values. `sqrt` and the
/// arithmetic operators are correctly rounded in IEEE-754 and so identical everywhere; `exp`,
/// `sin` and `powf` come from the platform's maths library, which may differ in the last bit of a
/// double. A table entry could then differ between platforms only if its exact value lay within a
/// few units in the last place of a rounding tie; the test `tables_are_far_from_rounding_ties`
/// checks that no entry does, so the tables are the same bits on every machine.
pub mod tables {
    use super::*;

    /// Mantissa bits below the leading one that index the reciprocal-square-root table.
    pub const RSQRT_INDEX_BITS: u32 = 7;
    /// Entries of the reciprocal-square-root table: one half for mantissas in `[1, 2)`, one
    /// for `[2, 4)`.
    pub const RSQRT_ENTRIES: usize = 2 << RSQRT_INDEX_BITS;
    /// Mantissa bits below the leading one that index the reciprocal table.
    pub const RECIP_INDEX_BITS: u32 = 8;
    /// Entries of the reciprocal table.
    pub const RECIP_ENTRIES: usize = 1 << RECIP_INDEX_BITS;
    /// Entries of the `2^(-f/256)` table: one per fraction step of its Q.8 input.
    pub const EXP2_ENTRIES: usize = 1 << EXP2_INPUT_FRACTION_BITS;
    /// Entries of the sigmoid table (`x = i / 64` for `i` in `0 ..= SIGMOID_INPUT_MAX`).
    pub const SIGMOID_ENTRIES: usize = SIGMOID_INPUT_MAX as usize + 1;

    /// All tables, as the integer contents a ROM holds.
    #[derive(Debug)]
    pub struct Tables {
        /// `round(2^15 / sqrt(f))` at the middle `f` of each bin. // (256,)
        pub rsqrt: Vec<i32>,
        /// `round(2^15 / f)` at the middle `f` of each bin of `[1, 2)`. // (256,)
        pub recip: Vec<i32>,
        /// `min(32767, round(2^15 * 2^(-i/256)))`. // (256,)
        pub exp2_neg: Vec<i32>,
        /// `round(2^14 / (1 + e^(-i/64)))`. // (512,)
        pub sigmoid: Vec<i32>,
        /// `round(2^14 * sin(i * (pi/2) / 1024))` for `i` in `0..=1024`. // (1025,)
        pub sine_quarter: Vec<i32>,
    }

    /// The exact values the table entries are rounded from, in table order (for the robustness
    /// test and for documentation tools).
    pub fn exact_values() -> Vec<(&'static str, Vec<f64>)> {
        let one = pow2(SCALE_FRACTION_BITS as i32);
        let half = RSQRT_ENTRIES / 2;
        let rsqrt = (0..RSQRT_ENTRIES)
            .map(|i| {
                let (base, frac) = if i < half { (1.0, i) } else { (2.0, i - half) };
                let f = base * (1.0 + (frac as f64 + 0.5) / half as f64);
                one / f.sqrt()
            })
            .collect();
        let recip = (0..RECIP_ENTRIES)
            .map(|i| one / (1.0 + (i as f64 + 0.5) / RECIP_ENTRIES as f64))
            .collect();
        let exp2_neg = (0..EXP2_ENTRIES)
            .map(|i| one * (-(i as f64) / EXP2_ENTRIES as f64 * std::f64::consts::LN_2).exp())
            .collect();
        let sigmoid_step = pow2(SIGMOID_INPUT_FRACTION_BITS as i32);
        let sigmoid = (0..SIGMOID_ENTRIES)
            .map(|i| Q14_ONE as f64 / (1.0 + (-(i as f64) / sigmoid_step).exp()))
            .collect();
        let sine_quarter = (0..=SINE_QUARTER_ENTRIES)
            .map(|i| {
                Q14_ONE as f64
                    * (i as f64 * std::f64::consts::FRAC_PI_2 / SINE_QUARTER_ENTRIES as f64).sin()
            })
            .collect();
        vec![
            ("rsqrt", rsqrt),
            ("recip", recip),
            ("exp2_neg", exp2_neg),
            ("sigmoid", sigmoid),
            ("sine_quarter", sine_quarter),
        ]
    }

    fn round_all(values: &[f64], max: i32) -> Vec<i32> {
        values
            .iter()
            .map(|v| (v.round_ties_even() as i32).min(max))
            .collect()
    }

    /// The tables, generated on first use.
    pub fn get() -> &'static Tables {
        static TABLES: OnceLock<Tables> = OnceLock::new();
        TABLES.get_or_init(|| {
            let exact = exact_values();
            let table = |name: &str| {
                &exact
                    .iter()
                    .find(|(n, _)| *n == name)
                    .expect("every table has exact values")
                    .1
            };
            Tables {
                rsqrt: round_all(table("rsqrt"), WIDE_MANTISSA_MAX as i32),
                recip: round_all(table("recip"), WIDE_MANTISSA_MAX as i32),
                exp2_neg: round_all(table("exp2_neg"), WIDE_MANTISSA_MAX as i32),
                sigmoid: round_all(table("sigmoid"), 16384),
                sine_quarter: round_all(table("sine_quarter"), 16384),
            }
        })
    }
}

/// The bits of `x` just below its leading one, as a `width`-bit index (`x > 0`).
#[inline]
fn fraction_index(x: u64, width: u32) -> usize {
    let lead = bit_length(x) as i32 - 1;
    let shifted = if lead >= width as i32 {
        x >> (lead - width as i32)
    } else {
        x << (width as i32 - lead)
    };
    (shifted & ((1 << width) - 1)) as usize
}

/// `1 / sqrt(x)` for `x > 0` (RMSNorm's sum of squares): with `k` the position of `x`'s leading
/// one, `kk` = `k` rounded down to even, the table index is the 7 bits below the leading one plus
/// 128 when `k` is odd, and the result is `rsqrt[index] * 2^(-15 - kk/2)`. Relative error below
/// 0.2 %. Zero gives a zero scale.
pub fn rsqrt(x: u64) -> FixedScale {
    if x == 0 {
        return FixedScale { mant: 0, exp: 0 };
    }
    let k = bit_length(x) as i32 - 1;
    let odd = k & 1;
    let index =
        odd as usize * (tables::RSQRT_ENTRIES / 2) + fraction_index(x, tables::RSQRT_INDEX_BITS);
    FixedScale {
        mant: tables::get().rsqrt[index],
        exp: -(SCALE_FRACTION_BITS as i32) - (k - odd) / 2,
    }
}

/// `v` as a multiplier input, or why it is not one: every multiplier of the machine takes a
/// signed value of `VECTOR_ELEMENT_BITS` (18) bits, and a larger one is a fault.
pub fn multiplicand(v: i64) -> Result<i64, String> {
    use crate::target::VECTOR_ELEMENT_BITS;
    let half = 1i64 << (VECTOR_ELEMENT_BITS - 1);
    if (-half..half).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "multiplier input {v} is not an {VECTOR_ELEMENT_BITS}-bit signed value"
        ))
    }
}

/// RMSNorm's epsilon, which llama2.c's `run.c` adds to the mean square: `x / sqrt(ms + eps)`.
pub const RMS_NORM_EPS: f64 = 1e-5;

/// RoPE's base, llama2.c's: the pair at even offset `head_dim` of a head of `head_size` turns by
/// `ROPE_THETA^(-head_dim / head_size)` radians a position.
pub const ROPE_THETA: f64 = 10000.0;
/// RMSNorm shifts its sum of squared mantissas right by this many bits (even, so that the
/// reciprocal square root takes half of it off its exponent) before eps joins it: a normalised
/// BFP16 vector's sum of squares is at least `2^28`, so at least 9 bits remain, and [`rsqrt`]
/// reads only the leading one and the [`tables::RSQRT_INDEX_BITS`] below it. The sum of squares
/// of `dim <= 2^17` mantissas stays below `2^27` after the shift, far from a register's 48 bits
/// with eps added.
pub const SUM_SQUARES_SHIFT: u32 = 20;
const _: () = assert!(
    SUM_SQUARES_SHIFT % 2 == 0
        && 2 * (WIDE_BITS - 2) - SUM_SQUARES_SHIFT > tables::RSQRT_INDEX_BITS,
    "the shifted sum of a normalised vector's squares keeps the bits rsqrt reads"
);
/// The least shift of [`RmsEps::mant`] (a left shift of 14): the eps term then stays below
/// `2^31`, which an element of the machine's 32-bit wide memory holds. Where twice the
/// exponent would shift it further, the term stays at that bound and the scale's exponent takes
/// the rest ([`RmsEps::clamp_halves`]): the term is then at least `2^15 * 2^14` and the shifted
/// sum of squares below `dim * 2^10`, so eps exceeds the mean square at least `2^19 / dim` times
/// (8,192 for `dim` 64), the sum is the term within `dim / 2^19` of it, and the scale is
/// `rsqrt(eps)`'s as closely (docs/numerics.md, *attn_norm*).
pub const RMS_EPS_MIN_SHIFT: i32 = -14;
const _: () = {
    use crate::target::{VectorMemory, VECTOR_ELEMENT_BITS};
    let largest_mant = (1i64 << (VECTOR_ELEMENT_BITS - 1)) - 1;
    assert!(
        largest_mant << -RMS_EPS_MIN_SHIFT < 1i64 << (VectorMemory::Wide.bits() - 1)
            && RMS_EPS_MIN_SHIFT % 2 == 0,
        "the largest eps term fits the wide memory's elements, and its clamp is even"
    );
};

/// RMSNorm's eps in the units of its shifted sum of squares, for one model's `dim`:
/// `eps * dim * 2^-SUM_SQUARES_SHIFT = mant * 2^-shift`, with `mant` in `[2^15, 2^17)` (an
/// 18-bit element of the machine's vector memory) and `shift` even. With `x` a BFP16 vector
/// `(x_j, e)`, `x_j / sqrt(ms + eps)` with `ms` the mean square of `x_j * 2^e` is
/// `x_j * sqrt(dim) / sqrt(sum_j x_j^2 + eps * dim * 2^(-2e))`, and `sqrt(dim)` is in the
/// norm weights; the eps term is the last sum's second part, shifted as the first is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RmsEps {
    /// Mantissa, `2^15 ..= 2^17 - 1`.
    pub mant: i32,
    /// Its shift, even: the term is `mant * 2^-(shift + 2e)`.
    pub shift: i32,
}

impl RmsEps {
    /// The eps term's constants for a model of `dim` (offline, in IEEE doubles: `eps * dim`
    /// rounds once, and the scaling by powers of two is exact).
    pub fn for_dim(dim: usize) -> RmsEps {
        let value = RMS_NORM_EPS * dim.max(1) as f64 * pow2(-(SUM_SQUARES_SHIFT as i32));
        let (low, high) = (pow2(16), pow2(17));
        let mut shift = 0i32;
        while value * pow2(shift) < low {
            shift += 1;
        }
        while value * pow2(shift) >= high {
            shift -= 1;
        }
        if (value * pow2(shift)).round() >= high {
            shift -= 1;
        }
        // An even shift, so that the clamp's deficit halves (`clamp_halves`): a bit less.
        if shift % 2 != 0 {
            shift -= 1;
        }
        RmsEps {
            mant: (value * pow2(shift)).round() as i32,
            shift,
        }
    }

    /// The least value of `2e` that the term's shift takes ([`RMS_EPS_MIN_SHIFT`]), even: the
    /// machine clamps `2e` from below with a `max`, which is the same.
    pub fn min_twice_exp(self) -> i32 {
        RMS_EPS_MIN_SHIFT - self.shift
    }

    /// `2e` for a vector of exponent `exp`, clamped from below at [`Self::min_twice_exp`].
    fn twice_clamped(self, exp: i32) -> i64 {
        (2 * exp as i64).max(self.min_twice_exp() as i64)
    }

    /// The eps term for a vector of exponent `exp`: `shift_round(mant, max(2 exp, min) +
    /// shift)`, below `2^31`.
    pub fn term(self, exp: i32) -> i64 {
        let shift = self.twice_clamped(exp) + self.shift as i64;
        shift_round(self.mant as i64, shift.min(i32::MAX as i64) as i32)
    }

    /// The constant `shrv` subtracts from `2 (d + RMS_EXP_BELOW_RECIP)`, the clamped exponent
    /// as the machine reads it ([`rms_eps_exp`]), to shift [`Self::mant`] by `2d + shift`:
    /// `2 RMS_EXP_BELOW_RECIP - shift`, a vector-memory element (5 to 23 for `dim` 1 to `2^17`).
    pub fn shift_offset(self) -> i32 {
        2 * RMS_EXP_BELOW_RECIP - self.shift
    }

    /// Half of what the clamp took off `2e` (`(max(2e, min) - 2e) / 2`, 0 where it took
    /// nothing): the term is that many powers of 4 smaller than eps's, and the scale as many
    /// powers of 2 larger, which its exponent takes back ([`rms_scale`]).
    pub fn clamp_halves(self, exp: i32) -> i32 {
        ((self.twice_clamped(exp) - 2 * exp as i64) / 2) as i32
    }
}

/// What [`rms_eps_exp`] takes off the normalisation's input exponent besides [`recip`]'s
/// exponent of its magnitude: recip's exponent is `-(SCALE_FRACTION_BITS - 1) - bit_length(m)`
/// (14 below) and the normalisation's shift to [`WIDE_BITS`] is `bit_length(m) - (WIDE_BITS -
/// 1)`.
pub const RMS_EXP_BELOW_RECIP: i32 = SCALE_FRACTION_BITS as i32 - 1 + WIDE_BITS as i32 - 1;

/// The residual's exponent as RMSNorm's eps term takes it: from the residual's last
/// normalisation's input exponent `ein` and magnitude `max_abs`, which are known as that
/// normalisation issues, so that the term is worked out while it streams (a table's latency
/// instead of the stream's). It is [`normalize_by`]'s exponent to [`WIDE_BITS`] for every
/// magnitude but zero; an all-zero residual keeps `ein`, while recip's exponent of zero is 0 and
/// this reads `ein - RMS_EXP_BELOW_RECIP` ([`rms_scale`] takes that case from a zero sum of
/// squares: the mantissas are zero either way, and the output's exponent follows the machine).
pub fn rms_eps_exp(ein: i32, max_abs: u64) -> i32 {
    ein - recip(max_abs).exp - RMS_EXP_BELOW_RECIP
}

/// RMSNorm's scale, `1 / sqrt(sum of squares + eps term)` in the units of the mantissas, for a
/// vector of exponent `exp`: [`rsqrt`] of `(sum_squares >> SUM_SQUARES_SHIFT) + term` (an
/// arithmetic shift), half the shift and the clamp's halves off its exponent. With no eps term
/// it is `rsqrt(sum_squares)` for any sum of a normalised vector's squares (at least `2^28`):
/// the shift leaves the bits `rsqrt` reads. A zero sum is an all-zero vector's, whose term takes
/// the exponent [`rms_eps_exp`] gives it, `RMS_EXP_BELOW_RECIP` below `exp`.
pub fn rms_scale(sum_squares: u64, eps: RmsEps, exp: i32) -> FixedScale {
    let exp = if sum_squares == 0 {
        exp - RMS_EXP_BELOW_RECIP
    } else {
        exp
    };
    let r = rsqrt((sum_squares >> SUM_SQUARES_SHIFT) + eps.term(exp) as u64);
    FixedScale {
        mant: r.mant,
        exp: r.exp - (SUM_SQUARES_SHIFT / 2) as i32 - eps.clamp_halves(exp),
    }
}

/// `1 / x` for `x > 0` (softmax's sum): the table index is the 8 bits below the leading one at
/// position `k`, and the result is `recip[index] * 2^(-15 - k)`. Relative error below 0.2 %.
/// Zero gives a zero scale, exponent 0. [`rms_eps_exp`] relies on both exponents: `-15 - k`
/// (`-14 - bit_length(x)`) and zero's.
pub fn recip(x: u64) -> FixedScale {
    if x == 0 {
        return FixedScale { mant: 0, exp: 0 };
    }
    let k = bit_length(x) as i32 - 1;
    FixedScale {
        mant: tables::get().recip[fraction_index(x, tables::RECIP_INDEX_BITS)],
        exp: -(SCALE_FRACTION_BITS as i32) - k,
    }
}

/// `2^(-u / 256)` in Q0.15 for `u >= 0` given in Q.8: `shift_round(exp2_neg[u & 255], u >> 8)`,
/// and 0 from [`EXP2_INPUT_LIMIT`] on. The largest result is 32767 (at `u = 0`).
#[inline]
pub fn exp2_neg_q15(u: i64) -> i64 {
    debug_assert!(u >= 0);
    if u >= EXP2_INPUT_LIMIT {
        return 0;
    }
    let table = &tables::get().exp2_neg;
    shift_round(table[(u & 255) as usize] as i64, (u >> 8) as i32)
}

/// `sigmoid(x / 64)` in Q1.14 for an integer `x` (Q.6): `x` is clamped to `[-511, 511]`, then
/// `sigmoid[x]` for `x >= 0` and `16384 - sigmoid[-x]` for `x < 0`.
#[inline]
pub fn sigmoid_q14(x: i64) -> i64 {
    let x = x.clamp(-SIGMOID_INPUT_MAX, SIGMOID_INPUT_MAX);
    let table = &tables::get().sigmoid;
    if x >= 0 {
        table[x as usize] as i64
    } else {
        Q14_ONE - table[(-x) as usize] as i64
    }
}

/// Sine and cosine in Q1.14 of a phase given as a 32-bit fraction of a turn. The phase is rounded
/// to 12 bits (`i = (phase + 2^19) >> 20`, modulo 4096); quadrant `i >> 10` and offset `i & 1023`
/// read the quarter-wave table with the usual symmetries; cosine is the sine a quarter turn on.
#[inline]
pub fn sin_cos_q14(phase: u32) -> (i64, i64) {
    let shift = PHASE_BITS - PHASE_INDEX_BITS;
    let turn = 1u64 << PHASE_INDEX_BITS;
    let index = ((phase as u64 + (1 << (shift - 1))) >> shift) % turn;
    let sine_at = |i: u64| -> i64 {
        let table = &tables::get().sine_quarter;
        let quarter = SINE_QUARTER_ENTRIES as u64;
        let offset = (i % quarter) as usize;
        match i / quarter {
            0 => table[offset] as i64,
            1 => table[SINE_QUARTER_ENTRIES - offset] as i64,
            2 => -(table[offset] as i64),
            _ => -(table[SINE_QUARTER_ENTRIES - offset] as i64),
        }
    };
    (
        sine_at(index),
        sine_at((index + SINE_QUARTER_ENTRIES as u64) % turn),
    )
}

/// RoPE's per-position phase step for the pair starting at even offset `head_dim` within a head
/// of `head_size`: `round(2^32 * f / (2 pi))` with `f = ROPE_THETA^(-head_dim / head_size)`, llama2.c's
/// frequency. The phase at position `pos` is `pos * step` modulo 2^32 (a wrapping multiply, or one
/// wrapping add per position).
pub fn rope_phase_step(head_dim: usize, head_size: usize) -> u32 {
    let freq = ROPE_THETA.powf(-(head_dim as f64) / head_size as f64);
    let step = (freq / std::f64::consts::TAU * pow2(PHASE_BITS as i32)).round_ties_even();
    step.clamp(0.0, u32::MAX as f64) as u32
}

/// RoPE's phase at position `pos`: `pos * step` modulo 2^32.
#[inline]
pub fn rope_phase(pos: usize, step: u32) -> u32 {
    (pos as u32).wrapping_mul(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded xorshift64 stream, for the tests' random cases.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn a_magnitude_gives_the_shift_of_the_largest_value() {
        // Seeded vectors of mixed signs and sizes, with negative powers of two (whose magnitude
        // has a bit more than their one's complement) and zeros.
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
        for case in 0..500 {
            let len = 1 + (next() % 40) as usize;
            let bits_of = 1 + (next() % 31) as u32;
            let values: Vec<i64> = (0..len)
                .map(|_| match next() % 7 {
                    0 => -(1i64 << (next() % bits_of as u64)),
                    1 => 0,
                    _ => (next() % (1u64 << bits_of)) as i64 - (1i64 << (bits_of - 1)),
                })
                .collect();
            let largest = values.iter().map(|v| v.unsigned_abs()).max().unwrap();
            let m = magnitude(values.iter().copied());
            assert_eq!(
                bit_length(m),
                bit_length(largest),
                "case {case}: {values:?}"
            );
            for bits in [8, 16] {
                let (mut by_search, mut by_magnitude) = (vec![0; len], vec![0; len]);
                let e = normalize(&values, -3, bits, &mut by_search);
                assert_eq!(
                    normalize_by(&values, -3, bits, m, &mut by_magnitude),
                    e,
                    "case {case}"
                );
                assert_eq!(by_magnitude, by_search, "case {case}: {values:?}");
                // A longer magnitude shortens the mantissas and never saturates.
                let mut shorter = vec![0; len];
                normalize_by(&values, -3, bits, m.max(1) << 1, &mut shorter);
                let limit = 1i32 << (bits - 2);
                assert!(
                    shorter.iter().all(|o| o.abs() <= limit),
                    "case {case}: {shorter:?}"
                );
            }
        }
    }

    #[test]
    fn shift_round_is_half_up_and_saturating() {
        assert_eq!(shift_round(5, 1), 3); // 2.5 -> 3
        assert_eq!(shift_round(-5, 1), -2); // -2.5 -> -2 (half up)
        assert_eq!(shift_round(-6, 1), -3);
        assert_eq!(shift_round(7, 2), 2); // 1.75 -> 2
        assert_eq!(shift_round(3, -2), 12);
        assert_eq!(shift_round(1, -70), i64::MAX);
        assert_eq!(shift_round(-1, -70), -i64::MAX);
        assert_eq!(shift_round(i64::MAX, 200), 0);
        assert_eq!(shift_round(-1, 200), 0);
    }

    #[test]
    fn fast_and_wide_shift_paths_agree() {
        for x in [
            0i64,
            1,
            -1,
            5,
            -5,
            1 << 40,
            -(1 << 40) - 3,
            (1 << 62) - 1,
            -(1 << 62) + 1,
        ] {
            for s in 1..=62 {
                let wide = ((x as i128 + (1i128 << (s - 1))) >> s) as i64;
                assert_eq!(shift_round(x, s), wide, "{x} >> {s}");
            }
        }
    }

    #[test]
    fn saturation_is_symmetric() {
        assert_eq!(saturate(128, 8), 127);
        assert_eq!(saturate(-128, 8), -127);
        assert_eq!(saturate(-127, 8), -127);
        assert_eq!(saturate(40000, 16), 32767);
    }

    #[test]
    fn normalize_fits_the_largest_element_and_rounds_once() {
        let mut out = [0; 3];
        // 1000 needs 10 bits: s = 10 - 7 = 3; 1000/8 = 125; -12/8 = -1.5 -> -1; 4/8 = 0.5 -> 1.
        let exp = normalize(&[1000, -12, 4], -5, 8, &mut out);
        assert_eq!((out, exp), ([125, -1, 1], -2));
        // Small values are shifted left to use the full width.
        let exp = normalize(&[3, -1, 0], 0, 8, &mut out);
        assert_eq!((out, exp), ([96, -32, 0], -5));
        // Rounding up to 2^(bits-1) saturates.
        let exp = normalize(&[1023, -1023, 0], 0, 8, &mut out);
        assert_eq!((out, exp), ([127, -127, 0], 3));
        // All zero keeps its exponent.
        assert_eq!(normalize(&[0, 0, 0], 9, 8, &mut out), 9);
    }

    #[test]
    fn grouped_normalize_equals_normalize_after_exact_alignment() {
        let values = [100i64, -3, 7, 40];
        let exps = [2, -1];
        let mut grouped = [0; 4];
        let e1 = normalize_grouped(&values, &exps, 2, 8, &mut grouped);
        // Aligned exactly to exponent -1: multiply the first group by 2^3.
        let aligned = [800i64, -24, 7, 40];
        let mut single = [0; 4];
        let e2 = normalize(&aligned, -1, 8, &mut single);
        assert_eq!((grouped, e1), (single, e2));
    }

    #[test]
    fn a_grouped_normalisation_given_its_top_bit_is_the_searched_one_and_longer_ones_shorten() {
        let values = [100i64, -3, 7, 40];
        let exps = [2, -1];
        let top = grouped_top(&values, &exps, 2).unwrap();
        assert_eq!(top, 7 + 2);
        let (mut searched, mut given, mut longer) = ([0; 4], [0; 4], [0; 4]);
        let e = normalize_grouped(&values, &exps, 2, 8, &mut searched);
        assert_eq!(
            normalize_grouped_by(&values, &exps, 2, 8, top, &mut given),
            e
        );
        assert_eq!(given, searched);
        // Three bits above: the exponent three higher, each mantissa rounded three bits shorter.
        assert_eq!(
            normalize_grouped_by(&values, &exps, 2, 8, top + 3, &mut longer),
            e + 3
        );
        let shorter: Vec<i32> = searched
            .iter()
            .zip(exps.iter().flat_map(|&x| [x; 2]))
            .zip(values)
            .map(|((_, x), v)| shift_round(v, e + 3 - x) as i32)
            .collect();
        assert_eq!(longer.to_vec(), shorter);
        assert_eq!(grouped_top(&[0, 0], &[5], 2), None);
    }

    #[test]
    fn int8_dot_bits_bound_every_dot_product_of_int8_vectors() {
        // The extremes of the symmetric int8 range, multiplied out: the bound is reached by the
        // largest dot products either way, and no other dot product passes them.
        for n in [1usize, 2, 7, 8, 64] {
            let bits = int8_dot_bits(n);
            let dot = |a: i8, b: i8| (0..n).map(|_| a as i64 * b as i64).sum::<i64>();
            for (a, b) in [(127, 127), (-127, -127), (127, -127)] {
                assert_eq!(bit_length(dot(a, b).unsigned_abs()), bits, "n = {n}");
            }
            assert!(bit_length(dot(127, 126).unsigned_abs()) <= bits, "n = {n}");
        }
        assert_eq!(int8_dot_bits(8), 17);
    }

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[1, 5, 5, -2]), 1);
        assert_eq!(argmax(&[-3]), 0);
    }

    #[test]
    fn tables_are_far_from_rounding_ties() {
        for (name, values) in tables::exact_values() {
            for (i, v) in values.iter().enumerate() {
                let distance = (v - v.floor() - 0.5).abs();
                assert!(
                    distance > 1e-9 || (v - v.round()).abs() < 1e-9,
                    "table {name} entry {i} = {v} is within 1e-9 of a rounding tie"
                );
            }
        }
    }

    #[test]
    fn rsqrt_and_recip_are_accurate() {
        for x in [
            1u64,
            2,
            3,
            5,
            100,
            12345,
            1 << 40,
            (1 << 41) + 7,
            u64::MAX / 3,
        ] {
            let r = rsqrt(x).to_f64() * (x as f64).sqrt();
            assert!((r - 1.0).abs() < 2e-3, "rsqrt({x}) off by {r}");
            let q = recip(x).to_f64() * x as f64;
            assert!((q - 1.0).abs() < 2e-3, "recip({x}) off by {q}");
        }
    }

    #[test]
    fn rms_eps_is_eps_times_dim_in_the_shifted_sums_units() {
        for dim in [1usize, 8, 48, 64, 288, 4096, 1 << 17] {
            let eps = RmsEps::for_dim(dim);
            assert!((1 << 15..1 << 17).contains(&eps.mant), "{dim}: {eps:?}");
            assert_eq!(eps.shift % 2, 0, "{dim}: {eps:?}");
            let value = eps.mant as f64 * pow2(-eps.shift);
            let want = RMS_NORM_EPS * dim as f64 * pow2(-(SUM_SQUARES_SHIFT as i32));
            assert!(
                (value / want - 1.0).abs() < 2e-5,
                "{dim}: {value} for {want}"
            );
            // The term at exponent e is eps * dim * 2^(-2e) in the shifted sum's units; where
            // the clamp holds it, times 4^-(its halves).
            for e in [-40, -25, -16, -8, 0, 10] {
                let exact = want * pow2(-2 * e);
                let term = eps.term(e);
                let halves = eps.clamp_halves(e);
                assert_eq!(
                    halves == 0,
                    2 * e + eps.shift >= RMS_EPS_MIN_SHIFT,
                    "{dim} e {e}"
                );
                let clamped = exact * pow2(-2 * halves);
                // the mantissa's 16 or 17 bits, and the rounding
                let tolerance = 0.5 + clamped * pow2(-15);
                assert!(
                    (term as f64 - clamped).abs() <= tolerance,
                    "{dim} e {e}: {term}"
                );
                if halves > 0 {
                    assert_eq!(term, (eps.mant as i64) << -RMS_EPS_MIN_SHIFT, "{dim} e {e}");
                }
                assert!(term < 1 << 31);
            }
            assert_eq!(
                eps.term(i32::MIN / 4),
                eps.term(eps.min_twice_exp() / 2 - 1)
            );
            assert_eq!(eps.term(i32::MAX / 4), 0);
        }
    }

    #[test]
    fn rms_eps_exp_is_the_normalisations_exponent_but_for_an_all_zero_vector() {
        for ein in [-60, -3, 0, 7, 40] {
            for bits in 1..=MAGNITUDE_BITS {
                for m in [
                    1u64 << (bits - 1),
                    (1u64 << bits) - 1,
                    ((1u64 << bits) / 3) | 1,
                ] {
                    let mut out = [0];
                    let want = normalize_by(&[m as i64], ein, WIDE_BITS, m, &mut out);
                    assert_eq!(rms_eps_exp(ein, m), want, "ein {ein}, magnitude {m}");
                }
            }
            assert_eq!(normalize_by(&[0], ein, WIDE_BITS, 0, &mut [0]), ein);
            assert_eq!(rms_eps_exp(ein, 0), ein - RMS_EXP_BELOW_RECIP);
        }
        // The shift's constant is a vector-memory element for every dim.
        use crate::target::VECTOR_ELEMENT_BITS;
        for dim in (0..=17).map(|b| 1usize << b).chain([3, 288, 768, 100_000]) {
            let offset = RmsEps::for_dim(dim).shift_offset();
            assert!((5..=23).contains(&offset), "dim {dim}: {offset}");
            assert!(offset.unsigned_abs() < 1 << (VECTOR_ELEMENT_BITS - 1));
        }
        // rms_scale follows the all-zero vector's case from its zero sum.
        let eps = RmsEps::for_dim(64);
        for exp in [-40, -10, 0, 12] {
            let zero = rms_scale(0, eps, exp);
            let low = exp - RMS_EXP_BELOW_RECIP;
            let r = rsqrt(eps.term(low) as u64);
            assert_eq!(zero.mant, r.mant);
            let halves = eps.clamp_halves(low);
            assert_eq!(zero.exp, r.exp - (SUM_SQUARES_SHIFT / 2) as i32 - halves);
        }
    }

    #[test]
    fn rms_scale_without_eps_is_the_reciprocal_square_root_of_the_whole_sum() {
        // No term: an exponent so large that eps's rounds to zero.
        let eps = RmsEps::for_dim(64);
        assert_eq!(eps.term(40), 0);
        // A normalised BFP16 vector's sum of squares is at least 2^28; up to 2^17 elements.
        let mut x = 1u64 << 28;
        while x < 1 << 47 {
            for sum in [x, x + 1, x * 3 / 2 + 12345, 2 * x - 1] {
                assert_eq!(rms_scale(sum, eps, 40), rsqrt(sum), "{sum}");
            }
            x = x * 5 / 3;
        }
    }

    #[test]
    fn rms_scale_is_one_over_the_root_of_the_mean_square_plus_eps_at_every_exponent() {
        let dim = 64usize;
        let eps = RmsEps::for_dim(dim);
        // mantissas with a mean square of 2^24, at exponents from large to past the clamp
        let sum = (dim as u64) << 24;
        for e in (-60..=10).step_by(5) {
            let ms = pow2(24) * pow2(2 * e);
            let want = (dim as f64).sqrt() / (dim as f64 * (ms + RMS_NORM_EPS)).sqrt() * pow2(e);
            let got = rms_scale(sum, eps, e).to_f64() * (dim as f64).sqrt();
            assert!((got / want - 1.0).abs() < 3e-3, "e {e}: {got} for {want}");
        }
    }

    #[test]
    fn exp2_and_sigmoid_match_their_functions() {
        for u in [0i64, 1, 255, 256, 1000, 3000] {
            let exact = 32768.0 * (2f64).powf(-(u as f64) / 256.0);
            assert!((exp2_neg_q15(u) as f64 - exact).abs() <= 1.5, "2^-{u}/256");
        }
        assert_eq!(exp2_neg_q15(0), 32767);
        assert_eq!(exp2_neg_q15(EXP2_INPUT_LIMIT), 0);
        assert_eq!(exp2_neg_q15(EXP2_INPUT_LIMIT - 1), 1); // 32768 * 2^-15.996 = 0.5002
        assert_eq!(sigmoid_q14(0), 8192);
        assert_eq!(sigmoid_q14(-100) + sigmoid_q14(100), 16384);
        assert_eq!(sigmoid_q14(10_000), sigmoid_q14(511));
        assert!(sigmoid_q14(511) > 16370);
    }

    #[test]
    fn sine_and_cosine_cover_the_turn() {
        assert_eq!(sin_cos_q14(0), (0, 16384));
        assert_eq!(sin_cos_q14(1 << 30), (16384, 0));
        assert_eq!(sin_cos_q14(1 << 31), (0, -16384));
        assert_eq!(sin_cos_q14(3 << 30), (-16384, 0));
        for k in 0..64u32 {
            let phase = k.wrapping_mul(0x0932_1a2b);
            let angle = phase as f64 / pow2(32) * std::f64::consts::TAU;
            let (s, c) = sin_cos_q14(phase);
            // Index rounding: at most half a step of 2 pi / 4096, plus table rounding.
            assert!((s as f64 / 16384.0 - angle.sin()).abs() < 8e-4);
            assert!((c as f64 / 16384.0 - angle.cos()).abs() < 8e-4);
        }
    }

    #[test]
    fn rope_steps_follow_llama2c_frequencies() {
        assert_eq!(
            rope_phase_step(0, 8),
            (pow2(32) / std::f64::consts::TAU).round() as u32
        );
        let step = rope_phase_step(2, 8);
        let freq = step as f64 / pow2(32) * std::f64::consts::TAU;
        assert!((freq - 10000f64.powf(-0.25)).abs() < 1e-8);
        assert_eq!(rope_phase(3, u32::MAX), u32::MAX - 2);
    }

    #[test]
    fn fixed_mantissas_use_fifteen_bits() {
        let (m, e) = fixed_mantissas(&[0.75, -0.1, 0.0]);
        assert_eq!(e, -15);
        assert_eq!(m[0], 24576);
        assert_eq!(m[1], (-0.1f64 * 32768.0).round() as i32);
        let s = FixedScale::from_f64(3.0);
        assert!((s.mant as f64) >= 16384.0 && s.mant < 32768);
        assert_eq!(s.to_f64(), 3.0);
    }

    #[test]
    fn quantize_matrix_is_symmetric_per_row() {
        let w = [0.3f32, -1.0, 0.25, 0.0, 0.0, 0.0];
        let m = quantize_matrix(&w, 2, 3);
        assert_eq!(&m.q[..3], &[38, -127, 32]); // 38.1 -> 38, 31.75 -> 32
        assert_eq!(&m.q[3..], &[0, 0, 0]);
        assert_eq!(m.row_scale_mant[1], 0);
        let scale = m.row_scale_mant[0] as f64 * pow2(m.row_scale_exp);
        assert!((scale - 1.0 / 127.0).abs() < 1e-6);
        assert_eq!(m.accumulator_bound(), (38 + 127 + 32) * 127);
    }

    #[test]
    fn a_column_block_keeps_its_rows_scales_and_its_own_bounds() {
        let w = [0.3f32, -1.0, 0.25, 0.5, 0.0, 0.125, -0.75, 1.0];
        let m = quantize_matrix(&w, 2, 4);
        assert_eq!(m.q, [38, -127, 32, 64, 0, 16, -95, 127]);
        assert_eq!(m.accumulator_bound_of(0..1), (38 + 127 + 32 + 64) * 127);
        assert_eq!(m.accumulator_bound_of(1..2), (16 + 95 + 127) * 127);
        assert_eq!(m.accumulator_bound(), (38 + 127 + 32 + 64) * 127);
        assert_eq!(m.accumulator_bound_of(1..1), 0);
        let block = m.column_block(2..4);
        assert_eq!((block.rows, block.cols), (2, 2));
        assert_eq!(block.q, [32, 64, -95, 127]);
        assert_eq!(block.row_scale_mant, m.row_scale_mant);
        assert_eq!(block.row_scale_exp, m.row_scale_exp);
        assert_eq!(block.accumulator_bound(), (95 + 127) * 127);
        assert_eq!(block.accumulator_bound_of(0..1), (32 + 64) * 127);
    }

    #[test]
    fn hidden_blocks_cover_the_hidden_units_in_order() {
        let blocks: Vec<_> = hidden_blocks(172).collect();
        assert_eq!(blocks, [0..64, 64..128, 128..172]);
        let one = |hidden: usize| {
            hidden_blocks(hidden)
                .map(|b| (b.start, b.end))
                .collect::<Vec<_>>()
        };
        assert_eq!(one(64), [(0, 64)]);
        assert_eq!(one(40), [(0, 40)]);
        assert_eq!(hidden_blocks(0).count(), 0);
    }

    #[test]
    fn the_accumulator_bound_holds_for_every_input_and_is_reached() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        for case in 0..50 {
            let (rows, cols) = (1 + (next() % 12) as usize, 1 + (next() % 40) as usize);
            let w: Vec<f32> = (0..rows * cols)
                .map(|_| (next() % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            let m = quantize_matrix(&w, rows, cols);
            let bound = m.accumulator_bound();
            let accumulators = |x: &[i64]| -> Vec<u64> {
                m.q.chunks(cols)
                    .map(|row| {
                        let acc: i64 = row.iter().zip(x).map(|(&q, &x)| q as i64 * x).sum();
                        acc.unsigned_abs()
                    })
                    .collect()
            };
            // Random BFP8 inputs stay within it.
            for _ in 0..20 {
                let x: Vec<i64> = (0..cols).map(|_| (next() % 255) as i64 - 127).collect();
                assert!(accumulators(&x).iter().all(|&a| a <= bound), "case {case}");
            }
            // The input of full-scale signs that follow the heaviest row reaches it exactly.
            let heaviest =
                m.q.chunks(cols)
                    .max_by_key(|row| row.iter().map(|q| q.unsigned_abs() as u32).sum::<u32>())
                    .unwrap();
            let x: Vec<i64> = heaviest
                .iter()
                .map(|&q| if q < 0 { -127 } else { 127 })
                .collect();
            assert_eq!(
                accumulators(&x).into_iter().max(),
                Some(bound),
                "case {case}"
            );
            // Normalised with it, the accumulators fit ACCUMULATOR_BITS, whose products with
            // row-scale mantissas fit an int32.
            let acc: Vec<i64> = accumulators(&x).into_iter().map(|a| a as i64).collect();
            let mut out = vec![0; rows];
            normalize_by(&acc, 0, ACCUMULATOR_BITS, bound, &mut out);
            assert!(out
                .iter()
                .zip(&m.row_scale_mant)
                .all(|(&a, &s)| i32::try_from(a as i64 * s as i64).is_ok()));
        }
    }
}
