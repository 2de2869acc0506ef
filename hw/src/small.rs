//! The small core's RTL (`docs/small-core.md`), generated from the contract's micro-ISA
//! (`contract::micro`): the ALU ([`alu`]), checked in Verilator against `AluFn::apply`, and the
//! core around it ([`core()`]), checked against `monorail_sim::micro::MicroMachine` routine by
//! routine and token by token. The micro-program, the dispatch table, the tables and every code
//! and field position are rendered from the contract, so the RTL cannot drift from the
//! micro-machine that defines it.

use std::fmt::Write as _;

use monorail_contract::isa::{self, LEN_POSITIONS_FLAG, REG_POS, REG_TOKEN};
use monorail_contract::micro::{
    code, layout, program, AluFn, CountKind, MicroOp, PosPart, Step, Table, COUNTERS,
    DATAPATH_BITS, INDEX_LATCHES, INSTRUCTION_ELEMENTS, MICRO_INSTRUCTION_BITS, MICRO_REGISTERS,
    MULTIPLIER_BITS, POINTERS, START_CYCLES,
};
use monorail_contract::target::{Core, Target};
use monorail_contract::timing::STEP_LIMIT_CYCLES;

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
            ("LIMIT_MASKS", low_bits_masks("limit")),
            ("INPUT_TOP", (MULTIPLIER_BITS - 1).to_string()),
            ("PRODUCT_TOP", (2 * MULTIPLIER_BITS - 1).to_string()),
            (
                "PRODUCT_PAD",
                (DATAPATH_BITS - 2 * MULTIPLIER_BITS).to_string(),
            ),
        ],
    )
}

/// What the small core of `target` is made of and what it should take on the target's device,
/// one line each, for `monorail gen`'s report.
pub fn report(target: &Target) -> Vec<String> {
    let p = program();
    let mut lines = vec![
        format!("small core for {}: {}", target.name, target.description),
        format!(
            "one instruction at a time by a micro-program of {} words of {MICRO_INSTRUCTION_BITS} \
             bits; {MICRO_REGISTERS} registers of {DATAPATH_BITS} bits (two {} copies); \
             {} matrix lanes (8 x 8 multipliers into 32-bit accumulators)",
            p.rom.len(),
            if target.small_core_registers_distributed() {
                "distributed-RAM"
            } else {
                "block-RAM"
            },
            target.lanes
        ),
        format!(
            "vector memory: {} elements of 32 bits (the vector space's {}, then {} instructions); \
             matrix memory: {} words of {} bytes",
            target.small_core_vector_elements(),
            target.vector_space(),
            target.program_words,
            target.matrix_words(),
            target.lanes
        ),
        format!("clock: {} MHz", target.clock_hz as f64 / 1e6),
    ];
    if let (Some(d), Some(e)) = (&target.device, target.small_core_estimate()) {
        lines.push(format!("expected on the {}: {}", d.part, e.against(d)));
        for overflow in target.device_overflows() {
            lines.push(format!("does not fit: {overflow}"));
        }
    }
    lines.push(format!(
        "host port: the wide core's (docs/boards.md, \"The host link\"); a program word is \
             written as {INSTRUCTION_ELEMENTS} vector-memory elements"
    ));
    lines
}

