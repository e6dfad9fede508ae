//! A small CNN engine on ndarray: layers with hand-written forward and backward passes,
//! optimizers, the model zoo, noise-augmented training and checkpoints.

pub mod checkpoint;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod optim;
pub mod schedule;
pub(crate) mod simd;
pub mod train;

pub use model::{Arch, Model, ModelInfo};
pub use train::{evaluate, Evaluation, TrainConfig, TrainProgress, Trainer};
