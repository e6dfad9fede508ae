// JSDoc types of the values the wasm Engine returns (docs/wasm-api.md). serde-wasm-bindgen
// values are typed `any` in the generated pkg/arq.d.ts; these typedefs give them shape.
// This module has no runtime content.

/**
 * One field of the experiment-config schema (drives the form, the URL and the CLI).
 * @typedef {object} Field
 * @property {string} key
 * @property {string} group
 * @property {'int'|'float'|'enum'|'seed'|'bits'} kind
 * @property {string} default
 * @property {number} [min]
 * @property {number} [max]
 * @property {string[]} [choices]
 * @property {string} help
 */

/** @typedef {Record<string, string|number|boolean|number[]|null>} Config */

/**
 * Result of parseFragment / Engine.setConfig.
 * @typedef {object} ParsedConfig
 * @property {Config} config
 * @property {string} fragment canonical fragment (schema order, defaults omitted)
 * @property {string[]} notices one per dropped or clamped value
 */

/**
 * @typedef {object} DatasetInfo
 * @property {string} [name] "mnist" or "synth"
 * @property {number} count
 * @property {number} train
 * @property {number} test
 * @property {number} rows
 * @property {number} cols
 */

/**
 * @typedef {object} Samples
 * @property {Uint8Array} pixels count*rows*cols gray levels
 * @property {Uint8Array} labels
 */

/**
 * @typedef {object} Layer
 * @property {string} name
 * @property {'conv'|'relu'|'maxpool'|'flatten'|'linear'} kind
 * @property {number[]} inShape
 * @property {number[]} outShape
 * @property {number} params
 * @property {number} macs
 * @property {boolean} quantizable
 */

/**
 * @typedef {object} ModelInfo
 * @property {string} name
 * @property {number} sigma
 * @property {boolean} trained
 * @property {number} [epochs] epochs of training behind the weights
 * @property {string|null} checkpointHash
 * @property {Layer[]} layers
 * @property {number} params
 * @property {number} macs
 */

/**
 * @typedef {object} CheckpointInfo
 * @property {string} model
 * @property {number} sigma
 * @property {string} hash
 * @property {number} epochs
 * @property {number} testAccuracy
 * @property {string} [fragment] the engine's canonical fragment after loading
 */

/**
 * One entry of /models/index.json.
 * @typedef {object} IndexEntry
 * @property {string} model
 * @property {number} sigma
 * @property {string} file
 * @property {string} hash
 * @property {number} testAccuracy
 */

/**
 * @typedef {object} TrainPlan
 * @property {number} epochs
 * @property {number} batchesPerEpoch
 * @property {number} totalBatches
 */

/**
 * @typedef {object} EpochEnd
 * @property {number} epoch
 * @property {number} trainLoss
 * @property {number} trainAccuracy
 * @property {number} testAccuracy
 */

/**
 * @typedef {object} TrainProgress
 * @property {number} epoch
 * @property {number} batch
 * @property {number} batchesPerEpoch
 * @property {number} totalBatches
 * @property {number} batchesDone
 * @property {boolean} done
 * @property {number} loss running mean over the current epoch
 * @property {number} accuracy running mean over the current epoch
 * @property {EpochEnd|null} epochEnd
 */

/**
 * @typedef {object} EvalResult
 * @property {number} accuracy
 * @property {number} n
 * @property {number[] | number[][]} confusion 100 counts, row = true label, column = predicted
 */

/**
 * @typedef {object} NoiseResult
 * @property {Float32Array} clean 784 values
 * @property {Float32Array} images rows*k*784, [row][draw][pixel]
 * @property {Uint8Array} preds rows*k predicted labels
 * @property {number} label
 * @property {Uint32Array} [votes] rows*10 vote counts, when the engine provides them
 */

export {};
