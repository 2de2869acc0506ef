//! Monorail's hardware: the wide SIMD streaming core, described with rust_hdl and generated as
//! Verilog for a target. The only crate of the workspace that touches rust_hdl.
//!
//! rust_hdl describes the blocks, their ports and how they connect ([`core::Core`] is written in
//! its language); the bodies of the datapath blocks are hand-written Verilog (rust_hdl's
//! `Verilog::Custom`), because they need signed arithmetic, variable shifts and lane replication
//! that rust_hdl's language does not express, and rust_hdl 0.46's own simulator and Verilog
//! disagree on exactly those (see `../shared/notes/rust-hdl.md`). Everything is verified in
//! Verilator against the instruction-set simulator and the contract, never in rust_hdl's
//! simulator. What each instruction means, how long it takes and where its fields are all come
//! from the contract crate ([`decode`]).
#![deny(missing_docs)]

pub mod board;
pub mod core;
pub mod decode;
pub mod host;
pub mod matrix;
pub mod memory;
pub mod pack;
pub mod scalar;
pub mod sequencer;
pub mod small;
pub mod small_top;
pub mod vector;
pub mod verilog;

use monorail_contract::isa;
use monorail_contract::target::{multipliers, Core, Target, VectorMemory};
use rust_hdl::prelude::*;

/// The plusarg naming the folder of a bundle's images, from which the generated memories load
/// them under Verilator: `+monorail_bundle=DIR` (a core named apart:
/// `+monorail_bundle_NAME=DIR`, [`Design::verilog_apart`]).
pub const BUNDLE_PLUSARG: &str = "monorail_bundle";

/// The generated hardware of one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Design {
    /// The target's name.
    pub target: String,
    /// The Verilog of the core: module `top` and everything below it.
    pub verilog: String,
}

impl Design {
    /// [`Design::verilog_named`], for a core held beside other cores in one simulation: its
    /// memories load their images from the plusarg `+monorail_bundle_NAME=DIR` instead of
    /// `+monorail_bundle=DIR`, so that each core runs a model of its own.
    pub fn verilog_apart(&self, name: &str) -> String {
        self.verilog_named(name).replace(
            &format!("\"{BUNDLE_PLUSARG}=%s\""),
            &format!("\"{BUNDLE_PLUSARG}_{name}=%s\""),
        )
    }

    /// The core's Verilog with its module `top` named `name` and its submodules `top$...`
    /// `name$...`, for a design that holds it beside other modules (a board top's `core`, a
    /// flow of one's own); nothing else changes. `name` must pass [`module_name_rule`].
    pub fn verilog_named(&self, name: &str) -> String {
        let mut out = String::with_capacity(self.verilog.len());
        let mut rest = self.verilog.as_str();
        while let Some(at) = rest.find("top") {
            out.push_str(&rest[..at]);
            let after = rest[at + 3..].chars().next();
            let starts = !out
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
            // `top$...`, `module top(`, and the comment that closes the module: `endmodule // top`.
            let module = after == Some('$')
                || (out.ends_with("module ") && after == Some('('))
                || (out.ends_with("endmodule // ") && after.is_none_or(|c| c == '\n'));
            out.push_str(if starts && module { name } else { "top" });
            rest = &rest[at + 3..];
        }
        out.push_str(rest);
        out
    }
}

/// Verilog-2005's reserved words, which no module may be named.
#[rustfmt::skip]
const VERILOG_KEYWORDS: &[&str] = &[
    "always", "and", "assign", "automatic", "begin", "buf", "bufif0", "bufif1", "case", "casex",
    "casez", "cell", "cmos", "config", "deassign", "default", "defparam", "design", "disable",
    "edge", "else", "end", "endcase", "endconfig", "endfunction", "endgenerate", "endmodule",
    "endprimitive", "endspecify", "endtable", "endtask", "event", "for", "force", "forever",
    "fork", "function", "generate", "genvar", "highz0", "highz1", "if", "ifnone", "incdir",
    "include", "initial", "inout", "input", "instance", "integer", "join", "large", "liblist",
    "library", "localparam", "macromodule", "medium", "module", "nand", "negedge", "nmos", "nor",
    "noshowcancelled", "not", "notif0", "notif1", "or", "output", "parameter", "pmos", "posedge",
    "primitive", "pull0", "pull1", "pulldown", "pullup", "pulsestyle_ondetect",
    "pulsestyle_onevent", "rcmos", "real", "realtime", "reg", "release", "repeat", "rnmos",
    "rpmos", "rtran", "rtranif0", "rtranif1", "scalared", "showcancelled", "signed", "small",
    "specify", "specparam", "strong0", "strong1", "supply0", "supply1", "table", "task", "time",
    "tran", "tranif0", "tranif1", "tri", "tri0", "tri1", "triand", "trior", "trireg", "unsigned",
    "use", "uwire", "vectored", "wait", "wand", "weak0", "weak1", "while", "wire", "wor", "xnor",
    "xor",
];

