/**
 * A local stand-in for the Hugging Face hub, for tests of downloads: @huggingface/hub 2.x requests
 * GET {hubUrl}/datasets/{repo}/resolve/{revision}/{path}, first with `Range: bytes=0-0` (size from
 * Content-Range, ETag required), then the whole file. Serves `files` (URL path -> bytes); 404
 * with the hub's EntryNotFound header otherwise.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { DAPO_PREFIX, DAPO_SUFFIX } from '../../src/data/index.js';

export interface HubStandIn {
  base: string;
  requests: string[];
  close(): Promise<void>;
}

export async function startHubStandIn(files: Map<string, Buffer>): Promise<HubStandIn> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(`${req.method} ${path}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    const body = files.get(path);
    if (!body) {
      res.writeHead(404, { 'X-Error-Code': 'EntryNotFound', 'Content-Type': 'text/plain' });
      res.end('Entry not found');
      return;
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (m) {
      const [a, b] = [Number(m[1]), Math.min(Number(m[2]), body.length - 1)];
      res.writeHead(206, {
        'Content-Range': `bytes ${a}-${b}/${body.length}`,
        ETag: '"etag-1"',
        'Content-Length': b - a + 1,
      });
      res.end(body.subarray(a, b + 1));
      return;
    }
    res.writeHead(200, { ETag: '"etag-1"', 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

/**
 * The hub files of MATH-500 and DAPO-Math-17k in their original layouts (MATH-500's test.jsonl;
 * DAPO's parquet with the instruction template around each problem), `n` rows each.
 */
export function hubDatasetFiles(n = 3): Map<string, Buffer> {
  const math = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      problem: `What is $${i}+1$?`,
      solution: `$\\boxed{${i + 1}}$`,
      answer: String(i + 1),
      subject: 'Algebra',
      level: 1,
      unique_id: `test/algebra/${i}.json`,
    }),
  ).join('\n');
  const rows = Array.from({ length: n }, (_, i) => ({
    data_source: 'math_dapo',
    prompt: [{ role: 'user', content: `${DAPO_PREFIX}Find $x$ if $x-${i}=1$.${DAPO_SUFFIX}` }],
    ability: 'MATH',
    reward_model: { ground_truth: String(i + 1), style: 'rule-lighteval/MATH_v2' },
    extra_info: { index: `u${i}` },
  }));
  const parquet = parquetWriteBuffer({
    columnData: (['data_source', 'prompt', 'ability', 'reward_model', 'extra_info'] as const).map((name) => ({
      name,
      data: rows.map((r) => r[name]),
    })),
  });
  return new Map([
    ['/datasets/HuggingFaceH4/MATH-500/resolve/main/test.jsonl', Buffer.from(math)],
    ['/datasets/BytedTsinghua-SIA/DAPO-Math-17k/resolve/main/data/dapo-math-17k.parquet', Buffer.from(parquet)],
  ]);
}
