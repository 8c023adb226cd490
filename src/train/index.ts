/** The training engine: losses config, micro-batching, LR schedules, and the Trainer. */
export * from './loss-config.js';
export * from './microbatch.js';
export * from './schedule.js';
export * from './trainer.js';
