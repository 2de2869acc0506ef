//! The small core's RTL (`docs/small-core.md`), block by block, each generated from the
//! contract's micro-ISA (`contract::micro`) and checked in Verilator against its Rust
//! definition. So far: the ALU.

use std::fmt::Write as _;

use monorail_contract::micro::{AluFn, DATAPATH_BITS, MULTIPLIER_BITS};

use crate::verilog::render;

/// Bits of an ALU function code (`AluFn::ALL`'s index, the micro-instruction's operation code).
pub const ALU_FUNCTION_BITS: u32 = usize::BITS - (AluFn::ALL.len() - 1).leading_zeros();

/// The Verilog name of an ALU function: `ShiftRound` is `SHIFT_ROUND`.
fn code_name(f: AluFn) -> String {
    let mut name = String::new();
    for (i, c) in format!("{f:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// The ALU as module `module`: ports `clock`, `f` (the function's code), `a`, `b`, `flag_in`;
/// `result` and `flag` registered at the clock's rising edge, as `AluFn::apply` gives them.
pub fn alu(module: &str) -> String {
    assert_eq!(
        DATAPATH_BITS, 48,
        "the template is written for a 48-bit datapath"
    );
    let mut codes = String::new();
    for (i, &f) in AluFn::ALL.iter().enumerate() {
        let _ = writeln!(
            codes,
            "    localparam [{}:0] {} = {ALU_FUNCTION_BITS}'d{i};",
            ALU_FUNCTION_BITS - 1,
            code_name(f)
        );
    }
    render(
        include_str!("rtl/small_alu.v"),
        &[
            ("MODULE", module.to_string()),
            ("CODES", codes.trim_end().to_string()),
            ("F_TOP", (ALU_FUNCTION_BITS - 1).to_string()),
            ("INPUT_TOP", (MULTIPLIER_BITS - 1).to_string()),
            ("PRODUCT_TOP", (2 * MULTIPLIER_BITS - 1).to_string()),
            (
                "PRODUCT_PAD",
                (DATAPATH_BITS - 2 * MULTIPLIER_BITS).to_string(),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_its_case() {
        let v = alu("top");
        // Every code is a label of the result's case.
        let case = &v[v.find("case (f)").unwrap()..v.find("endcase").unwrap()];
        for f in AluFn::ALL {
            let name = code_name(f);
            let labelled = case.lines().any(|line| {
                let labels = line.trim().split(':').next().unwrap_or("");
                labels.split(", ").any(|label| label == name)
            });
            assert!(labelled, "{f:?}");
        }
        assert_eq!(code_name(AluFn::ShiftRound), "SHIFT_ROUND");
    }
}
