/** The data layer: dataset registry, readers, downloads, prompt templates and prompt order. */
export type { DatasetRow, RowIssue, ReadResult, DataFormat } from './types.js';
export { getPath, lastBoxed, mapRecord, IDENTITY_MAPPING, type FieldMapping, type FieldSpec } from './mapping.js';
export { readJsonl, type ReadOptions } from './jsonl.js';
export { readParquet } from './parquet.js';
export { dedupeByProblem } from './dedupe.js';
export {
  MANIFEST_PATH,
  readManifest,
  manifest,
  datasetNames,
  getDatasetEntry,
  type DatasetEntry,
  type RemoteSource,
} from './manifest.js';
export {
  cachePath,
  defaultCacheDir,
  downloadHfFile,
  downloadUrlFile,
  downloadSource,
  type DownloadOptions,
} from './download.js';
export { fetchDatasets, rowToJson, type FetchOptions, type FetchResult } from './fetch.js';
export { loadDataset, readDataFile, type LoadDatasetOptions, type LoadedDataset } from './load.js';
export {
  buildPrompt,
  getTemplate,
  TEMPLATE_NAMES,
  DAPO_PREFIX,
  DAPO_SUFFIX,
  BOXED_SUFFIX,
  type ChatMessage,
  type Prompt,
  type PromptTemplate,
} from './templates.js';
export { Xoshiro128, mixSeeds, shuffleInPlace } from './prng.js';
export { PromptSampler, type PromptSamplerState } from './sampler.js';
