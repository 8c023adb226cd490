/** Public surface of the evaluation layer: metrics, aggregation, writers, comparison, orchestration. */
export * from './types.js';
export * from './metrics.js';
export * from './aggregate.js';
export * from './writers.js';
export * from './schema.js';
export * from './compare.js';
export * from './evaluate.js';
