/**
 * The public `Policy`: a Qwen3 / Qwen2 / Llama causal LM held by the native addon, loaded from and
 * saved to the Hugging Face checkpoint layout (config.json + model.safetensors or shards with an
 * index), with optional LoRA adapters in PEFT's layout (src/checkpoint/lora.ts).
 *
 * Handles: fp32 / bf16 compute on CPU or CUDA, tied or untied lm_head, memory-mapped loads,
 * atomic saves. Does not handle: pickle checkpoints (refused), RoPE scalings other than llama3,
 * quantised weights.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  ADAPTER_SUBDIR,
  PEFT_PREFIX,
  adapterConfigJson,
  buildSafetensorsHeader,
  checkModelFitsMemory,
  isAdapterDir,
  planAdapterLoad,
  readAdapterConfig,
  type LoraSpec,
  generationConfigFor,
  parseQwen3Config,
  planLoad,
  readQwen3Config,
  saveSafetensorsCheckpoint,
  tagOfDType,
  type Qwen3Config,
} from './checkpoint/index.js';
import { native } from './native/binding.js';
import type { DType, MemoryReport, MemoryReportOptions, NativePolicy, TensorInfo } from './native/types.js';
import { TOKENIZER_FILES, writeTokenizerFiles } from './tokenizer/index.js';

export interface PolicyOptions {
  /** 'cpu' (default), 'cuda' or 'cuda:N'. */
  device?: string;
  /**
   * A PEFT LoRA adapter directory to apply; default: `<dir>/adapter` when it holds one (a checkpoint
   * a LoRA run wrote), else none. `false`: never.
   */
  adapter?: string | false;
  /** Compute dtype; default: float32 on CPU, bfloat16 on CUDA. */
  dtype?: DType;
}

export interface SaveOptions {
  /** Stored dtype; default the compute dtype. */
  dtype?: DType;
  /** Split into shards above this many bytes (HF default 5e9). */
  maxShardBytes?: number;
  /**
   * Copy tokenizer files (and generation_config.json) from this dir; default: the dir it was
   * loaded from, else the bundled Qwen3 tokenizer.
   */
  tokenizerFrom?: string;
  /** With LoRA: `base_model_name_or_path` written in adapter_config.json (default null). */
  baseModel?: string;
}

function defaultDType(device: string): DType {
  return device.startsWith('cuda') ? 'bfloat16' : 'float32';
}

export class Policy {
  private nativePolicy: NativePolicy | undefined;
  /** The LoRA adapters' settings, when enabled (see {@link enableLora}). */
  lora: LoraSpec | undefined;

  private constructor(
    nativePolicy: NativePolicy,
    /** The validated config (config.json content and native hyper-parameters). */
    readonly config: Qwen3Config,
    /** Directory it was loaded from, if any. */
    readonly sourceDir: string | undefined,
    readonly device: string,
    readonly dtype: DType,
  ) {
    this.nativePolicy = nativePolicy;
  }

  /**
   * Loads a checkpoint directory (config.json + safetensors) onto `device` in `dtype`.
   * @throws Error naming the file / field / tensor for a malformed config, a pickle checkpoint,
   *   missing / unexpected / mis-shaped tensors, a bad safetensors header or byte range.
   */
  static async load(dir: string, options: PolicyOptions = {}): Promise<Policy> {
    const config = await readQwen3Config(dir);
    const device = options.device ?? 'cpu';
    const dtype = options.dtype ?? defaultDType(device);
    checkModelFitsMemory(config.native, dtype, device, join(dir, 'config.json'));
    const Ctor = native().Policy;
    const np = new Ctor(config.native, { device, dtype });
    let lora: LoraSpec | undefined;
    try {
      const sources = await planLoad(dir, np.parameterInfo());
      await np.loadTensors(sources);
      const adapter =
        options.adapter === false
          ? undefined
          : (options.adapter ?? (isAdapterDir(join(dir, ADAPTER_SUBDIR)) ? join(dir, ADAPTER_SUBDIR) : undefined));
      if (adapter) {
        lora = await readAdapterConfig(adapter);
        np.enableLora({ r: lora.r, alpha: lora.alpha, dropout: lora.dropout, targetModules: lora.target_modules });
        await np.loadTensors(await planAdapterLoad(adapter, np.adapterInfo()));
      }
    } catch (e) {
      np.dispose();
      throw e;
    }
    const p = new Policy(np, config, dir, device, dtype);
    p.lora = lora;
    return p;
  }

  /**
   * Adds fresh LoRA adapters (PEFT init: A kaiming-uniform from `seed`, B zero, so the policy is
   * unchanged until trained). A Trainer built afterwards updates the adapters only.
   * @throws Error when adapters are already enabled, or naming a bad field / unknown module.
   */
  enableLora(spec: LoraSpec, seed: number): void {
    this.native.enableLora({
      r: spec.r,
      alpha: spec.alpha,
      dropout: spec.dropout,
      targetModules: spec.target_modules,
      seed,
    });
    this.lora = { ...spec, target_modules: [...spec.target_modules] };
  }

  /** Folds the adapters into the base weights (PEFT merge_and_unload); the policy has none after. */
  async mergeLora(): Promise<void> {
    if (!this.lora) throw new Error('merge-lora: the policy has no LoRA adapters');
    await this.native.mergeLora();
    this.lora = undefined;
  }

