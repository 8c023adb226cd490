/** Hugging Face checkpoint layout: config.json, safetensors headers, shards, atomic saves. */
export * from './safetensors.js';
export * from './config.js';
export * from './checkpoint.js';
export * from './save.js';
export * from './encode.js';
export * from './limits.js';
export * from './model-dir.js';
export * from './hub.js';
export * from './lora.js';
export * from './consolidate.js';
