import { execFileSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generationConfigFor,
  nativeDTypeOf,
  parseQwen3Config,
  planLoad,
  presetConfig,
  qwen3TensorInfo,
  readQwen3Config,
  writeConfigJson,
  QWEN3_PRESETS,
} from '../src/checkpoint/index.js';

const dir = scratchDir('gtr-cfg-');

describe('Qwen3 config', () => {
  it('maps the qwen3-1.7b preset to the native config', () => {
    const c = parseQwen3Config(presetConfig('qwen3-1.7b'));
    expect(c.native).toEqual({
      vocabSize: 151936,
      hiddenSize: 2048,
      intermediateSize: 6144,
      numHiddenLayers: 28,
      numAttentionHeads: 16,
      numKeyValueHeads: 8,
      headDim: 128,
      rmsNormEps: 1e-6,
      ropeTheta: 1000000,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 40960,
      qkNorm: true,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
    });
    expect(c.dtype).toBe('bfloat16');
    expect(c.hf.eos_token_id).toBe(151645);
    expect(c.hf.bos_token_id).toBe(151643);
    expect(parseQwen3Config(presetConfig('qwen3-1.7b-base')).hf.eos_token_id).toBe(151643);
    expect(generationConfigFor(presetConfig('qwen3-1.7b')).eos_token_id).toEqual([151645, 151643]);
  });

  it('maps the tiny preset', () => {
    const c = parseQwen3Config(presetConfig('tiny'));
    expect(c.native).toMatchObject({
      vocabSize: 151936,
      hiddenSize: 64,
      intermediateSize: 128,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      headDim: 16,
      tieWordEmbeddings: true,
    });
    expect(c.dtype).toBe('float32');
    expect(nativeDTypeOf(c.dtype)).toBe('float32');
    expect(nativeDTypeOf('float16')).toBe('bfloat16');
    expect(() => presetConfig('huge' as 'tiny')).toThrow(/unknown model preset "huge"/);
  });

  it('fills defaults: head_dim, rope_theta from rope_parameters, tie_word_embeddings', () => {
    const base = { ...presetConfig('tiny') } as Record<string, unknown>;
    delete base.head_dim;
    delete base.rope_theta;
    delete base.tie_word_embeddings;
    delete base.rope_scaling;
    base.rope_parameters = { rope_type: 'default', rope_theta: 5e5 };
    base.dtype = 'bfloat16';
    const c = parseQwen3Config(base);
    expect(c.native.headDim).toBe(16);
    expect(c.native.ropeTheta).toBe(5e5);
    expect(c.native.tieWordEmbeddings).toBe(false);
    expect(c.dtype).toBe('bfloat16');
  });

  const bad: [string, (c: Record<string, unknown>) => void, RegExp][] = [
    [
      'model_type',
      (c) => {
        c.model_type = 'mistral';
      },
      /field model_type: "mistral" is not supported \(supported: qwen3, qwen2, llama\)/,
    ],
    [
      'missing vocab_size',
      (c) => {
        delete c.vocab_size;
      },
      /field vocab_size:/,
    ],
    [
      'negative hidden_size',
      (c) => {
        c.hidden_size = -64;
      },
      /field hidden_size:/,
    ],
    [
      'fractional layers',
      (c) => {
        c.num_hidden_layers = 2.5;
      },
      /field num_hidden_layers:/,
    ],
    [
      'string eps',
      (c) => {
        c.rms_norm_eps = '1e-6';
      },
      /field rms_norm_eps:/,
    ],
    [
      'tie not boolean',
      (c) => {
        c.tie_word_embeddings = 'yes';
      },
      /field tie_word_embeddings:/,
    ],
    [
      'bad dtype',
      (c) => {
        c.torch_dtype = 'int8';
      },
      /field torch_dtype:/,
    ],
    [
      'architectures not a list',
      (c) => {
        c.architectures = 'Qwen3ForCausalLM';
      },
      /field architectures:/,
    ],
    [
      'rope_scaling',
      (c) => {
        c.rope_scaling = { type: 'yarn', factor: 4 };
      },
      /field rope_scaling.rope_type: RoPE scaling "yarn" is not supported for model_type qwen3 \(supported: default\)/,
    ],
    [
      'rope_parameters yarn',
      (c) => {
        c.rope_parameters = { rope_type: 'yarn', rope_theta: 1e6 };
      },
      /field rope_parameters.rope_type: RoPE scaling "yarn"/,
    ],
    [
      'kv heads',
      (c) => {
        c.num_key_value_heads = 3;
      },
      /field num_key_value_heads: 3 does not divide num_attention_heads 4/,
    ],
    [
      'head_dim default',
      (c) => {
        delete c.head_dim;
        c.hidden_size = 66;
      },
      /field head_dim: absent/,
    ],
    [
      'attention_bias not a boolean',
      (c) => {
        c.attention_bias = 'yes';
      },
      /field attention_bias:/,
    ],
    [
      'sliding window',
      (c) => {
        c.use_sliding_window = true;
      },
      /field use_sliding_window:/,
    ],
    ['not an object', () => undefined, /field \(root\)/],
  ];
  for (const [label, mutate, re] of bad) {
    it(`refuses ${label}`, () => {
      const c = { ...presetConfig('tiny') } as Record<string, unknown>;
      mutate(c);
      const value = label === 'not an object' ? [1] : c;
      expect(() => parseQwen3Config(value, '/ck/config.json')).toThrow(/^\/ck\/config\.json: /);
      expect(() => parseQwen3Config(value, '/ck/config.json')).toThrow(re);
    });
  }

  it('reads config.json from a dir and names it in errors', async () => {
    await expect(readQwen3Config(join(dir, 'none'))).rejects.toThrow(/config\.json not found: .*none\/config\.json/);
    const d = join(dir, 'bad');
    await writeConfigJson(dir, presetConfig('tiny'));
    expect((await readQwen3Config(dir)).native.hiddenSize).toBe(64);
    await rm(join(dir, 'config.json'));
    await mkdir(d);
    await writeFile(join(d, 'config.json'), '{"model_type": ');
    await expect(readQwen3Config(d)).rejects.toThrow(/bad\/config\.json: invalid JSON/);
    await writeFile(join(d, 'config.json'), JSON.stringify({ ...presetConfig('tiny'), vocab_size: 0 }));
    await expect(readQwen3Config(d)).rejects.toThrow(/bad\/config\.json: field vocab_size:/);
    await expect(writeConfigJson(d, { ...presetConfig('tiny'), model_type: 'gemma3' })).rejects.toThrow(
      /field model_type/,
    );
  });
});

