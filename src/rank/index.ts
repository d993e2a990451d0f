/**
 * The ranking stage: features (one definition for training and serving), leakage-free samples,
 * rankers behind one interface (LR with FTRL/Adam, FM), calibration, offline evaluation, and the
 * deployable `RankingModel`. The funnel's `RankerScorer` (funnel/pipeline.ts) serves it.
 */
export * from './types.js';
export { mix32, fnv1a, hashInt, hashStr, hashCross, bucketOf } from './hash.js';
export { QuantileNormalizer, type NormalizerJSON } from './normalize.js';
export {
  DEFAULT_FEATURES,
  REQUEST_SIDES,
  FeatureSpace,
  FeatureExtractor,
  RawBatch,
  encodeRaw,
  encodeSources,
  decodeSources,
  newFeatureBatch,
  resolveFeatureConfig,
  type ActivitySpec,
  type AffinitySpec,
  type CandidateInfo,
  type FeatureConfig,
  type FeatureSpaceJSON,
  type PopularitySpec,
  type RequestInfo,
  type RequestSide,
  type RequestState,
} from './features.js';
export {
  SampleSet,
  LoggedEventsBuilder,
  buildSamples,
  joinLabels,
  loggedEventsFromEvents,
  loggedEventsFromStore,
  loggedEventsFromSynth,
  timeOrder,
  type ImpressionRequest,
  type LabelOptions,
  type Labels,
  type LoggedEvents,
  type SampleOptions,
  type SampleReport,
} from './samples.js';
export { LogisticRegression, lrLoss, type LrOptions } from './lr.js';
export { FactorizationMachine, fmLoss, fmForward, fmBackward, type FmOptions } from './fm.js';
export {
  PlattScaling,
  IsotonicRegression,
  IdentityCalibrator,
  fitCalibrator,
  calibratorFromJSON,
  reliability,
  type CalibrationMethod,
  type Calibrator,
  type CalibratorJSON,
  type Reliability,
  type ReliabilityBin,
} from './calibration.js';
export { auc, logLoss, gauc, meanClickRank, evaluateHead, groupRows, type HeadEvaluation } from './metrics.js';
export { expectedClicks, rankFusion, replaySynth, type SynthReplayOptions, type SynthReplayReport, type OrderingFigures } from './evaluate.js';
export { FusedScorer } from './fused.js';
export { RankingModel, RANKING_FILE, loadRankingComponent, type RankingModelJSON } from './model.js';
export { loadRanker, registerRanker, rankerKinds, readRankerFiles, writeRankerFiles, type RankerLoader, type RankerManifest } from './registry.js';
export { trainRanker, createRanker, predictRows, RANKER_MODELS, type RankerModelKind, type RankerTrainOptions, type RankerTrainingReport } from './trainer.js';
export { trainRankerFromStore, type StoreRankerOptions } from './from-store.js';
