// JSDoc types of the values the wasm Engine returns (docs/wasm-api.md). serde-wasm-bindgen
// values are typed `any` in the generated pkg/arq.d.ts; these typedefs give them shape.
// This module has no runtime content.

/**
 * One field of the experiment-config schema (drives the form, the URL and the CLI).
 * @typedef {object} Field
 * @property {string} key
 * @property {string} group
 * @property {'int'|'float'|'enum'|'seed'|'bits'|'flags'} kind
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
 * @property {Record<string, string>} values every setting by its URL key, as text (defaults included)
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
 * @property {(RowCertificate|null)[]} [certificates] per row, when the engine exports
 *   certificate() (null for a row it cannot certify, e.g. sigma = 0)
 * @property {number} [alpha] the config's alpha used for the certificates
 */

/**
 * The engine's certificate of one noise-view row: the top class's count over the row's k
 * draws, its Clopper-Pearson lower bound and the radius (null = abstain).
 * @typedef {object} RowCertificate
 * @property {number} top the class with the most votes
 * @property {number} count its votes
 * @property {number} n the draws in the row
 * @property {number} pLower
 * @property {number|null} radius
 */

/**
 * How far a certification is (Engine.certifyBegin / certifyStep().progress).
 * @typedef {object} CertProgress
 * @property {number} examplesDone
 * @property {number} examplesTotal
 * @property {number} samplesDone
 * @property {number} samplesTotal
 */

/**
 * One certified test point. `index` is the dataset-global index (train + test index).
 * @typedef {object} CertRecord
 * @property {number} index
 * @property {number} label
 * @property {number|null} prediction null = abstain
 * @property {number} count nA, the top class's count among the n estimation samples
 * @property {number} n
 * @property {number} pLower pA_low
 * @property {number} radius 0 when abstaining
 * @property {boolean} correct
 * @property {number} samples forward samples spent (n0 + n)
 * @property {number|null} micros wall time
 */

/**
 * A certification's summary over every point finished so far (one row of Cohen's table).
 * @typedef {object} CertSummary
 * @property {string} name e.g. "FP32"
 * @property {number} sigma
 * @property {number} n
 * @property {number} alpha
 * @property {number} points points summarised
 * @property {number[]} grid radii of the table's columns
 * @property {number[]} certifiedAccuracy at each radius of grid
 * @property {number} cleanAccuracy
 * @property {number} acr
 * @property {number} abstainRate
 * @property {number} rMax sigma * PhiInv(alpha^(1/n)): no radius can exceed it
 */

/**
 * @typedef {object} CertifyStepResult
 * @property {CertRecord[]} records the points finished by this step
 * @property {CertProgress} progress
 * @property {boolean} done
 * @property {CertSummary} summary
 */

export {};