/// The reserved words SystemVerilog (IEEE 1800-2017) adds to Verilog-2005's: Verilator reads
/// `.v` files as SystemVerilog, so no module may be named these either.
#[rustfmt::skip]
const SYSTEMVERILOG_KEYWORDS: &[&str] = &[
    "accept_on", "alias", "always_comb", "always_ff", "always_latch", "assert", "assume",
    "before", "bind", "bins", "binsof", "bit", "break", "byte", "chandle", "checker", "class",
    "clocking", "const", "constraint", "context", "continue", "cover", "covergroup",
    "coverpoint", "cross", "dist", "do", "endchecker", "endclass", "endclocking", "endgroup",
    "endinterface", "endpackage", "endprogram", "endproperty", "endsequence", "enum",
    "eventually", "expect", "export", "extends", "extern", "final", "first_match", "foreach",
    "forkjoin", "global", "iff", "ignore_bins", "illegal_bins", "implements", "implies",
    "import", "inside", "int", "interconnect", "interface", "intersect", "join_any", "join_none",
    "let", "local", "logic", "longint", "matches", "modport", "nettype", "new", "nexttime",
    "null", "package", "packed", "priority", "program", "property", "protected", "pure", "rand",
    "randc", "randcase", "randsequence", "ref", "reject_on", "restrict", "return", "s_always",
    "s_eventually", "s_nexttime", "s_until", "s_until_with", "sequence", "shortint",
    "shortreal", "soft", "solve", "static", "string", "strong", "struct", "super",
    "sync_accept_on", "sync_reject_on", "tagged", "this", "throughout", "timeprecision",
    "timeunit", "type", "typedef", "union", "unique", "unique0", "until", "until_with",
    "untyped", "var", "virtual", "void", "wait_order", "weak", "wildcard", "with", "within",
];

/// Whether `name` can name the core's module ([`Design::verilog_named`]): a letter or `_`,
/// then letters, digits or `_`, and no Verilog or SystemVerilog keyword.
pub fn module_name_rule(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let simple = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !simple {
        Err("must be a letter or `_`, then letters, digits or `_`".into())
    } else if VERILOG_KEYWORDS.contains(&name) {
        Err("is a Verilog keyword".into())
    } else if SYSTEMVERILOG_KEYWORDS.contains(&name) {
        Err("is a SystemVerilog keyword (Verilator reads .v files as SystemVerilog)".into())
    } else {
        Ok(())
    }
}

/// Generate the core for `target`. The same target gives the same bytes.
pub fn generate(target: &Target) -> Design {
    let verilog = match target.core {
        Core::Wide => {
            let mut core = core::Core::new(target);
            core.connect_all();
            generate_verilog(&core)
        }
        Core::Small => {
            let mut top = small_top::SmallTop::new(target);
            top.connect_all();
            generate_verilog(&top)
        }
    };
    let core = match target.core {
        Core::Wide => "core",
        Core::Small => "small core",
    };
    Design {
        target: target.name.clone(),
        verilog: format!(
            "// Monorail {core} for target {} (generated by monorail-hw; do not edit)\n{verilog}",
            target.name
        ),
    }
}

/// The target a generated file's Verilog was generated for, by its first line (the core's, or a
/// board top's, which names the target it carries); `None` for other Verilog.
pub fn generated_for(verilog: &str) -> Option<&str> {
    let first = verilog.lines().next()?;
    let rest = first.strip_suffix(" (generated by monorail-hw; do not edit)")?;
    let (_, target) = rest
        .rsplit_once(" carrying target ")
        .or_else(|| rest.rsplit_once(" for target "))?;
    Some(target)
}

