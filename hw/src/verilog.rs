//! Helpers for the hand-written Verilog bodies of the custom blocks.
//!
//! rust_hdl names the ports of a block from its fields; a lane-replicated port (a `Vec` of
//! signals) becomes one port per lane (`data$0`, `data$1`, ...). Verilog cannot index those in a
//! `generate` loop, so each body starts with *packers*: the lanes gathered into one wide vector
//! (inputs) or scattered from one (outputs), after which the body uses ordinary part-selects.

use monorail_contract::target::{Family, Target};
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

/// A multiplier and its product register: `q <= a * b` at each clock edge where `enable` holds
/// (`q`, of `q_bits`, declared `reg` by the caller).
#[derive(Clone, Copy, Debug)]
pub struct ProductRegister<'a> {
    /// The product register.
    pub q: &'a str,
    /// Its width: at most the product's.
    pub q_bits: u32,
    /// When it loads (`1'b1`: at every edge).
    pub enable: &'a str,
    /// Whether a consumer reads `q` after an edge where `enable` did not hold, so that it must
    /// hold its value. When not (every consumer reads it only the cycle after a load, under the
    /// enable delayed), the enable only spares simulators the multiplication, and on the Gowin
    /// the register loads at every edge: a DSP macro there has four clock-enable networks, and
    /// nextpnr 0.11.1 counts every network it ever placed in a macro (it never forgets one), so
    /// more than four in the design fail its placement ("More than 4 different networks for CE
    /// or CLK signals in one DSP macro").
    pub held: bool,
    /// The operands, expressions of `a_bits` and `b_bits` (at most 18 each).
    pub a: &'a str,
    /// See `a`.
    pub a_bits: u32,
    /// See `a`.
    pub b: &'a str,
    /// See `a`.
    pub b_bits: u32,
    /// Whether both operands are two's complement (otherwise both are unsigned).
    pub signed: bool,
}

impl<'a> ProductRegister<'a> {
    /// When the register loads on `target`: its enable, or on the Gowin every edge when the
    /// value need not hold (see [`ProductRegister::held`]).
    pub fn enable_on(&self, target: &Target) -> &'a str {
        if is_gowin(target) && !self.held {
            "1'b1"
        } else {
            self.enable
        }
    }

    fn for_target(&self, target: &Target) -> ProductRegister<'a> {
        ProductRegister {
            enable: self.enable_on(target),
            ..*self
        }
    }

    /// A comment line where `target` drops the enable, saying why; empty elsewhere.
    pub fn every_edge_note(&self, target: &Target) -> String {
        if self.enable_on(target) == self.enable {
            String::new()
        } else {
            format!(
                "// {q} loads at every edge, not only with {e}: its readers take it only\n\
                 // the cycle after a load (a Gowin DSP macro has four clock-enable networks).\n",
                q = self.q,
                e = self.enable
            )
        }
    }

    /// The register in plain Verilog, as every simulator and synthesis tool reads it.
    fn behavioural(&self) -> String {
        let operand = |x: &str| {
            if self.signed {
                format!("$signed({x})")
            } else {
                x.to_string()
            }
        };
        let load = format!("{} <= {} * {};", self.q, operand(self.a), operand(self.b));
        if self.enable == "1'b1" {
            format!("always @(posedge clock) {load}\n")
        } else {
            format!("always @(posedge clock) if ({}) {load}\n", self.enable)
        }
    }

    /// The register as the Gowin multiplier's own output register (`OUT_REG`). A Gowin slice
    /// pairs a flip-flop only with the LUT that drives it: loaded from a multiplier, the product's
    /// flip-flops would take a LUT site each.
    fn gowin(&self) -> String {
        assert!(self.a_bits <= 18 && self.b_bits <= 18, "{self:?}");
        let operand_bits = if self.a_bits <= 9 && self.b_bits <= 9 {
            9
        } else {
            18
        };
        let product_bits = 2 * operand_bits;
        assert!(self.q_bits <= product_bits, "{self:?}");
        let q = self.q;
        let extend = |x: &str, expression: &str, bits: u32| {
            let pad = operand_bits - bits;
            let wire = format!("wire [{}:0] {q}_{x} = {expression};\n", bits - 1);
            let value = match (pad, self.signed) {
                (0, _) => format!("{q}_{x}"),
                (_, true) => format!("{{{{{pad}{{{q}_{x}[{}]}}}}, {q}_{x}}}", bits - 1),
                (_, false) => format!("{{{pad}'d0, {q}_{x}}}"),
            };
            (wire, value)
        };
        let (a_wire, a) = extend("a", self.a, self.a_bits);
        let (b_wire, b) = extend("b", self.b, self.b_bits);
        let sign = if self.signed { "1'b1" } else { "1'b0" };
        let unused = if self.q_bits < product_bits {
            format!(
                "wire unused_{q}_product = &{{1'b0, {q}_product[{}:{}]}};\n",
                product_bits - 1,
                self.q_bits
            )
        } else {
            String::new()
        };
        // The enable through a wire of its own: a memory's word (as `p_valid[2]`) on a port of a
        // primitive makes yosys reprocess the module once the primitive is known, and the
        // flattened top then again, from its source, at synth_gowin's closing check.
        format!(
            "{a_wire}{b_wire}wire {q}_enable = {enable};\nwire [{top}:0] {q}_product;\n\
             MULT{n}X{n} #(.AREG(1'b0), .BREG(1'b0), .OUT_REG(1'b1), .PIPE_REG(1'b0), \
             .ASIGN_REG(1'b0), .BSIGN_REG(1'b0), .SOA_REG(1'b0), .MULT_RESET_MODE(\"SYNC\"))\n\
             \x20   {q}_multiplier (.A({a}), .SIA({n}'d0), .ASIGN({sign}), .ASEL(1'b0), .B({b}), \
             .SIB({n}'d0), .BSIGN({sign}), .BSEL(1'b0),\n\
             \x20   .CE({q}_enable), .CLK(clock), .RESET(1'b0), .DOUT({q}_product), .SOA(), .SOB());\n\
             always @(*) {q} = {q}_product[{q_top}:0];\n{unused}",
            top = product_bits - 1,
            n = operand_bits,
            enable = self.enable,
            q_top = self.q_bits - 1,
        )
    }
}