  /**
   * A randomly initialised policy (HF init: normal(0, std) weights, unit norms) from a config.json
   * object, e.g. `presetConfig('tiny')`. Same seed gives the same weights on any device.
   * @throws Error when the config does not validate.
   */
  static async random(
    hfConfig: Record<string, unknown>,
    seed: number,
    options: PolicyOptions & { std?: number } = {},
  ): Promise<Policy> {
    const config = parseQwen3Config(hfConfig, 'config');
    const device = options.device ?? 'cpu';
    const dtype = options.dtype ?? defaultDType(device);
    checkModelFitsMemory(config.native, dtype, device, 'config');
    const np = new (native().Policy)(config.native, { device, dtype });
    const std = options.std ?? (typeof hfConfig.initializer_range === 'number' ? hfConfig.initializer_range : 0.02);
    await np.initRandom(seed, std);
    return new Policy(np, config, undefined, device, dtype);
  }

  /** The addon's policy object (for the rollout and training engines). Throws after dispose(). */
  get native(): NativePolicy {
    if (!this.nativePolicy) throw new Error('the policy was disposed');
    return this.nativePolicy;
  }

  /** Parameters by HF name, shape and dtype. */
  parameterInfo(): TensorInfo[] {
    return this.native.parameterInfo();
  }

  /**
   * Bytes held now: the weights (by dtype) and the registered buffers (the KV pool of generate
   * calls, gathered buffers); see MemoryReport. Gradients and optimizer state: Trainer.memory().
   */
  memory(options?: MemoryReportOptions): Promise<MemoryReport> {
    return this.native.memory(options);
  }

  /** Total number of parameters (tied lm_head counted once). */
  get numParameters(): number {
    return this.native.numParameters;
  }

  /** Parameters a Trainer updates: the adapters' with LoRA, else {@link numParameters}. */
  get numTrainable(): number {
    if (!this.lora) return this.numParameters;
    return this.native.adapterInfo().reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  }

  /**
   * Per-token log-probs of one token sequence: result[i] = log p(tokens[i] | tokens[<i]) for i >= 1,
   * result[0] = NaN (nothing to condition on). Natural log, float32 precision.
   * @throws Error for an empty sequence or an id outside the vocabulary.
   */
  async score(tokens: ArrayLike<number>): Promise<Float32Array> {
    if (tokens.length === 0) throw new Error('score: empty token sequence');
    const lp = await this.native.tokenLogprobs(Int32Array.from(tokens), Int32Array.of(tokens.length));
    lp[0] = Number.NaN;
    return lp;
  }

  /**
   * Saves in the HF layout atomically (temporary dir, then rename): config.json (dtype updated),
   * generation_config.json, tokenizer files, model.safetensors or shards + index.
   */
  async save(dir: string, options: SaveOptions = {}): Promise<void> {
    const np = this.native;
    const dtype = options.dtype ?? this.dtype;
    const params = np.parameterInfo();
    const hf: Record<string, unknown> = { ...this.config.hf, torch_dtype: dtype };
    delete hf.dtype;
    const tokSrc = options.tokenizerFrom ?? this.sourceDir;
    await saveSafetensorsCheckpoint(
      dir,
      params,
      tagOfDType(dtype),
      (p, h, names, t) => np.writeSafetensors(p, h, names, t),
      {
        maxShardBytes: options.maxShardBytes,
        extraFiles: async (tmp) => {
          await writeFile(join(tmp, 'config.json'), `${JSON.stringify(hf, null, 2)}\n`);
          const gen =
            tokSrc && existsSync(join(tokSrc, 'generation_config.json'))
              ? JSON.parse(await readFile(join(tokSrc, 'generation_config.json'), 'utf8'))
              : generationConfigFor(hf);
          await writeFile(join(tmp, 'generation_config.json'), `${JSON.stringify(gen, null, 2)}\n`);
          if (tokSrc && TOKENIZER_FILES.every((f) => existsSync(join(tokSrc, f)))) {
            for (const f of TOKENIZER_FILES) await copyFile(join(tokSrc, f), join(tmp, f));
          } else {
            await writeTokenizerFiles(tmp);
          }
          if (this.lora) await this.writeAdapter(join(tmp, ADAPTER_SUBDIR), dtype, options.baseModel ?? null);
        },
      },
    );
  }

  /** Writes the adapters in PEFT's layout (adapter_config.json, adapter_model.safetensors) into `dir`. */
  private async writeAdapter(dir: string, dtype: DType, baseModel: string | null): Promise<void> {
    const np = this.native;
    await mkdir(dir, { recursive: true });
    const info = np.adapterInfo();
    const built = buildSafetensorsHeader(
      info.map((t) => ({ name: PEFT_PREFIX + t.name, shape: t.shape, dtype: tagOfDType(dtype) })),
      { format: 'pt' },
    );
    await np.writeSafetensors(
      join(dir, 'adapter_model.safetensors'),
      built.header,
      info.map((t) => t.name),
      tagOfDType(dtype),
    );
    await writeFile(
      join(dir, 'adapter_config.json'),
      `${JSON.stringify(adapterConfigJson(this.lora!, baseModel), null, 2)}\n`,
    );
  }

  /** Frees the native weights now; the object is unusable afterwards. Safe to call twice. */
  dispose(): void {
    this.nativePolicy?.dispose();
    this.nativePolicy = undefined;
  }
}
