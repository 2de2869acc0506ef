//! Monorail's contract: the one place where each fact about the machine lives.
//!
//! Everything else in the workspace depends on this crate and it depends on nothing in the
//! workspace. The golden model, the compiler, the instruction-set simulator, the RTL generator and
//! the tests all call these definitions instead of restating them (VTA's lesson: an ISA or a
//! numeric rule written down three times drifts).
//!
//! - [`numerics`]: the normative integer arithmetic of the datapath (block floating point vectors,
//!   rounding, saturation, the look-up tables of the non-linear functions) and the offline weight
//!   quantisation. Its prose companion is `docs/numerics.md`.
//! - [`model_config`]: the hyper-parameters of a llama2.c transformer, raw and validated.
//! - [`steps`]: the names of the model steps (`attn_norm`, `qkv`, ...), shared by every layer.
//! - [`target`]: targets as data (lanes, memories, clock, device budget), raw and validated.
//! - [`board`]: boards as data (the target a board carries, its clock, UART, package and pins).
//! - [`isa`]: the instruction set, its encoding and assembly text, defined in one table.
//! - [`timing`]: each instruction's cost and the issue rules: cycles as a function of position.
//!
//! - [`bundle`]: the files the compiler writes and the simulators read.
//! - [`asm`]: a bundle's program as text to edit, and that text assembled back into the bundle.
#![deny(missing_docs)]

pub mod asm;
pub mod board;
pub mod bundle;
pub mod host;
pub mod isa;
pub mod micro;
pub mod model_config;
pub mod numerics;
pub mod steps;
pub mod target;
pub mod timing;

/// `n` and `noun`, the noun plural unless `n` is 1: "1 position", "2 positions".
pub fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// FNV-1a, 64 bits, of `bytes`: the hashes the contract names things by (a target's
/// [`target::Target::config_hash`], a bundle's files). Not for security: it tells apart files
/// and configurations that differ by accident.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_extend(FNV1A_OFFSET, bytes)
}

/// FNV-1a's starting state (its 64-bit offset basis).
pub const FNV1A_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a's state `state` after `bytes` more: for a hash over several parts.
pub fn fnv1a_extend(state: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(state, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