/// Whether `target` is a Gowin device's, where a flip-flop loaded from anything but the LUT or
/// carry cell beside it takes a LUT site of its own, and distributed RAM is cheap: its product
/// registers are the multipliers' own, and its long delay lines are distributed RAM.
pub fn is_gowin(target: &Target) -> bool {
    target
        .device
        .as_ref()
        .is_some_and(|d| d.family == Family::Gowin)
}

/// `p`'s multiplier and register for `target`: plain Verilog, or on the Gowin the multiplier
/// primitive with its output register for synthesis and the plain Verilog for Verilator (which
/// has no Gowin primitives; the two load the same product at the same edges).
pub fn product_register(target: &Target, p: &ProductRegister) -> String {
    let (note, p) = (p.every_edge_note(target), p.for_target(target));
    if is_gowin(target) {
        format!(
            "{note}`ifdef VERILATOR\n{}`else\n{}`endif\n",
            p.behavioural(),
            p.gowin()
        )
    } else {
        p.behavioural()
    }
}

/// `p` as synthesis reads it (for a template that has its own Verilator branch).
pub fn product_register_for_synthesis(target: &Target, p: &ProductRegister) -> String {
    let (note, p) = (p.every_edge_note(target), p.for_target(target));
    if is_gowin(target) {
        format!("{note}{}", p.gowin())
    } else {
        p.behavioural()
    }
}

