/**
 * Range checks made before anything is allocated or run: the context length of a request against
 * the model's `max_position_embeddings`, and a model's size against the machine's memory. Both turn
 * what would be a raw libtorch allocation error (or a silent run past the trained positions) into an
 * error naming the flag, key or file.
 */
import { totalmem } from 'node:os';
import type { NativeQwen3Config } from '../native/types.js';

/**
 * Refuses a request whose prompt plus response would not fit the model's context.
 * @param promptTokens prompt length in tokens (0 to check `maxNewTokens` alone)
 * @param maxNewTokens response length limit in tokens
 * @param maxPositions the model's `max_position_embeddings`
 * @param names how the user named things: `prompt` (e.g. `prompt 3`), `maxNewTokens` (e.g.
 *   `--max-new-tokens`), `limit` (where the limit comes from, e.g. `/ckpt/config.json`)
 * @throws Error `<prompt> is N tokens + <flag> M = T, past the model's context of P tokens
 *   (max_position_embeddings in <limit>); ...` (with `maxNewTokens` 0, as for scoring, the prompt
 *   alone is checked; with `promptTokens` 0, `maxNewTokens` alone must leave room for one token)
 */
export function checkContextLength(
  promptTokens: number,
  maxNewTokens: number,
  maxPositions: number,
  names: { prompt: string; maxNewTokens: string; limit: string },
): void {
  if (promptTokens + maxNewTokens <= maxPositions) return;
  const where = `the model's context of ${maxPositions} tokens (max_position_embeddings in ${names.limit})`;
  if (maxNewTokens === 0) throw new Error(`${names.prompt} is ${promptTokens} tokens, past ${where}; shorten it`);
  if (promptTokens === 0 || maxNewTokens >= maxPositions) {
    throw new Error(
      `${names.maxNewTokens} ${maxNewTokens} does not fit ${where}; use at most ${maxPositions - Math.max(promptTokens, 1)}`,
    );
  }
  throw new Error(
    `${names.prompt} is ${promptTokens} tokens + ${names.maxNewTokens} ${maxNewTokens} = ${promptTokens + maxNewTokens}, past ${where}; ` +
      `shorten the prompt or lower ${names.maxNewTokens}`,
  );
}

/** Parameter count of a Qwen3 / Qwen2 / Llama model (tied lm_head counted once, biases as configured), from its hyper-parameters. */
export function qwen3ParameterCount(c: NativeQwen3Config): number {
  const h = c.hiddenSize;
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const I = c.intermediateSize;
  const layer =
    h * q +
    2 * h * kv +
    q * h +
    ((c.qkNorm ?? true) ? 2 * c.headDim : 0) +
    3 * h * I +
    2 * h +
    (c.qkvBias ? q + 2 * kv : 0) +
    (c.oBias ? h : 0) +
    (c.mlpBias ? 2 * I + h : 0);
  return c.vocabSize * h * (c.tieWordEmbeddings ? 1 : 2) + c.numHiddenLayers * layer + h;
}

/**
 * Refuses a model whose weights (plus what training keeps resident per parameter, `resident`)
 * cannot fit in this machine's memory (CPU devices only; the GPU's memory is not known here),
 * before the native side tries to allocate them.
 * @param source the config's file name for the message
 * @param resident bytes per parameter held besides the weights, and what they are (training: the
 *   trainer state, TRAINER_STATE_BYTES_PER_PARAM; a KL reference adds its weights)
 * @throws Error `<source>: a model of N parameters needs X GB in <dtype>, more than this machine's
 *   Y GB (vocab_size V, hidden_size H, ...)`
 */
export function checkModelFitsMemory(
  c: NativeQwen3Config,
  dtype: string,
  device: string,
  source: string,
  resident: { bytesPerParam: number; what: string } = { bytesPerParam: 0, what: '' },
): void {
  if (!device.startsWith('cpu')) return;
  const params = qwen3ParameterCount(c);
  const weights = params * (dtype === 'float32' ? 4 : 2);
  const bytes = weights + params * resident.bytesPerParam;
  if (bytes <= totalmem()) return;
  const gb = (x: number) => (x / 1e9).toFixed(1);
  const needs = resident.bytesPerParam
    ? `${gb(bytes)} GB: ${gb(weights)} GB of weights in ${dtype} plus ${gb(params * resident.bytesPerParam)} GB of ${resident.what}`
    : `${gb(bytes)} GB in ${dtype}`;
  throw new Error(
    `${source}: a model of ${params.toExponential(2)} parameters needs ${needs}, more than this machine's ${gb(totalmem())} GB ` +
      `(vocab_size ${c.vocabSize}, hidden_size ${c.hiddenSize}, intermediate_size ${c.intermediateSize}, num_hidden_layers ${c.numHiddenLayers})`,
  );
}
