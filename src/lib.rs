//! ARQ Playground core: certified-robust mixed-precision quantization (ARQ, arXiv 2410.24214)
//! as plain Rust that builds natively (the `arq` CLI) and to WebAssembly (the page's worker).
//!
//! Data flows one way: config -> data + model -> train -> certify (FP32, builds the IRS cache)
//! -> quantize -> search -> final fine-tune -> fresh certification -> results.
//!
//! Unsafe code is denied crate-wide; the SIMD kernels (`nn::simd`, `nn::kernels`, `nn::layers`,
//! `quant::int_kernels`, `rng`'s wasm key stream) allow it locally, each block with a SAFETY
//! comment.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod certify;
mod choice;
pub mod config;
pub mod data;
pub mod digit;
pub mod error;
pub mod experiment;
pub mod export;
pub mod job;
pub mod lesson;
pub mod nn;
pub(crate) mod order;
pub(crate) mod par;
pub mod pipeline;
pub mod quant;
pub mod results;
pub mod rng;
pub mod search;
pub mod selftest;
pub mod showcase;
pub(crate) mod wire;
pub mod zoo_index;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

// The main entry points, also reachable through their modules.
pub use config::ExperimentConfig;
pub use data::Dataset;
pub use error::{Error, Result};
pub use experiment::{JobEvent, JobKind, JobSpec, JobStep, Session};
pub use job::Job;
pub use nn::Model;

/// Engine version; part of every checkpoint header and result, since same config + same
/// engine version = same numbers.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
