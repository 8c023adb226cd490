// Models named by hub id, against a mock of the hub's HTTP API on 127.0.0.1 (test/helpers/mock-hub.ts):
// the standard HF cache layout (found by Python's huggingface_hub too), revisions, HF_HUB_OFFLINE,
// gated repos and HF_TOKEN, a file the hub lacks, an interrupted transfer (never used, then resumed),
// and the CLI: `gtr download` prints the snapshot directory, `--model owner/name` loads from it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cachedSnapshot,
  downloadModel,
  hubCacheDir,
  hubToken,
  parseHubId,
  presetConfig,
} from '../src/checkpoint/index.js';
import { Policy } from '../src/policy.js';
import { gtr } from './helpers/cli.js';
import { commitOf, startMockHub, type MockFile, type MockHub } from './helpers/mock-hub.js';
import { python, pythonHas } from './helpers/python.js';

const scratch = mkdtempSync(join(tmpdir(), 'gtr-hub-'));
const MAIN = commitOf('main');
const V1 = commitOf('v1');
let hub: MockHub;
let modelFiles: MockFile[];

function filesOf(dir: string): MockFile[] {
  return readdirSync(dir).map((f) => ({ path: f, data: readFileSync(join(dir, f)), lfs: f.endsWith('.safetensors') }));
}

beforeAll(async () => {
  const policy = await Policy.random(presetConfig('tiny'), 5, { dtype: 'float32' });
  await policy.save(join(scratch, 'tiny'), { dtype: 'bfloat16' });
  policy.dispose();
  modelFiles = filesOf(join(scratch, 'tiny'));
  const small = (label: string): MockFile[] => [
    { path: 'config.json', data: Buffer.from(JSON.stringify({ label })) },
    { path: 'weights/part.bin', data: Buffer.from(`${label} `.repeat(5000)), lfs: true },
  ];
  hub = await startMockHub({
    'acme/tiny': {
      refs: { main: MAIN, v1: V1 },
      commits: { [MAIN]: modelFiles, [V1]: small('v1') },
    },
    'acme/gated': { refs: { main: MAIN }, commits: { [MAIN]: small('gated') }, gatedToken: 'hf_good' },
    'acme/holey': { refs: { main: MAIN }, commits: { [MAIN]: small('holey') }, missing: ['weights/part.bin'] },
    'acme/flaky': { refs: { main: MAIN }, commits: { [MAIN]: small('flaky') }, interruptOnce: ['weights/part.bin'] },
  });
}, 120_000);

afterAll(async () => {
  await hub?.close();
  rmSync(scratch, { recursive: true, force: true });
});

const opts = (cache: string, extra: Record<string, unknown> = {}) => ({
  cacheDir: cache,
  hubUrl: hub.url,
  accessToken: '',
  offline: false,
  ...extra,
});

describe('hub ids', () => {
  it('parses owner/name[@revision] and leaves paths alone', () => {
    expect(parseHubId('Qwen/Qwen2.5-Math-1.5B')).toEqual({ repo: 'Qwen/Qwen2.5-Math-1.5B', revision: 'main' });
    expect(parseHubId('meta-llama/Llama-3.2-1B@v1.0')).toEqual({ repo: 'meta-llama/Llama-3.2-1B', revision: 'v1.0' });
    for (const p of ['./a/b', '/abs/dir', 'runs/x/y', 'a/../b', 'model', '../x/y'])
      expect(parseHubId(p)).toBeUndefined();
  });

  it('reads the cache dir and token as huggingface_hub does', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/c', HF_HOME: '/h' })).toBe('/c');
    expect(hubCacheDir({ HF_HOME: '/h' })).toBe('/h/hub');
    expect(hubCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/huggingface/hub');
    const home = join(scratch, 'token-home');
    mkdirSync(home);
    writeFileSync(join(home, 'token'), 'hf_from_file\n');
    expect(hubToken({ HF_HOME: home })).toBe('hf_from_file');
    expect(hubToken({ HF_HOME: home, HF_TOKEN: 'hf_env' })).toBe('hf_env');
    expect(hubToken({ HF_HOME: join(scratch, 'none') })).toBeUndefined();
  });
});

