//! Models: llama2.c checkpoints and tokenizer, the float reference (`run.c`'s semantics), the
//! quantised integer model and the golden integer forward pass, and the measures between them.
//!
//! The data flows through the modules in this order: [`checkpoint`] and [`tokenizer`] load files;
//! [`float`] runs them as `run.c` does; [`quant`] turns a checkpoint into the integer model;
//! [`golden`] runs that bit-exactly; [`engine`] generates tokens from either with [`sampler`];
//! [`fidelity`] compares the two; [`synth`] writes seeded random checkpoints for tests.
//! [`corpus`] generates the stories the built-in model learnt and checks their grammar, and
//! [`bpe`] trains a tokenizer on them; [`builtin`] holds the models trained on them, and
//! [`quality`] measures those models on held-out stories.
#![deny(missing_docs)]

pub mod bpe;
pub mod builtin;
pub mod checkpoint;
pub mod corpus;
pub mod engine;
pub mod error;
pub mod fidelity;
pub mod float;
pub mod golden;
pub mod quality;
pub mod quant;
pub mod sampler;
pub mod synth;
pub mod tokenizer;

pub use error::ModelError;