/// The cases of a 6-bit `select` giving `target` its low `select` bits set (all 48 from 48 on):
/// a table, which the iCE40 maps to LUTs alone, where 48 comparisons with each bit's index
/// became carry chains.
fn low_bits_masks(target: &str) -> String {
    assert_eq!(DATAPATH_BITS, 48, "the masks are 48 bits");
    (0..64u32)
        .map(|n| {
            let mask = (1u64 << n.min(DATAPATH_BITS)) - 1;
            format!("            6'd{n}: {target} = 48'h{mask:012x};")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Bits to address `n` things (at least 1).
pub(crate) fn address_bits(n: usize) -> u32 {
    (usize::BITS - n.saturating_sub(1).leading_zeros()).max(1)
}

/// `expr`, of `from` bits, zero-extended to `to` bits.
fn zero_extend(expr: &str, from: u32, to: u32) -> String {
    assert!(to >= from, "{expr}: {from} bits do not fit {to}");
    if to == from {
        expr.to_string()
    } else {
        format!("{{{}'d0, {expr}}}", to - from)
    }
}

/// Bits of the loop counters and the limit counter: a length (its base, plus a position and
/// one) or the widest field a loop counts raw.
pub fn count_bits() -> u32 {
    let length_bits = LEN_POSITIONS_FLAG.trailing_zeros() + 2;
    let raw = program()
        .rom
        .iter()
        .filter_map(|w| match w.op {
            MicroOp::Loop { count, .. } | MicroOp::Limit { count }
                if count.kind == CountKind::Raw =>
            {
                Some(count.field.bits as u32)
            }
            _ => None,
        })
        .max()
        .unwrap_or(0);
    length_bits.max(raw)
}

/// The small core for `target` (`core = "small"`) as module `module`, with its ALU as module
/// `{module}_alu`: ports as `rtl/small_core.v` describes them. The same target gives the same
/// bytes.
pub fn core(target: &Target, module: &str) -> String {
    assert_eq!(
        target.core,
        Core::Small,
        "{} is not a small-core target",
        target.name
    );
    // The template has these many of each.
    assert_eq!((COUNTERS, POINTERS, INDEX_LATCHES), (2, 4, 4));
    assert_eq!((MICRO_REGISTERS, MICRO_INSTRUCTION_BITS), (128, 48));
    // Dispatch reads an instruction's elements in four cycles.
    assert_eq!(INSTRUCTION_ELEMENTS, 4);
    // S_CLEAR clears the ISA's registers one a cycle, counting them in 6 bits.
    assert_eq!((isa::REGISTERS as u64, START_CYCLES), (64, 64));
    let p = program();
    let lanes = target.lanes;
    assert!(lanes.is_power_of_two() && lanes >= 2);
    let log_lanes = lanes.trailing_zeros();
    let upc_bits = address_bits(p.rom.len());
    let count_bits = count_bits();

    let mut codes = String::new();
    let mut param = |name: &str, bits: u32, value: u64| {
        let _ = writeln!(
            codes,
            "    localparam [{}:0] {name} = {bits}'d{value};",
            bits - 1
        );
    };
    param("FIRST_CODE", layout::OP.1, code::FIRST);
    for (name, value) in code::ALL {
        param(name, layout::OP.1, value);
    }
    for kind in [
        CountKind::Raw,
        CountKind::Length,
        CountKind::Pairs,
        CountKind::Blocks,
        CountKind::Lanes,
    ] {
        let name = format!("KIND_{}", format!("{kind:?}").to_uppercase());
        param(&name, layout::COUNT_KIND.1, kind as u64);
    }
    param("PART_WORD", 2, PosPart::Word as u64);
    param("PART_LANE", 2, PosPart::Lane as u64);
    param("STEP_WORD", 1, Step::Word as u64);
    for (name, at) in [
        ("OP_LO", layout::OP.0),
        ("D_LO", layout::D.0),
        ("A_LO", layout::A.0),
        ("B_LO", layout::B.0),
        ("IMM_LO", layout::IMM.0),
        ("B_IMM", layout::B_IMM),
        ("ENDS_LOOP", layout::ENDS_LOOP),
        ("INDIRECT", layout::INDIRECT),
        ("FIELD_LO", layout::FIELD_LO.0),
        ("FIELD_WIDTH", layout::FIELD_WIDTH.0),
        ("FIELD_SIGNED", layout::FIELD_SIGNED),
        ("COUNT_KIND", layout::COUNT_KIND.0),
    ] {
        let _ = writeln!(codes, "    localparam integer {name} = {at};");
    }
    // The parts' widths the template assumes.
    assert_eq!(
        (
            layout::OP.1,
            layout::D.1,
            layout::A.1,
            layout::B.1,
            layout::IMM.1
        ),
        (6, 8, 8, 8, 16)
    );
    assert_eq!(
        (
            layout::FIELD_LO.1,
            layout::FIELD_WIDTH.1,
            layout::LATCH_BITS
        ),
        (7, 6, 2)
    );
    assert_eq!(code::FIRST as usize, 1 << ALU_FUNCTION_BITS);
    assert!(Table::ALL.len() <= 8);

    let mut rom_init = String::new();
    for (i, w) in p.rom.iter().enumerate() {
        // The template does not close a loop in the operation that opens one.
        assert!(!(w.ends_loop && matches!(w.op, MicroOp::Loop { .. })));
        let _ = writeln!(rom_init, "        rom[{i}] = 48'h{:012x};", w.encode());
    }
    let mut dispatch_init = String::new();
    for (opcode, entry) in p.entry.iter().enumerate() {
        let value = entry.map_or(0, |e| (1u64 << upc_bits) | e as u64);
        let _ = writeln!(
            dispatch_init,
            "        dispatch[{opcode}] = {}'d{value};",
            upc_bits + 1
        );
    }

    // The tables one after another, each read at its base plus its index modulo its length
    // rounded up to a power of two, and as 0 past its end.
    let table_words = Table::rom_entries();
    let table_bits = address_bits(table_words);
    let mut table_init = String::new();
    let mut table_cases = String::new();
    let mut base = 0;
    for (code, table) in Table::ALL.iter().enumerate() {
        let entries = table.entries();
        for (i, &v) in entries.iter().enumerate() {
            assert!(
                (0..=0xffff).contains(&v),
                "{table:?}[{i}] = {v} is not 16 bits"
            );
            let _ = writeln!(table_init, "        tables[{}] = 16'h{v:04x};", base + i);
        }
        // A table's index never needs more bits than the whole ROM's address.
        let index_bits = address_bits(entries.len().next_power_of_two());
        assert!(index_bits <= table_bits);
        let index = zero_extend(
            &format!("a_val[{}:0]", index_bits - 1),
            index_bits,
            table_bits,
        );
        let _ = writeln!(
            table_cases,
            "            3'd{code}: begin\n                table_addr = {table_bits}'d{base} + {index};\n                \
             table_past_end = {index} >= {table_bits}'d{};\n            end",
            entries.len()
        );
        base += entries.len();
    }

    // The fields the micro-program reads: at each first bit, the widest.
    let mut widest = std::collections::BTreeMap::new();
    for w in &p.rom {
        let field = match w.op {
            MicroOp::Field { field, .. }
            | MicroOp::Length { field, .. }
            | MicroOp::Index { field, .. }
            | MicroOp::Skip { field, .. } => field,
            MicroOp::Loop { count, .. } | MicroOp::Limit { count } => count.field,
            _ => continue,
        };
        let bits = widest.entry(field.lo as u32).or_insert(0);
        *bits = (*bits).max(field.bits as u32);
    }
    let mut field_cases = String::new();
    for (&lo, &bits) in &widest {
        assert!(lo + bits <= 8 * isa::INSTRUCTION_BYTES as u32 && bits <= DATAPATH_BITS);
        let part = format!("instr_r[{}:{lo}]", lo + bits - 1);
        let _ = writeln!(
            field_cases,
            "            7'd{lo}: field_shifted = {};",
            zero_extend(&part, bits, DATAPATH_BITS)
        );
    }
    let instruction_bits = 8 * isa::INSTRUCTION_BYTES as u32;
    let read = |bit: u32| {
        widest
            .iter()
            .any(|(&lo, &bits)| (lo..lo + bits).contains(&bit))
    };
    let mut unused = Vec::new();
    let mut bit = 0;
    while bit < instruction_bits {
        let start = bit;
        while bit < instruction_bits && !read(bit) {
            bit += 1;
        }
        if bit > start {
            unused.push(format!("instr_r[{}:{start}]", bit - 1));
        }
        bit += 1;
    }
    unused.reverse();
    // The sum of the lanes' 16-bit products.
    let dot_bits = 16 + log_lanes;

    let vector_elements = target.small_core_vector_elements();
    let vaddr_bits = address_bits(vector_elements);
    let maddr_bits = address_bits(target.matrix_words());
    let ipc_bits = address_bits(target.program_words);
    let len_flag = LEN_POSITIONS_FLAG.trailing_zeros();
    let top = |bits: u32| (bits - 1).to_string();
    let alu_module = format!("{module}_alu");
    let body = render(
        include_str!("rtl/small_core.v"),
        &[
            ("MODULE", module.to_string()),
            ("ALU", alu_module.clone()),
            ("CODES", codes.trim_end().to_string()),
            ("ROM_WORDS", p.rom.len().to_string()),
            (
                "RF_STYLE",
                if target.small_core_registers_distributed() {
                    "(* ram_style = \"distributed\" *) ".to_string()
                } else {
                    String::new()
                },
            ),
            ("ROM_INIT", rom_init.trim_end().to_string()),
            ("DISPATCH_INIT", dispatch_init.trim_end().to_string()),
            ("UPC_BITS", upc_bits.to_string()),
            ("UPC_TOP", top(upc_bits)),
            ("IPC_BITS", ipc_bits.to_string()),
            ("IPC_TOP", top(ipc_bits)),
            ("TRACE_INDEX", zero_extend("ipc", ipc_bits, 16)),
            ("LAST_INSTRUCTION", (target.program_words - 1).to_string()),
            ("F_TOP", top(ALU_FUNCTION_BITS)),
            ("REG_POS", REG_POS.to_string()),
            ("START_CYCLES", START_CYCLES.to_string()),
            ("STEP_LIMIT", STEP_LIMIT_CYCLES.to_string()),
            ("LAST_REGISTER", (isa::REGISTERS - 1).to_string()),
            ("REG_TOKEN", REG_TOKEN.to_string()),
            ("COUNT_BITS", count_bits.to_string()),
            ("COUNT_TOP", top(count_bits)),
            ("LEN_FLAG", len_flag.to_string()),
            ("LENGTH_PAD", (count_bits - len_flag).to_string()),
            ("POS_PAD", (count_bits - 16).to_string()),
            ("LENGTH_OUT_PAD", (DATAPATH_BITS - count_bits).to_string()),
            ("LANES", lanes.to_string()),
            ("LANES_TOP", top(lanes as u32)),
            ("LANES_MINUS_ONE", (lanes - 1).to_string()),
            ("LANES16_TOP", top(16 * lanes as u32)),
            ("LANES32_TOP", top(32 * lanes as u32)),
            ("LOG_LANES", log_lanes.to_string()),
            ("LOG_LANES_TOP", top(log_lanes)),
            ("VECTOR_ELEMENTS", vector_elements.to_string()),
            ("VADDR_BITS", vaddr_bits.to_string()),
            ("VADDR_TOP", top(vaddr_bits)),
            ("PROGRAM_BASE", target.vector_space().to_string()),
            (
                "PROGRAM_OFFSET",
                zero_extend("{ipc, state[1:0] - 2'd1}", ipc_bits + 2, vaddr_bits),
            ),
            ("MATRIX_WORDS", target.matrix_words().to_string()),
            ("MATRIX_TOP", top(8 * lanes as u32)),
            ("MADDR_BITS", maddr_bits.to_string()),
            ("MADDR_TOP", top(maddr_bits)),
            ("CURSOR_BITS", (maddr_bits + log_lanes).to_string()),
            ("CURSOR_TOP", top(maddr_bits + log_lanes)),
            ("MEM_ADDR_TOP", top(vaddr_bits.max(maddr_bits))),
            ("TABLE_WORDS", table_words.to_string()),
            ("TABLE_ADDR_BITS", table_bits.to_string()),
            ("TABLE_ADDR_TOP", top(table_bits)),
            ("TABLE_INIT", table_init.trim_end().to_string()),
            ("TABLE_CASES", table_cases.trim_end().to_string()),
            ("FIELD_CASES", field_cases.trim_end().to_string()),
            ("FIELD_MASKS", low_bits_masks("field_mask")),
            ("UNUSED_INSTR", unused.join(", ")),
            ("DOT_BITS", dot_bits.to_string()),
            ("DOT_TOP", top(dot_bits)),
            ("DOT_PAD", (dot_bits - 16).to_string()),
            ("DOT_OUT_PAD", (DATAPATH_BITS - dot_bits).to_string()),
        ],
    );
    format!("{body}\n{}", alu(&alu_module))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_has_its_case() {
        let v = alu("top");
        // Every code is a label of the result's case.
        let start = v.find("case (f)").unwrap();
        let case = &v[start..start + v[start..].find("endcase").unwrap()];
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
