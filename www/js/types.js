// JSDoc names of the values the wasm Engine returns: each is the TypeScript declaration that
// tsify generates from the Rust type into pkg/arq.d.ts (docs/wasm-api.md), so the page is
// type-checked against the engine's own shapes. Page-level types only are declared here.
// This module has no runtime content.

/**
 * @typedef {import('../../pkg/arq.js').Field} Field one setting of the config schema
 * @typedef {import('../../pkg/arq.js').ExperimentConfig} Config
 * @typedef {import('../../pkg/arq.js').ParsedConfig} ParsedConfig
 * @typedef {import('../../pkg/arq.js').DatasetInfo} DatasetInfo
 * @typedef {import('../../pkg/arq.js').Samples} Samples
 * @typedef {import('../../pkg/arq.js').LayerInfo} Layer
 * @typedef {import('../../pkg/arq.js').ModelState} ModelInfo
 * @typedef {import('../../pkg/arq.js').CheckpointInfo} CheckpointInfo
 * @typedef {import('../../pkg/arq.js').IndexEntry} IndexEntry one usable entry of /models/index.json
 * @typedef {import('../../pkg/arq.js').EpochEnd} EpochEnd
 * @typedef {import('../../pkg/arq.js').TrainProgress} TrainProgress
 * @typedef {import('../../pkg/arq.js').Evaluation} EvalResult
 * @typedef {import('../../pkg/arq.js').NoiseResult} NoiseResult
 * @typedef {import('../../pkg/arq.js').RowCertificate} RowCertificate
 * @typedef {import('../../pkg/arq.js').Progress} CertProgress
 * @typedef {import('../../pkg/arq.js').CertRecord} CertRecord
 * @typedef {import('../../pkg/arq.js').Summary} CertSummary
 * @typedef {import('../../pkg/arq.js').CertifyStep} CertifyStepResult
 * @typedef {import('../../pkg/arq.js').PresetInfo} PresetInfo
 */

/**
 * What a training run will do (from the config and the train job's first step).
 * @typedef {object} TrainPlan
 * @property {number} epochs
 * @property {number} batchesPerEpoch
 * @property {number} totalBatches
 */

export {};
