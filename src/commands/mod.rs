//! One module a subcommand: its flags (`Args`) and what it does (`run`).

pub mod asm;
pub mod bench;
pub mod bitstream;
pub mod boards;
pub mod chat;
pub mod clean;
pub mod compile;
pub mod corpus;
pub mod cosim;
pub mod demo;
pub mod disasm;
pub mod fidelity;
pub mod gen;
pub mod quality;
pub mod run;
pub mod synth_model;
pub mod targets;
