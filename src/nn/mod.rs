//! A small CNN engine on ndarray: layers with hand-written forward and backward passes,
//! optimizers, the model zoo, noise-augmented training and checkpoints.

pub mod checkpoint;
pub mod kernels;
pub(crate) mod layers;
pub mod model;
pub mod optim;
pub(crate) mod schedule;
pub(crate) mod simd;
pub(crate) mod train;

pub use model::{Arch, Model, ModelInfo};
pub(crate) use train::{evaluate, Evaluation, TrainProgress};
pub use train::{TrainConfig, Trainer};