describe('downloads into the standard HF cache (mock hub on 127.0.0.1)', () => {
  const cache = join(scratch, 'cache');

  it('writes blobs, refs and snapshot links in the layout huggingface_hub uses, then reuses them', async () => {
    const dir = await downloadModel({ repo: 'acme/tiny', revision: 'main' }, 'model.path', opts(cache));
    const storage = join(cache, 'models--acme--tiny');
    expect(dir).toBe(join(storage, 'snapshots', MAIN));
    expect(readFileSync(join(storage, 'refs', 'main'), 'utf8')).toBe(MAIN);
    for (const f of modelFiles) {
      const p = join(dir, f.path);
      expect(lstatSync(p).isSymbolicLink()).toBe(true);
      const etag = f.lfs ? createHash('sha256').update(f.data).digest('hex') : readlinkSync(p).split('/').pop();
      expect(readlinkSync(p)).toBe(`../../blobs/${etag}`);
      expect(readFileSync(p).equals(f.data)).toBe(true);
    }
    const before = hub.log.filter((l) => l.includes('/resolve/')).length;
    expect(await downloadModel({ repo: 'acme/tiny', revision: 'main' }, 'model.path', opts(cache))).toBe(dir);
    expect(hub.log.filter((l) => l.includes('/resolve/')).length).toBe(before);
    // The model loads from the snapshot.
    const policy = await Policy.load(dir);
    expect(policy.config.modelType).toBe('qwen3');
    policy.dispose();
  });

  const hfHub = pythonHas(['huggingface_hub']);
  it.skipIf(!hfHub.ok)(
    `is found by Python's huggingface_hub offline${hfHub.ok ? '' : ` (skipped: ${hfHub.why})`}`,
    () => {
      const out = execFileSync(
        python,
        ['-c', "from huggingface_hub import snapshot_download; print(snapshot_download('acme/tiny'))"],
        { encoding: 'utf8', env: { ...process.env, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' } },
      );
      expect(out.trim()).toBe(join(cache, 'models--acme--tiny', 'snapshots', MAIN));
    },
  );

  it('resolves a revision (tag) to its commit, recorded under refs/', async () => {
    const dir = await downloadModel({ repo: 'acme/tiny', revision: 'v1' }, 'model.path', opts(cache));
    expect(dir).toBe(join(cache, 'models--acme--tiny', 'snapshots', V1));
    expect(readFileSync(join(cache, 'models--acme--tiny', 'refs', 'v1'), 'utf8')).toBe(V1);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual({ label: 'v1' });
    await expect(downloadModel({ repo: 'acme/tiny', revision: 'v9' }, 'model.path', opts(cache))).rejects.toThrow(
      /model\.path: acme\/tiny@v9: not found on .* \(HTTP 404: .*\): check the id and revision/,
    );
  });

  it('HF_HUB_OFFLINE: the cached snapshot without a request, or an error for an uncached revision', async () => {
    const n = hub.log.length;
    expect(await downloadModel({ repo: 'acme/tiny', revision: 'v1' }, '--model', opts(cache, { offline: true }))).toBe(
      join(cache, 'models--acme--tiny', 'snapshots', V1),
    );
    expect(cachedSnapshot({ repo: 'acme/tiny', revision: MAIN }, cache)).toBe(
      join(cache, 'models--acme--tiny', 'snapshots', MAIN),
    );
    await expect(
      downloadModel({ repo: 'acme/tiny', revision: 'v2' }, '--model', opts(cache, { offline: true })),
    ).rejects.toThrow(/--model: acme\/tiny@v2 is not in the hub cache .* and HF_HUB_OFFLINE is set/);
    expect(hub.log.length).toBe(n);
  });

  it('a gated repo: 401 without a token names HF_TOKEN; with the token it downloads', async () => {
    await expect(downloadModel({ repo: 'acme/gated', revision: 'main' }, 'model.path', opts(cache))).rejects.toThrow(
      /model\.path: acme\/gated@main: the hub refused access \(HTTP 401\): the repo is gated or private\. Set HF_TOKEN/,
    );
    await expect(
      downloadModel({ repo: 'acme/gated', revision: 'main' }, 'model.path', opts(cache, { accessToken: 'hf_bad' })),
    ).rejects.toThrow(/The token in HF_TOKEN has no access to it/);
    const dir = await downloadModel(
      { repo: 'acme/gated', revision: 'main' },
      'model.path',
      opts(cache, { accessToken: 'hf_good' }),
    );
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual({ label: 'gated' });
  });

  it('a file the hub lists but cannot serve is an error naming it, and is not linked', async () => {
    await expect(downloadModel({ repo: 'acme/holey', revision: 'main' }, 'model.path', opts(cache))).rejects.toThrow(
      /model\.path: acme\/holey@main: weights\/part\.bin is listed in the repo, but the hub has no file for it \(HTTP 404/,
    );
    expect(existsSync(join(cache, 'models--acme--holey', 'snapshots', MAIN, 'weights', 'part.bin'))).toBe(false);
  });

  it('an interrupted transfer is never used, and the next call resumes it with a Range request', async () => {
    const storage = join(cache, 'models--acme--flaky');
    const pointer = join(storage, 'snapshots', MAIN, 'weights', 'part.bin');
    await expect(downloadModel({ repo: 'acme/flaky', revision: 'main' }, 'model.path', opts(cache))).rejects.toThrow(
      /the transfer of weights\/part\.bin was interrupted after \d+ of 30000 bytes .* is never used, and the next run resumes it/,
    );
    expect(existsSync(pointer)).toBe(false);
    const partial = readdirSync(join(storage, 'blobs')).filter((f) => f.endsWith('.incomplete'));
    expect(partial).toHaveLength(1);
    const have = lstatSync(join(storage, 'blobs', partial[0]!)).size;
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThan(30000);
    const dir = await downloadModel({ repo: 'acme/flaky', revision: 'main' }, 'model.path', opts(cache));
    expect(hub.log).toContain(`GET /acme/flaky/resolve/${MAIN}/weights/part.bin bytes=${have}-`);
    expect(readFileSync(join(dir, 'weights', 'part.bin'), 'utf8')).toBe('flaky '.repeat(5000));
    expect(readdirSync(join(storage, 'blobs')).filter((f) => f.endsWith('.incomplete'))).toEqual([]);
  });
});

describe('the CLI with hub ids', () => {
  it('gtr download prints the snapshot dir; --model owner/name loads it (offline, from the cache)', async () => {
    const home = join(scratch, 'cli-home');
    const env = { HF_HOME: home, HF_ENDPOINT: hub.url, HF_TOKEN: '' };
    const { stdout } = await gtr(['download', 'acme/tiny'], { env });
    const dir = join(home, 'hub', 'models--acme--tiny', 'snapshots', MAIN);
    expect(stdout.trim()).toBe(dir);
    const scored = JSON.parse(
      (
        await gtr(['score', '--model', 'acme/tiny', '--text', 'one plus one', '--json'], {
          env: { ...env, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' },
        })
      ).stdout,
    ) as { tokens: number[]; logprobs: (number | null)[] };
    expect(scored.tokens.length).toBeGreaterThan(1);
    expect(Number.isFinite(scored.logprobs[1])).toBe(true);
  }, 120_000);
});
