//! Helpers for the hand-written Verilog bodies of the custom blocks.
//!
//! rust_hdl names the ports of a block from its fields; a lane-replicated port (a `Vec` of
//! signals) becomes one port per lane (`data$0`, `data$1`, ...). Verilog cannot index those in a
//! `generate` loop, so each body starts with *packers*: the lanes gathered into one wide vector
//! (inputs) or scattered from one (outputs), after which the body uses ordinary part-selects.

use std::fmt::Write as _;

/// Replace every `@NAME@` in `template` by its value; a placeholder left over is a bug.
pub fn render(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("@{name}@"), value);
    }
    // Every `@`, not only the first: `always @(*)` comes before many placeholders.
    for (at, _) in out.match_indices('@') {
        let rest = &out[at + 1..];
        if let Some(end) = rest.find('@') {
            let name = &rest[..end];
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                panic!("template placeholder @{name}@ has no value");
            }
        }
    }
    out
}

/// `wire [lanes*bits-1:0] wide; assign wide = {port$N-1, ..., port$0};`
pub fn pack(wide: &str, port: &str, lanes: usize, bits: usize) -> String {
    let parts: Vec<String> = (0..lanes).rev().map(|i| format!("{port}${i}")).collect();
    format!(
        "wire [{}:0] {wide};\nassign {wide} = {{{}}};\n",
        lanes * bits - 1,
        parts.join(", ")
    )
}

/// `always @(*) begin port$0 = wide[0 +: bits]; ... end` for an output port (rust_hdl declares
/// custom outputs as `reg`).
pub fn unpack(port: &str, wide: &str, lanes: usize, bits: usize) -> String {
    let mut out = String::from("always @(*) begin\n");
    for i in 0..lanes {
        let _ = writeln!(out, "    {port}${i} = {wide}[{} +: {bits}];", i * bits);
    }
    out.push_str("end\n");
    out
}

/// A read-only memory `name` of `depth` entries of `value_bits` (unsigned), holding the tables
/// `parts` one after another (each at its offset), zero elsewhere: the array declaration and its
/// initialisation from one packed constant, so that synthesis makes block RAM of it (every
/// replica of the declaration, as in a `generate` loop, is a memory of its own). How the tables
/// of `numerics::tables` reach the hardware.
pub fn rom(name: &str, depth: usize, value_bits: usize, parts: &[(usize, &[i32])]) -> String {
    let mut entries = vec![0u64; depth];
    for &(offset, values) in parts {
        for (i, &v) in values.iter().enumerate() {
            assert!(v >= 0 && (v as u64) < 1 << value_bits, "{name}[{i}] = {v}");
            entries[offset + i] = v as u64;
        }
    }
    // The packed constant, entry i at bits [i * value_bits +: value_bits], as hexadecimal
    // digits from the most significant end.
    let total_bits = depth * value_bits;
    let digits = total_bits.div_ceil(4);
    let bit = |b: usize| (entries[b / value_bits] >> (b % value_bits)) & 1;
    let hex: String = (0..digits)
        .rev()
        .map(|d| {
            let nibble = (0..4)
                .filter(|k| d * 4 + k < total_bits)
                .map(|k| bit(d * 4 + k) << k)
                .sum::<u64>();
            char::from_digit(nibble as u32, 16).unwrap_or('0')
        })
        .collect();
    let upper = name.to_uppercase();
    format!(
        "localparam [{total_bits}-1:0] {upper}_INIT = {total_bits}'h{hex};
         reg [{vb}:0] {name} [0:{last}];
         integer {name}_i;
         initial for ({name}_i = 0; {name}_i < {depth}; {name}_i = {name}_i + 1)
             {name}[{name}_i] = {upper}_INIT[{name}_i*{value_bits} +: {value_bits}];
",
        vb = value_bits - 1,
        last = depth - 1,
    )
}

/// Bits needed to hold values `0 ..= max`.
pub fn bits_for(max: u64) -> u32 {
    (64 - max.leading_zeros()).max(1)
}

/// Position masks of [`bit_length`]: bit `i` of mask `k` is bit `k` of `i + 1`, so that the OR of
/// the leading one (one-hot, at `i`) masked by mask `k` is bit `k` of the bit length `i + 1`.
fn bit_length_masks(width: u32) -> Vec<u64> {
    (0..bits_for(width as u64))
        .map(|k| {
            (0..width)
                .filter(|i| (i + 1) >> k & 1 == 1)
                .map(|i| 1u64 << i)
                .sum()
        })
        .collect()
}

