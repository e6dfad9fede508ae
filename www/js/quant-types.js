// JSDoc types of the quantization and search values (docs/wasm-api.md, "Quantization" and
// "Search"), as the page sees them: worker-quant.js normalises what the engine returns into
// these shapes, so the views do not depend on serde spellings. No runtime content.

/**
 * A bit width: 2..8, or 32 for full precision ('f' in the URL and on the bars).
 * @typedef {number} Bits
 */

/**
 * One quantizable layer (a column of the bit editor).
 * @typedef {object} QuantLayer
 * @property {string} name e.g. "conv1"
 * @property {string} kind 'conv' | 'linear'
 * @property {number} macs per image
 * @property {number} weights number of weights (biases excluded)
 * @property {number[]} inShape
 * @property {number[]} outShape
 * @property {number} macShare macs / total macs (the column's width share)
 */

/**
 * @typedef {object} LayerCost
 * @property {string} name
 * @property {Bits} wbits
 * @property {Bits} abits
 * @property {number} bops
 * @property {number} bopsShare this layer's share of the policy's BOPs
 */

/**
 * @typedef {object} Cost
 * @property {number} bops
 * @property {number} bopsRatio bops / FP32 bops
 * @property {number} sizeBytes
 * @property {number} fp32SizeBytes
 * @property {number} compression fp32SizeBytes / sizeBytes
 * @property {LayerCost[]} layers
 */

/**
 * The engine's policy and its cost.
 * @typedef {object} PolicyInfo
 * @property {Bits[]} wb
 * @property {Bits[]} ab
 * @property {boolean[]} locks
 * @property {string} fragment 'wb=..&ab=..[&lk=..]'
 * @property {Cost} cost
 * @property {number} budget BOPs / FP32 BOPs allowed
 * @property {boolean} withinBudget
 */

/**
 * A policy the engine applied, with the whole config's canonical fragment afterwards.
 * @typedef {object} PolicyUpdate
 * @property {PolicyInfo} policy
 * @property {import('./types.js').ParsedConfig} parsed
 */

/**
 * One layer's float weights and its quantization grid.
 * @typedef {object} LayerHistogram
 * @property {number} layer the quantizable layer's position
 * @property {Float32Array} weights
 * @property {Float32Array} thresholds clip t per output channel (one value if per-tensor)
 * @property {Bits} bits
 * @property {number} levels 2^(b-1)-1 per side (0 at full precision)
 * @property {number} clipped weights outside their channel's clip
 */

/**
 * @typedef {object} IrsStats
 * @property {number} samples
 * @property {number} scratchSamples
 * @property {number} incremental
 * @property {number} fallback
 * @property {number} skipped
 */

/**
 * The quick read-out of a policy (IRS against the FP32 cache).
 * @typedef {object} QuantEval
 * @property {string} fragment the policy read out
 * @property {Cost} cost
 * @property {number} cleanAccuracy
 * @property {number} fp32CleanAccuracy
 * @property {number} acr
 * @property {number} fp32Acr
 * @property {number[]} grid
 * @property {number[]} certifiedAccuracy
 * @property {number[]} fp32CertifiedAccuracy
 * @property {IrsStats|null} irs
 * @property {number} alpha each radius holds with probability >= 1 - alpha (for IRS: alpha + alpha_zeta)
 * @property {number} rMax the largest radius the certifier can return (for IRS: its own cap, see docs)
 * @property {{nP: number, alphaZeta: number, gamma: number}|null} irsGuarantee set when certified with IRS
 */

/**
 * @typedef {object} QuantEvalPartial
 * @property {string[]} phases
 * @property {string} phase
 */

/** @typedef {'arq'|'haq'|'random'} SearchKindName */

/**
 * One finished episode.
 * @typedef {object} EpisodeRecord
 * @property {number} episode 0-based
 * @property {Bits[]} wbits budget-enforced
 * @property {Bits[]} abits
 * @property {number} reward
 * @property {number} costRatio BOPs / FP32 BOPs
 * @property {boolean} warmup
 * @property {Record<string, number>} metrics acr, accuracy, fineTuneMs, irsMs, agentMs, ...
 * @property {number|null} wallMs wall time the worker spent on it (null when split by a pause)
 */

/**
 * @typedef {object} SearchProgress
 * @property {number} episode episodes finished
 * @property {number} episodes planned
 * @property {number} done work units of the current episode
 * @property {number} total
 */

/**
 * Streamed while a search runs: the episodes finished since the last partial.
 * @typedef {object} SearchPartial
 * @property {SearchKindName} kind
 * @property {number} episodes planned
 * @property {number} warmup
 * @property {EpisodeRecord[]} records
 * @property {EpisodeRecord|null} best
 * @property {SearchProgress} progress
 * @property {string} phase
 */

/**
 * The end of a search request (also the result of a cancelled one): `records` holds the
 * episodes not yet streamed; `finished` says the run has no episodes left.
 * @typedef {SearchPartial & {finished: boolean}} SearchResult
 */

/**
 * @typedef {object} SearchStateInfo
 * @property {SearchKindName|null} kind
 * @property {EpisodeRecord[]} history
 * @property {EpisodeRecord[]} pareto
 * @property {EpisodeRecord|null} best
 */

/**
 * One search run of this session.
 * @typedef {object} SearchRun
 * @property {number} id
 * @property {SearchKindName} kind
 * @property {string} label
 * @property {string} color
 * @property {EpisodeRecord[]} episodes
 * @property {number} planned
 * @property {number} warmup
 * @property {EpisodeRecord|null} best
 * @property {'running'|'paused'|'done'|'cancelled'|'failed'} state
 * @property {Record<string, string>} values the settings it ran with
 */

/**
 * A row of the final comparison table (fresh certification on the test split).
 * @typedef {object} FinalRow
 * @property {string} name
 * @property {string} fragment
 * @property {number} bopsRatio
 * @property {number} sizeBytes
 * @property {number} cleanAccuracy
 * @property {number[]} grid
 * @property {number[]} certifiedAccuracy
 * @property {number} acr
 */

/**
 * @typedef {object} FinalPartial
 * @property {string[]} names the rows being produced, in order, when the engine says so up front
 * @property {FinalRow[]} rows every row finished so far
 * @property {string} phase
 * @property {string|null} current the row being computed
 * @property {number} total rows in all
 */

export {};
