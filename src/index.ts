/**
 * Funnel's library API: `import { ... } from 'funnel'`.
 * The same operations as the `funnel` command, typed.
 */
// Data: the entity model, validation of entities, import, the data-quality report, synthetic data.
export * from './data/model.js';
export { checkUser, checkItem, checkEvent, parseTimestamp, ERROR_CODES, type FieldError, type Checked } from './data/schema.js';
export { importFile, formatImportReport, type ImportOptions, type ImportReport } from './data/import.js';
export { encodeEvents, decodeEvents, checkEventColumns, EventColumnsBuilder, type EventColumns, type StrColumn } from './data/event-columns.js';
export { validateStore, validateFiles, formatValidationReport, type ValidationReport } from './data/validate.js';
export { writeSynth, type WriteSynthOptions, type WriteSynthReport } from './data/synth.js';

// Stores.
export type * from './store/types.js';
export { isBulkLoadable } from './store/types.js';
export { SqliteStore, type SqliteStoreOptions } from './store/sqlite.js';
export { openStore, resolveDbPath, DEFAULT_DB } from './store/open.js';

// Numeric core.
export { kernels, kernelInfo, setThreads, type Kernels, type KernelInfo } from './math/kernels/index.js';
export { Rng, Mulberry32 } from './math/rng.js';
export { UniformSampler, AliasSampler } from './math/samplers.js';
export { csrFromPairs, csrFromTimelines, transposeCsr, type CsrMatrix } from './math/sparse.js';
export { cooccurrence, type CooccurrenceOptions } from './math/cooccurrence.js';
export { pmi, type PmiOptions, type PmiVariant } from './math/pmi.js';
export { rsvd, type RsvdOptions, type RsvdResult } from './math/rsvd.js';

// Retrieval models and their offline evaluation.
export type { Timelines, RetrievalModel, Recommendations, ItemVectors, FitReport } from './models/retrieval/types.js';
export { timelinesFromStore, timelinesFromArrays } from './models/retrieval/types.js';
export { loadModel, registerModel, modelKinds } from './models/retrieval/registry.js';
export { PopularityModel } from './models/retrieval/popularity.js';
export { CboModel } from './models/retrieval/cbo.js';
export { ItemKnnModel } from './models/retrieval/itemknn.js';
export { EaseModel } from './models/retrieval/ease.js';
export { RsvdModel } from './models/retrieval/rsvd.js';
export { LedModel, type LedOptions } from './models/retrieval/led.js';
export { evaluate, type EvaluateOptions, type EvaluationResult } from './eval/evaluate.js';
export { strongGeneralization, temporalSplit, leaveOneOutSampled, type Split, type HeldOut } from './eval/protocols.js';
export * as metrics from './eval/metrics.js';
export { compareModels, type CompareOptions, type CompareResult } from './eval/compare.js';

// Profiles, the funnel and serving.
export type { ProfileStore } from './profiles/types.js';
export { MemoryProfileStore } from './profiles/memory.js';
export { rebuildProfiles } from './profiles/rebuild.js';
export { Funnel, RankFusionScorer, mergeCandidates } from './funnel/pipeline.js';
export type { CandidateGenerator, Scorer, RerankRule, RequestContext } from './funnel/types.js';
export { buildRules, RULES } from './funnel/rules.js';
export { train, type TrainOptions, type TrainResult } from './train/train.js';
export { resolveConfig, type FunnelConfig, type SceneConfig } from './train/config.js';
export { buildApp } from './server/app.js';

export { createProgress, type Progress, type ProgressOptions } from './util/progress.js';