describe.skipIf(!pythonHas(['torch', 'transformers', 'safetensors']).ok)('transformers interop', () => {
  it("transformers loads every preset config.json and the tiny model's weights match qwen3TensorInfo", async () => {
    const presetDirs: string[] = [];
    for (const name of QWEN3_PRESETS) {
      const d = join(dir, `preset-${name}`);
      await mkdir(d, { recursive: true });
      await writeConfigJson(d, presetConfig(name));
      presetDirs.push(d);
    }
    // Real HF-saved tiny models (vocab shrunk so it is quick), tied and untied; one python process.
    const models = [true, false].map((tie) => ({
      dir: join(dir, `hf-tiny-${tie}`),
      cfg: { ...presetConfig('tiny'), vocab_size: 96, tie_word_embeddings: tie },
    }));
    const job = JSON.stringify({ presetDirs, models });
    const out = execFileSync(
      'python3',
      [
        '-c',
        `
import json, sys, torch
from transformers import AutoConfig, Qwen3Config, Qwen3ForCausalLM
job = json.loads(sys.argv[1])
for d in job["presetDirs"]:
    c = AutoConfig.from_pretrained(d)
    hd = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    print(c.model_type, c.hidden_size, c.num_hidden_layers, hd, c.tie_word_embeddings, c.vocab_size)
torch.manual_seed(0)
for m in job["models"]:
    Qwen3ForCausalLM(Qwen3Config(**m["cfg"])).save_pretrained(m["dir"], safe_serialization=True)
`,
        job,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
      .toString()
      .trim()
      .split('\n');
    expect(out).toEqual(
      QWEN3_PRESETS.map((name) => {
        const c = presetConfig(name);
        const p = parseQwen3Config(c).native;
        return `${c.model_type} ${c.hidden_size} ${c.num_hidden_layers} ${p.headDim} ${p.tieWordEmbeddings ? 'True' : 'False'} ${c.vocab_size}`;
      }),
    );
    for (const m of models) {
      const parsed = await readQwen3Config(m.dir);
      expect(parsed.native.tieWordEmbeddings).toBe(m.cfg.tie_word_embeddings);
      const expected = qwen3TensorInfo(parsed.native);
      const plan = await planLoad(m.dir, expected);
      expect(plan.map((s) => s.name)).toEqual(expected.map((e) => e.name));
      expect(plan.every((s) => s.dtype === 'F32')).toBe(true);
    }
  }, 120_000);
});
import { pythonHas } from './helpers/python.js';
import { scratchDir } from './helpers/scratch.js';
