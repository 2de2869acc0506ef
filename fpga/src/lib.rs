//! The open FPGA toolchain, driven from Rust: the project's pinned tools (installed by
//! `scripts/setup-tools.sh` into a project-local virtual environment, no root needed), and
//! synthesis with yosys, read back as the cells it made. Every tool's exit status is checked and
//! its log kept beside its outputs; outputs live in folders named by a hash of their inputs, so
//! the same inputs are not synthesised twice. [`bitstream`] goes on to place and route, and to
//! pack, for a board; [`weights`] puts a model into a routed design; [`dfu`] makes the image a
//! USB DFU bootloader takes.
#![deny(missing_docs)]

pub mod bitstream;
pub mod dfu;
pub mod floorplan;
pub mod paths;
pub mod status;
pub mod synth;
pub mod tools;
pub mod weights;

pub use synth::{
    clock_enable_networks, flip_flops_loaded_from, synthesize, yosys_netlist, Synthesis,
};
pub use tools::{build_root, find, ToolError};