/// What the core of `target` is made of and what it should take on the target's device: lanes,
/// memories, and the block RAMs and multipliers by the contract's estimate (which the synthesis
/// tests hold yosys to). One line each, for `monorail gen`'s report.
pub fn report(target: &Target) -> Vec<String> {
    if target.core == Core::Small {
        return small::report(target);
    }
    let (l, v) = (target.lanes, target.vector_lanes);
    let words = |m: VectorMemory| target.words_of(m);
    let mut lines = vec![
        format!("core for {}: {}", target.name, target.description),
        format!(
            "matrix unit: {l} lanes (int8 x int8 into int32); matrix memory {} x {} words x {l} \
             bytes ({} KB)",
            monorail_contract::counted(target.matrix_tiles, "tile"),
            target.matrix_tile_words,
            target.matrix_bytes() / 1024
        ),
        format!(
            "vector unit: {v} lanes; memories of {v}-element words: vector {} (18-bit), \
             accumulator {} (32-bit), wide {} (32-bit), input {} (8-bit); in distributed RAM: \
             {}",
            words(VectorMemory::Vector),
            words(VectorMemory::Accumulator),
            words(VectorMemory::Wide),
            words(VectorMemory::Input),
            {
                let distributed: Vec<&str> = VectorMemory::ALL
                    .into_iter()
                    .filter(|&m| !target.in_block_ram(m))
                    .map(VectorMemory::name)
                    .collect();
                if distributed.is_empty() {
                    "none".to_string()
                } else {
                    distributed.join(", ")
                }
            }
        ),
        format!(
            "scalar registers: {} of {} bits; dotv's partial sums: {} columns ({})",
            target.registers,
            isa::REGISTER_BITS,
            target.partial_sums,
            if target.partial_sums_in_block_ram() {
                "block RAM"
            } else {
                "distributed RAM"
            }
        ),
        format!(
            "program memory: {} instructions of {} stored bits",
            target.program_words,
            isa::stored_bits()
        ),
        format!("clock: {} MHz", target.clock_hz as f64 / 1e6),
    ];
    match (&target.device, target.block_ram_estimate()) {
        (Some(d), Some(e)) => {
            let rams = if e.matrix_in_spram {
                "the matrix memory in SPRAM; "
            } else {
                ""
            };
            lines.push(format!(
                "expected on the {}: {rams}block RAM {} of {} (matrix {}, vector {}, \
                 accumulator/wide/input {}, program {}, tables {}, partial sums {}); \
                 multipliers {} of {}",
                d.part,
                e.total(),
                d.block_rams,
                e.matrix,
                e.vector,
                e.small,
                e.program,
                e.tables,
                e.partial_sums,
                multipliers(l, v),
                d.dsps
            ));
            for overflow in target.device_overflows() {
                lines.push(format!("does not fit: {overflow}"));
            }
        }
        _ => lines.push("no device: a core for simulation".to_string()),
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_is_renamed_and_nothing_else() {
        let design = Design {
            target: String::new(),
            verilog: "module top(clock);\n  top$acc acc(.stop(stop));\nendmodule // top\nmodule \
                      top$acc(x);\nwire laptop$x; // top\nendmodule // top$acc\n"
                .into(),
        };
        assert_eq!(
            design.verilog_named("core"),
            "module core(clock);\n  core$acc acc(.stop(stop));\nendmodule // core\nmodule \
             core$acc(x);\nwire laptop$x; // top\nendmodule // core$acc\n"
        );
        assert!(module_name_rule("monorail_core2").is_ok());
        assert!(module_name_rule("_u").is_ok());
        for bad in [
            "",
            "2core",
            "my-core",
            "core$x",
            "module",
            "wire",
            "logic",
            "interface",
        ] {
            assert!(module_name_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_generated_file_names_its_target() {
        let target = Target::builtin("sim-tiny").unwrap();
        assert_eq!(generated_for(&generate(&target).verilog), Some("sim-tiny"));
        let board = "// Monorail board top for ulx3s-45f carrying target ecp5-45f (generated by \
                     monorail-hw; do not edit)\n";
        assert_eq!(generated_for(board), Some("ecp5-45f"));
        assert_eq!(generated_for("module top;\nendmodule\n"), None);
    }

    /// The report says what the ISA defines: registers of 48 bits (on 64-bit buses), 32 of
    /// them where the target says so.
    #[test]
    fn the_report_gives_the_registers_of_the_isa() {
        for (name, line) in [
            ("ulx3s-85f", "scalar registers: 64 of 48 bits"),
            ("gw2a-18", "scalar registers: 32 of 48 bits"),
        ] {
            let lines = report(&Target::builtin(name).unwrap());
            assert!(
                lines.iter().any(|l| l.starts_with(line)),
                "{name}: {lines:?}"
            );
        }
    }
}
