//! What the RTL needs to know about each instruction, derived from the contract's instruction
//! table, access sets and cost rules, and written out as Verilog, so that the RTL does not
//! restate them. (Not yet all: the units' own occupancy counts in `rtl/vector.v` and
//! `rtl/matrix.v`, the wait field's bits in `rtl/sequencer.v` and the residual guard bits in
//! `rtl/vector.v` are still written by hand beside the contract's. Sending the vector unit the
//! sequencer's occupancy instead cost the 8-lane ECP5 core 600 LUT4s more in the vector unit,
//! by yosys; a generated case, as the sequencer's, is the way to go.)
//!
//! - field positions come from `isa::SPECS`;
//! - which register fields an instruction reads comes from probing `Op::accesses`;
//! - which vector operands it streams comes from `Op::vector_operands`;
//! - how long it takes comes from `timing::rule`.

use monorail_contract::isa::{
    FieldKind, Op, OpSpec, Role, Unit, OPERAND_SHIFT, REGISTER_READS, SPECS,
};
use monorail_contract::timing::{rule, CostRule};

/// One operation, decoded.
#[derive(Clone, Debug)]
pub struct OpDecode {
    /// Its format.
    pub spec: &'static OpSpec,
    /// Register fields read, in field order (at most `REGISTER_READS`).
    pub reads: Vec<&'static str>,
    /// Its cost rule.
    pub rule: CostRule,
    /// Vector operands read by the vector unit, in field order (port A, then port B).
    pub vector_reads: Vec<&'static str>,
}

impl OpDecode {
    /// The opcode constant's Verilog name (`OP_MATVEC`).
    pub fn constant(&self) -> String {
        format!("OP_{}", self.spec.mnemonic.to_uppercase())
    }

    /// The Verilog part-select of field `name` of `instr`.
    pub fn field(&self, instr: &str, name: &str) -> String {
        let (offset, bits) = field_position(self.spec, name);
        format!("{instr}[{offset} +: {bits}]")
    }

    /// The width of field `name`.
    pub fn field_bits(&self, name: &str) -> u32 {
        field_position(self.spec, name).1
    }

    /// Whether it has a field called `name`.
    pub fn has_field(&self, name: &str) -> bool {
        self.spec.fields.iter().any(|f| f.name == name)
    }
}

/// Bit offset and width of a field.
pub fn field_position(spec: &OpSpec, name: &str) -> (u32, u32) {
    let mut offset = OPERAND_SHIFT;
    for f in spec.fields {
        if f.name == name {
            return (offset, f.bits);
        }
        offset += f.bits;
    }
    panic!("{} has no field {name}", spec.mnemonic)
}

/// The decode of every operation, in opcode order.
pub fn all() -> Vec<OpDecode> {
    SPECS.iter().map(decode).collect()
}

/// The decode of the operation with this mnemonic.
pub fn by_mnemonic(mnemonic: &str) -> OpDecode {
    let spec = SPECS
        .iter()
        .find(|s| s.mnemonic == mnemonic)
        .unwrap_or_else(|| panic!("no instruction {mnemonic}"));
    decode(spec)
}

/// The register that [`probe`] gives the register field at index `field` of an instruction.
pub fn probe_register(field: usize) -> u32 {
    10 + field as u32
}

/// A probe of an operation: register fields get distinct registers ([`probe_register`]); other
/// fields small valid values, so that its accesses and operands can be read off.
pub fn probe(spec: &OpSpec) -> Op {
    let values: Vec<i64> = spec
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| match f.kind {
            FieldKind::R => i64::from(probe_register(i)),
            _ => 1 + 16 * i as i64,
        })
        .collect();
    Op::from_values(spec.opcode, &values).expect("probe values fit every field")
}

fn decode(spec: &'static OpSpec) -> OpDecode {
    let op = probe(spec);
    let access = op.accesses(4, 0, 1);
    let reads = spec
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            f.kind == FieldKind::R && access.register_reads & (1u64 << probe_register(*i)) != 0
        })
        .map(|(_, f)| f.name)
        .collect::<Vec<_>>();
    assert!(
        reads.len() <= REGISTER_READS,
        "{} reads more than {REGISTER_READS} registers",
        spec.mnemonic
    );
    let vector_reads = op
        .vector_operands(4, 0)
        .into_iter()
        .filter(|o| o.role == Role::VxuRead)
        .map(|o| o.field)
        .collect();
    OpDecode {
        spec,
        reads,
        rule: rule(&op),
        vector_reads,
    }
}

/// Verilog `localparam`s of every opcode.
pub fn opcode_constants() -> String {
    all()
        .iter()
        .map(|d| {
            format!(
                "localparam [7:0] {} = 8'h{:02x};\n",
                d.constant(),
                d.spec.opcode
            )
        })
        .collect()
}

/// `body` with the opcode constants it does not use removed (each module declares
/// [`opcode_constants`] and keeps what it refers to).
pub fn prune_opcodes(body: &str) -> String {
    body.lines()
        .filter(|line| {
            let Some(rest) = line.strip_prefix("localparam [7:0] OP_") else {
                return true;
            };
            let name = format!("OP_{}", rest.split_whitespace().next().unwrap_or(""));
            // Whole words only: OP_SUM is not OP_SUMSQ.
            body.match_indices(name.as_str())
                .filter(|(at, _)| {
                    !body[at + name.len()..]
                        .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                })
                .count()
                > 1
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The unit code the sequencer uses: 0 sequencer, 1 matrix, 2 vector, 3 scalar (the wait-field
/// encoding).
pub fn unit_code(unit: Unit) -> u32 {
    match unit {
        Unit::Seq => 0,
        Unit::Mxu => 1,
        Unit::Vxu => 2,
        Unit::Sxu => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_reads_and_vector_operands_come_from_the_contract() {
        let expneg = by_mnemonic("expneg");
        assert_eq!(expneg.reads, vec!["max", "shift"]);
        assert_eq!(expneg.vector_reads, vec!["src"]);
        let normg = by_mnemonic("normg");
        assert_eq!(normg.reads, vec!["top"]);
        assert_eq!(normg.vector_reads, vec!["src", "exps"]);
        assert_eq!(by_mnemonic("matvec").reads, vec!["wreg"]);
        assert_eq!(by_mnemonic("end").reads, vec!["token"]);
        assert_eq!(by_mnemonic("rsqrt").reads, vec!["a"]);
        assert_eq!(by_mnemonic("mul").vector_reads, vec!["a", "b"]);
        let (offset, bits) = field_position(by_mnemonic("matvec").spec, "cols");
        assert_eq!((offset, bits), (99, 16));
    }
}