/// `text` with every non-empty line indented by `spaces` more (for a snippet in a `generate`).
pub fn indented(text: &str, spaces: usize) -> String {
    text.lines()
        .map(|line| {
            if line.is_empty() || line.starts_with('`') {
                format!("{line}\n")
            } else {
                format!("{:spaces$}{line}\n", "")
            }
        })
        .collect()
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

    /// On the Gowin the product register is the multiplier's own: its output register loads
    /// with the enable, the operands are extended by their sign (or zeros) to the primitive's
    /// width, and Verilator keeps the plain register. Elsewhere only the plain register.
    #[test]
    fn product_registers_are_the_gowin_multipliers_own() {
        let p = ProductRegister {
            q: "prod",
            q_bits: 16,
            enable: "valid[2]",
            held: true,
            a: "w",
            a_bits: 8,
            b: "x",
            b_bits: 8,
            signed: true,
        };
        let plain = "always @(posedge clock) if (valid[2]) prod <= $signed(w) * $signed(x);\n";
        let ecp5 = Target::builtin("ulx3s-85f").unwrap();
        assert_eq!(product_register(&ecp5, &p), plain);
        assert_eq!(product_register_for_synthesis(&ecp5, &p), plain);
        assert_eq!(
            product_register(&Target::builtin("sim-tiny").unwrap(), &p),
            plain
        );

        let gowin = Target::builtin("gw2a-18").unwrap();
        let both = product_register(&gowin, &p);
        assert!(
            both.starts_with(&format!("`ifdef VERILATOR\n{plain}`else\n")),
            "{both}"
        );
        let primitive = product_register_for_synthesis(&gowin, &p);
        assert!(both.ends_with(&format!("{primitive}`endif\n")), "{both}");
        for part in [
            "MULT9X9 #(.AREG(1'b0), .BREG(1'b0), .OUT_REG(1'b1), .PIPE_REG(1'b0),",
            "wire prod_enable = valid[2];",
            ".A({{1{prod_a[7]}}, prod_a})",
            ".ASIGN(1'b1)",
            ".CE(prod_enable), .CLK(clock), .RESET(1'b0), .DOUT(prod_product)",
            "always @(*) prod = prod_product[15:0];",
            "wire unused_prod_product = &{1'b0, prod_product[17:16]};",
        ] {
            assert!(primitive.contains(part), "{part} in {primitive}");
        }
        // Wider or unsigned operands: the 18 x 18 multiplier, zeros above the operand, and a
        // register that loads at every edge.
        let wide = product_register_for_synthesis(
            &gowin,
            &ProductRegister {
                q: "phase",
                q_bits: 36,
                enable: "1'b1",
                held: false,
                a: "step[15:0]",
                a_bits: 16,
                b: "pos",
                b_bits: 18,
                signed: false,
            },
        );
        for part in [
            "MULT18X18 #(",
            ".A({2'd0, phase_a})",
            ".B(phase_b)",
            ".ASIGN(1'b0)",
            "wire phase_enable = 1'b1;",
        ] {
            assert!(wide.contains(part), "{part} in {wide}");
        }
        assert!(!wide.contains("unused_phase"), "{wide}");
        assert_eq!(
            product_register(
                &ecp5,
                &ProductRegister {
                    enable: "1'b1",
                    signed: false,
                    ..p
                }
            ),
            "always @(posedge clock) prod <= w * x;\n"
        );
        // A product its readers take only the cycle after a load keeps its enable for the
        // simulators, but on the Gowin loads at every edge (a DSP macro's four clock-enable
        // networks), in Verilator's branch as in synthesis's.
        let unheld = ProductRegister { held: false, ..p };
        assert_eq!(unheld.enable_on(&ecp5), "valid[2]");
        assert_eq!(product_register(&ecp5, &unheld), plain);
        assert_eq!(unheld.enable_on(&gowin), "1'b1");
        let every_edge = product_register(&gowin, &unheld);
        let note = unheld.every_edge_note(&gowin);
        assert!(
            note.starts_with("// prod loads at every edge, not only with valid[2]"),
            "{note}"
        );
        assert_eq!(p.every_edge_note(&gowin), "");
        assert_eq!(unheld.every_edge_note(&ecp5), "");
        assert!(
            every_edge.starts_with(&format!(
                "{note}`ifdef VERILATOR\nalways @(posedge clock) prod <= $signed(w) * $signed(x);\n`else\n"
            )),
            "{every_edge}"
        );
        let code = every_edge.strip_prefix(&note).unwrap();
        assert!(code.contains("wire prod_enable = 1'b1;"), "{every_edge}");
        assert!(!code.contains("valid[2]"), "{every_edge}");
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