/// A Verilog function `name` giving the bit length of a `width`-bit value (0 for 0), for the
/// units' leading-one logic. The ones are smeared down (each bit ORed with all above it); the
/// leading one is alone where the smear differs from itself shifted; each bit of the length is
/// an OR of its masked positions. A few levels of logic, and a few word operations in Verilator,
/// where a loop in which each higher one overrides the lower ones leaves a priority chain as deep
/// as the width (15 levels of LUTs for 64 bits, once the 45F's critical path).
pub fn bit_length(name: &str, width: u32) -> String {
    assert!(
        width.is_power_of_two() && (2..=64).contains(&width),
        "{width}"
    );
    let top = width - 1;
    let mut out = format!(
        "function [{}:0] {name}(input [{top}:0] x);\n    reg [{top}:0] s, lead;\n    begin\n        s = x | (x >> 1);\n",
        bits_for(width as u64) - 1
    );
    let mut shift = 2;
    while shift < width {
        let _ = writeln!(out, "        s = s | (s >> {shift});");
        shift *= 2;
    }
    let bits: Vec<String> = bit_length_masks(width)
        .iter()
        .rev()
        .map(|m| {
            format!(
                "|(lead & {width}'h{m:0digits$x})",
                digits = width as usize / 4
            )
        })
        .collect();
    let _ = write!(
        out,
        "        lead = s & ~(s >> 1);\n        {name} = {{{}}};\n    end\nendfunction",
        bits.join(",\n            ")
    );
    out
}

/// `log2` of a power of two.
pub fn log2(n: usize) -> u32 {
    assert!(n.is_power_of_two(), "{n} is not a power of two");
    n.trailing_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_every_placeholder() {
        assert_eq!(render("a @X@ b", &[("X", "1".into())]), "a 1 b");
        let result = std::panic::catch_unwind(|| render("@Y@", &[]));
        assert!(result.is_err());
        // Verilog's own `@(` is not a placeholder.
        assert_eq!(render("always @(*) x", &[]), "always @(*) x");
        // A placeholder left over after one: found too.
        let result = std::panic::catch_unwind(|| render("always @(*) x = @LEFT_OVER@;", &[]));
        assert!(result.is_err());
    }

    #[test]
    fn packers_name_every_lane() {
        let p = pack("w", "d", 2, 8);
        assert!(p.contains("wire [15:0] w;") && p.contains("{d$1, d$0}"));
        let u = unpack("q", "w", 2, 8);
        assert!(u.contains("q$1 = w[8 +: 8];"));
        assert_eq!((bits_for(255), bits_for(256), log2(64)), (8, 9, 6));
    }

    /// The masks give every bit length: the OR of the one-hot leading one under each mask is the
    /// length's bit, for every position of 32 and 64 bits; and the function is as written.
    #[test]
    fn bit_lengths_come_from_their_masks() {
        for width in [32u32, 64] {
            let masks = bit_length_masks(width);
            for i in 0..width {
                let lead = 1u64 << i;
                let length: u64 = masks
                    .iter()
                    .enumerate()
                    .map(|(k, m)| u64::from(lead & m != 0) << k)
                    .sum();
                assert_eq!(
                    length,
                    u64::from(i) + 1,
                    "width {width}, leading one at {i}"
                );
            }
        }
        let f = bit_length("bl32", 32);
        assert!(f.starts_with("function [5:0] bl32(input [31:0] x);"), "{f}");
        assert!(
            f.contains("s = s | (s >> 16);") && !f.contains(">> 32"),
            "{f}"
        );
        assert!(f.contains("|(lead & 32'h80000000)") && f.contains("|(lead & 32'h55555555)"));
        assert!(bit_length("bl64", 64).contains("|(lead & 64'h7fffffff80000000)"));
    }

    #[test]
    fn roms_pack_their_tables_at_their_offsets() {
        // Entries 0..4 of 3 bits: [5, 0, 1, 7]; 12 bits 0b111_001_000_101 = 0xe45.
        let r = rom("t", 4, 3, &[(0, &[5]), (2, &[1, 7])]);
        assert!(r.contains("localparam [12-1:0] T_INIT = 12'he45;"), "{r}");
        assert!(r.contains("reg [2:0] t [0:3];"));
        assert!(r.contains("t[t_i] = T_INIT[t_i*3 +: 3];"));
    }
}
