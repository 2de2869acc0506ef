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
    if let Some(at) = out.find('@') {
        let rest = &out[at + 1..];
        if let Some(end) = rest.find('@') {
            let name = &rest[..end];
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
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

/// A Verilog function `name(index)` returning `values[index]` (unsigned, `value_bits` wide;
/// indexes past the table give 0): how the tables of `numerics::tables` become ROMs.
pub fn rom_function(name: &str, index_bits: u32, values: &[i32], value_bits: u32) -> String {
    let mut out = format!(
        "function [{}:0] {name}(input [{}:0] index);\n    case (index)\n",
        value_bits - 1,
        index_bits - 1
    );
    for (i, &v) in values.iter().enumerate() {
        assert!(v >= 0 && (v as u64) < 1 << value_bits, "{name}[{i}] = {v}");
        let _ = writeln!(
            out,
            "        {index_bits}'d{i}: {name} = {value_bits}'d{v};"
        );
    }
    let _ = writeln!(
        out,
        "        default: {name} = {value_bits}'d0;\n    endcase\nendfunction"
    );
    out
}

/// Bits needed to hold values `0 ..= max`.
pub fn bits_for(max: u64) -> u32 {
    (64 - max.leading_zeros()).max(1)
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
    }

    #[test]
    fn packers_name_every_lane() {
        let p = pack("w", "d", 2, 8);
        assert!(p.contains("wire [15:0] w;") && p.contains("{d$1, d$0}"));
        let u = unpack("q", "w", 2, 8);
        assert!(u.contains("q$1 = w[8 +: 8];"));
        assert_eq!((bits_for(255), bits_for(256), log2(64)), (8, 9, 6));
    }
}
