//! Models: llama2.c checkpoints and tokenizer, the float reference (`run.c`'s semantics), the
//! quantised integer model and the golden integer forward pass, and the measures between them.
//!
//! The data flows through the modules in this order: [`checkpoint`] and [`tokenizer`] load files;
//! [`float`] runs them as `run.c` does; [`quant`] turns a checkpoint into the integer model;
//! [`golden`] runs that bit-exactly; [`engine`] generates tokens from either with [`sampler`];
//! [`fidelity`] compares the two; [`synth`] writes seeded random checkpoints for tests.
#![deny(missing_docs)]

pub mod checkpoint;
pub mod engine;
pub mod error;
pub mod fidelity;
pub mod float;
pub mod golden;
pub mod quant;
pub mod sampler;
pub mod synth;
pub mod tokenizer;

pub use error::ModelError;
