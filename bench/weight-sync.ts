/**
 * Weight-sync time, trainer -> rollout worker (not a test; issue 29): the broadcast that
 * `rollout.placement: separate` does after every step (ProcessGroup.sendWeights /
 * receiveWeights / loadReceivedWeights, native/parallel/weight_sync.h), between this process (the
 * trainer, group rank 0) and one forked worker process (rank 1), each holding a random policy of
 * the preset's shape. On one GPU both ranks share the device, and NCCL refuses two ranks on one
 * device, so the bytes go through gloo (device -> host -> device), as the run itself does there;
 * with two GPUs (--backend nccl) the worker uses cuda:1 and NCCL.
 *
 * Per iteration: the trainer's send (pack + broadcast), the worker's receive (broadcast into the
 * staging buffer) and its load (staging -> live weights); min / median over iterations, bytes and
 * GB/s. The first iteration (buffer allocation, connection warm-up) is reported apart.
 *
 * Run: npx tsx bench/weight-sync.ts [--model qwen3-1.7b-base] [--device cuda] [--dtype bf16]
 *      [--iters 5] [--backend gloo|nccl] [--out bench/results]
 * (bench/gpu.sh's `weight_sync` phase runs it on a lent GPU; on CPU: --model tiny --device cpu.)
 */
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { presetConfig } from '../src/checkpoint/index.js';
import { native } from '../src/native/binding.js';
import { freePort } from '../src/parallel/launch.js';
import { Policy } from '../src/policy.js';
import { writeBenchResult } from './results.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'qwen3-1.7b-base' },
    device: { type: 'string', default: 'cuda' },
    dtype: { type: 'string', default: 'bf16' },
    iters: { type: 'string', default: '5' },
    backend: { type: 'string', default: 'gloo' },
    out: { type: 'string', default: 'bench/results' },
    role: { type: 'string', default: 'trainer' },
    port: { type: 'string' },
  },
});
const dtype = values.dtype === 'fp32' || values.dtype === 'float32' ? 'float32' : 'bfloat16';
const iters = Number(values.iters);
const backend = values.backend === 'nccl' ? 'nccl' : 'gloo';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function policyOn(device: string, seed: number): Promise<Policy> {
  return Policy.random(presetConfig(values.model!, dtype), seed, { device, dtype });
}

if (values.role === 'worker') {
  // Rank 1: receive, load, report; the trainer drives the iterations.
  const device = values.device!.startsWith('cuda') ? (backend === 'nccl' ? 'cuda:1' : 'cuda:0') : 'cpu';
  // connect() does not hold the event loop open (its callback is unref'd): the IPC channel does
  // only with a listener.
  process.on('message', () => {});
  const policy = await policyOn(device, 1);
  const group = new (native().ProcessGroup)({
    rank: 1,
    worldSize: 2,
    masterAddr: '127.0.0.1',
    masterPort: Number(values.port),
    storeServer: false,
    backend,
    hostname: '127.0.0.1',
    deviceIndex: backend === 'nccl' ? 1 : 0,
  });
  await group.connect();
  process.send!({ type: 'ready' });
  for (let i = 0; i < iters; i++) {
    const r = await group.receiveWeights(policy.native, 0, `bench v${i}`);
    const t = performance.now();
    group.loadReceivedWeights(policy.native);
    if (device.startsWith('cuda')) native().cudaMemory(false, device === 'cuda:1' ? 1 : 0); // synchronises the device
    process.send!({ type: 'iter', receiveMs: r.ms, loadMs: performance.now() - t, bytes: r.bytes });
  }
  group.close();
  policy.dispose();
  process.exit(0);
}

const device = values.device!.startsWith('cuda') ? 'cuda:0' : 'cpu';
const port = await freePort();
const group = new (native().ProcessGroup)({
  rank: 0,
  worldSize: 2,
  masterAddr: '127.0.0.1',
  masterPort: port,
  storeServer: true,
  backend,
  hostname: '127.0.0.1',
  deviceIndex: 0,
});
const child = fork(
  new URL(import.meta.url).pathname,
  [...process.argv.slice(2), '--role', 'worker', '--port', String(port)],
  {
    serialization: 'advanced',
    execArgv: process.execArgv,
  },
);
const childExit = new Promise((r) => child.on('exit', r));
const worker: { receiveMs: number; loadMs: number; bytes: number }[] = [];
let onIter: (() => void) | undefined;
const ready = new Promise<void>((resolve, reject) => {
  child.on('message', (m: { type: string; receiveMs: number; loadMs: number; bytes: number }) => {
    if (m.type === 'ready') resolve();
    else {
      worker.push(m);
      onIter?.();
    }
  });
  child.on('exit', (code) => (code !== 0 ? reject(new Error(`worker exited with ${code}`)) : undefined));
});
const policy = await policyOn(device, 0);
await Promise.all([group.connect(), ready]);
const send: { ms: number; totalMs: number; bytes: number }[] = [];
for (let i = 0; i < iters; i++) {
  const got = new Promise<void>((r) => (onIter = r));
  const t = performance.now();
  const r = await group.sendWeights(policy.native, i, `bench v${i}`);
  await got;
  send.push({ ms: r.ms, totalMs: performance.now() - t, bytes: r.bytes });
  console.log(
    `iter ${i}: ${(r.bytes / 2 ** 30).toFixed(2)} GiB, send ${r.ms.toFixed(1)} ms, worker receive ${worker[i]!.receiveMs.toFixed(1)} ms + load ${worker[i]!.loadMs.toFixed(1)} ms, send-to-loaded ${send[i]!.totalMs.toFixed(1)} ms`,
  );
}
group.close();
const parameters = policy.numParameters;
policy.dispose();
const steady = send.slice(1);
const bytes = send[0]!.bytes;
const result = {
  model: values.model,
  dtype,
  backend,
  device: device.startsWith('cuda')
    ? native().versions().cudaDeviceNames[0]
    : `${cpus()[0]?.model.trim()} x${cpus().length}`,
  parameters,
  bytes,
  iters,
  first: { sendMs: send[0]!.ms, receiveMs: worker[0]!.receiveMs, loadMs: worker[0]!.loadMs, totalMs: send[0]!.totalMs },
  median: {
    sendMs: median(steady.map((x) => x.ms)),
    receiveMs: median(worker.slice(1).map((x) => x.receiveMs)),
    loadMs: median(worker.slice(1).map((x) => x.loadMs)),
    totalMs: median(steady.map((x) => x.totalMs)),
  },
  min: { totalMs: Math.min(...steady.map((x) => x.totalMs)) },
};
const gbps = bytes / 1e9 / (result.median.totalMs / 1000);
console.log(
  `| model | dtype | backend | GiB | send ms | receive ms | load ms | send-to-loaded ms (median) | GB/s |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n` +
    `| ${values.model} | ${dtype} | ${backend} | ${(bytes / 2 ** 30).toFixed(2)} | ${result.median.sendMs.toFixed(1)} | ${result.median.receiveMs.toFixed(1)} | ${result.median.loadMs.toFixed(1)} | ${result.median.totalMs.toFixed(1)} | ${gbps.toFixed(2)} |`,
);
writeBenchResult(values.out!, 'weight-sync', `${values.model}-${backend}`, device.startsWith('cuda') ? 'cuda' : 'cpu', {
  ...result,
  gbPerS: gbps,
});
await childExit;
