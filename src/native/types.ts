/**
 * The typed description of the native addon's exports (native/addon.cpp). This is the only
 * description of the JS <-> C++ boundary; wrapper classes (src/policy.ts, ...) build on it.
 *
 * Conventions at the boundary:
 * - token ids are Int32Array; packed batches are one flat Int32Array plus per-sequence lengths
 *   (Int32Array, one entry per sequence, summing to the flat length);
 * - float results come back as Float32Array (float32, whatever the model's compute dtype);
 * - every slow call returns a Promise resolved by a Napi::AsyncWorker; C++ / libtorch exceptions
 *   reject it with an Error carrying their message.
 */

export type DType = 'float32' | 'bfloat16';

/** Qwen3 hyper-parameters as the native model takes them (camelCase of HF config.json). */
export interface NativeQwen3Config {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
}

/** One parameter of the native model, by its Hugging Face name. */
export interface TensorInfo {
  name: string;
  shape: number[];
  dtype: DType;
}

/** Safetensors dtype tags the native loader accepts. */
export type SafetensorsDType = 'F32' | 'BF16' | 'F16';

/**
 * Where one parameter's bytes lie in a safetensors file, already validated by the TS parser
 * (src/checkpoint/safetensors.ts). `offset` is the absolute byte offset in the file (8 + header
 * length + data_offsets[0]); `length` is data_offsets[1] - data_offsets[0]. The native side checks
 * the range against the file size again and the length against shape x dtype size.
 */
export interface TensorSource {
  name: string;
  file: string;
  dtype: SafetensorsDType;
  shape: number[];
  offset: number;
  length: number;
}

export interface NativePolicyOptions {
  /** 'cpu', 'cuda' or 'cuda:N'. */
  device: string;
  dtype: DType;
}

/** A Qwen3 causal LM held by the addon (native/policy/policy_wrap.cpp). */
export interface NativePolicy {
  /** Every parameter the model expects, in HF names and order (lm_head.weight only when untied). */
  parameterInfo(): TensorInfo[];
  /** HF-style init: normal(0, std) for embeddings and linears, ones for RMSNorm weights. */
  initRandom(seed: number, std: number): Promise<void>;
  /** Reads (memory-mapped) and copies the given tensors into the parameters, converting dtype. */
  loadTensors(sources: TensorSource[]): Promise<void>;
  /**
   * Writes one safetensors file: `header` is the complete prefix (8-byte little-endian length +
   * JSON header, padded), then the named parameters' bytes in the given order, stored as `dtype`.
   * The caller built the header's offsets for exactly that order and dtype. The file is fsynced.
   */
  writeSafetensors(path: string, header: Uint8Array, names: string[], dtype: SafetensorsDType): Promise<void>;
  /** Logits of a packed batch: returns float32 [totalTokens x vocabSize], row-major. */
  forwardLogits(tokens: Int32Array, seqLens: Int32Array): Promise<Float32Array>;
  /**
   * Per-token log-probs of a packed batch without gradient: out[i] = log p(tokens[i] | tokens[<i]
   * of the same sequence); 0 at each sequence's first token. Float32Array [totalTokens].
   */
  tokenLogprobs(tokens: Int32Array, seqLens: Int32Array): Promise<Float32Array>;
  /** Frees the weights now (the object is unusable after). */
  dispose(): void;
}

export interface NativeVersions {
  addon: string;
  libtorch: string;
  cudaCompiled: boolean;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  cudaDeviceNames: string[];
  numThreads: number;
}

export interface NativeAddon {
  versions(): NativeVersions;
  Policy: new (config: NativeQwen3Config, options: NativePolicyOptions) => NativePolicy;
  /** Test hook: a native call that sleeps `ms` on the worker thread (async-worker tests). */
  sleepAsync(ms: number): Promise<void>;
}
