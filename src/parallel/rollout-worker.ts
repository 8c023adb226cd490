/**
 * A rollout worker process (recipe `rollout.placement: separate`), started by ./rollout-workers.ts
 * with an IPC channel: it holds its own policy and rollout engine, joins the weight-sync process
 * group as rank `init.group.rank`, and serves `generate` requests in the order they come, each from
 * exactly the weights version the trainer named. Weights announced by a `weights` message are
 * received into a staging buffer while a generation may run (native/parallel weight_sync.h) and
 * loaded between generations, once a batch needs them; one staged version at a time, so a later
 * announcement waits until the staged one is loaded.
 *
 * It exits when the trainer says `stop`, and at once (SIGKILL to itself: a receive blocked in the
 * collective would hold a normal exit) when the trainer's channel closes. SIGINT, SIGTERM and SIGHUP
 * are ignored: the trainer, which gets them too from a terminal, saves and then stops the worker.
 */
import { native } from '../native/binding.js';
import type { NativeProcessGroup } from '../native/types.js';
import { Policy } from '../policy.js';
import { rolloutEngine, type GenerateRequest } from '../rollout/engine.js';
import type { FromWorker, RolloutWorkerInit, ToWorker } from './rollout-workers.js';

type GenerateMsg = Extract<ToWorker, { type: 'generate' }>;

function send(m: FromWorker): void {
  process.send?.(m);
}

/** Runs the worker on this process's IPC channel. */
export function runRolloutWorker(): void {
  if (!process.send) throw new Error('the rollout worker runs as a child process with an IPC channel');
  let init: RolloutWorkerInit | undefined;
  let policy: Policy | undefined;
  let group: NativeProcessGroup | undefined;
  let starting: Promise<void> | undefined;
  const announced: number[] = [];
  let receiving = false;
  let staged: number | undefined;
  let loaded = -1;
  let syncMs = 0;
  const requests: GenerateMsg[] = [];
  let busy = false;
  let wake: (() => void) | undefined;

  const die = (e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    send({ type: 'error', message });
    process.stderr.write(`rollout worker (pid ${process.pid}): ${message}\n`);
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 200);
  };

  // Posts the next announced receive once the staging buffer is free.
  const pumpWeights = () => {
    if (!group || !policy || receiving || staged !== undefined || announced.length === 0) return;
    const v = announced.shift()!;
    receiving = true;
    group.receiveWeights(policy.native, 0, `weights v${v}`).then(
      (r) => {
        receiving = false;
        if (r.version !== v) return die(new Error(`weights v${v} announced, v${r.version} received`));
        staged = r.version;
        syncMs += r.ms;
        wake?.();
      },
      (e) => die(e),
    );
  };

  // Loads staged versions until the live weights are `version`.
  const ensureVersion = async (version: number) => {
    while (loaded !== version) {
      if (loaded > version)
        throw new Error(
          `a batch asks for weights v${version}, but v${loaded} is already loaded (requests out of order)`,
        );
      if (staged !== undefined) {
        const t = performance.now();
        loaded = group!.loadReceivedWeights(policy!.native);
        syncMs += performance.now() - t;
        staged = undefined;
        pumpWeights();
        continue;
      }
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  };

  const serve = async () => {
    if (busy) return;
    busy = true;
    try {
      await starting;
      const engine = rolloutEngine(policy!);
      while (requests.length > 0) {
        const m = requests.shift()!;
        const t0 = performance.now();
        await ensureVersion(m.version);
        const waitWeightsMs = performance.now() - t0;
        const t1 = performance.now();
        const request: GenerateRequest = { ...m.request, tokenBytes: init!.tokenBytes };
        const rollouts = await engine.generate(m.prompts, request);
        const generateMs = performance.now() - t1;
        send({
          type: 'result',
          id: m.id,
          version: loaded,
          rollouts,
          stats: engine.lastStats?.(),
          generateMs,
          waitWeightsMs,
          weightSyncMs: syncMs,
        });
        syncMs = 0;
      }
    } catch (e) {
      die(e);
    } finally {
      busy = false;
    }
  };

  const start = async (i: RolloutWorkerInit) => {
    init = i;
    policy = await Policy.load(i.modelDir, { device: i.device, dtype: i.dtype });
    if (i.lora && !policy.lora) policy.enableLora(i.lora.spec, i.lora.seed);
    group = new (native().ProcessGroup)({
      rank: i.group.rank,
      worldSize: i.group.worldSize,
      masterAddr: i.group.masterAddr,
      masterPort: i.group.masterPort,
      storeServer: false,
      backend: i.group.backend,
      timeoutMs: i.timeoutMs,
      hostname: '127.0.0.1',
      deviceIndex: i.device.startsWith('cuda') ? Number(i.device.split(':')[1] ?? 0) : 0,
    });
    await group.connect();
    send({ type: 'ready', pid: process.pid, threads: native().versions().numThreads });
    pumpWeights();
  };

  process.on('message', (m: ToWorker) => {
    if (m.type === 'init') {
      starting = start(m.init);
      starting.catch(die);
    } else if (m.type === 'weights') {
      announced.push(m.version);
      void starting?.then(pumpWeights);
    } else if (m.type === 'generate') {
      requests.push(m);
      void serve();
    } else if (m.type === 'stop') {
      // Stop after the batch in flight: nothing is received any more.
      const exit = () => {
        policy?.dispose();
        group?.close();
        process.exit(0);
      };
      if (!busy && !receiving) exit();
      else {
        requests.length = 0;
        const t = setInterval(() => {
          if (!busy && !receiving) {
            clearInterval(t);
            exit();
          }
        }, 20);
      }
    }
  });
  // The trainer is gone: nothing to serve, and a receive may block in the collective.
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  // A Ctrl-C at the terminal reaches the whole process group: the trainer saves its checkpoint and
  // then stops this worker, which must live until then (a dead worker would fail the run instead).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => {});
}

runRolloutWorker();
