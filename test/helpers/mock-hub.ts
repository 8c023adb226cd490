/**
 * A small mock of the Hugging Face hub's HTTP API on 127.0.0.1 (no network exists in CI), serving the
 * endpoints model downloads use: `GET /api/models/{repo}/revision/{rev}` (the commit of a branch,
 * tag or commit), `GET /api/models/{repo}/tree/{commit}` (the file list with sizes, git oids and LFS
 * sha256), and `GET /{repo}/resolve/{commit}/{path}` (bytes, with Range). Repos can be gated (401
 * without the right Bearer token), list a file the resolve endpoint lacks (404 EntryNotFound), or cut
 * a transfer short once (the connection is destroyed after half the bytes).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MockFile {
  path: string;
  data: Buffer;
  /** Stored with Git LFS (listed with its sha256 as lfs.oid). */
  lfs?: boolean;
}

export interface MockRepo {
  /** revision name (branch or tag) -> commit sha (40 hex). */
  refs: Record<string, string>;
  /** commit sha -> files. */
  commits: Record<string, MockFile[]>;
  /** Bearer token required for every request (401 without it). */
  gatedToken?: string;
  /** Paths listed in the tree whose bytes the resolve endpoint lacks (404). */
  missing?: string[];
  /** Paths whose first transfer is cut after half the bytes. */
  interruptOnce?: string[];
}

export interface MockHub {
  url: string;
  /** Every request as `METHOD path` (with Range when sent), in order. */
  log: string[];
  close(): Promise<void>;
}

/** A commit id from a label (deterministic, 40 hex). */
export function commitOf(label: string): string {
  return createHash('sha1').update(label).digest('hex');
}

function gitOid(data: Buffer): string {
  return createHash('sha1')
    .update(Buffer.concat([Buffer.from(`blob ${data.length}\0`), data]))
    .digest('hex');
}

export async function startMockHub(repos: Record<string, MockRepo>): Promise<MockHub> {
  const log: string[] = [];
  const interrupted = new Set<string>();
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(u.pathname);
    log.push(`${req.method} ${path}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)(?:\/.*)?$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repoName = api?.[1] ?? resolve?.[1];
    const repo = repoName ? repos[repoName] : undefined;
    if (!repo) return json(res, 404, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
    if (repo.gatedToken && req.headers.authorization !== `Bearer ${repo.gatedToken}`) {
      return json(
        res,
        401,
        { error: `Access to model ${repoName} is restricted. You must have access to it and be authenticated.` },
        { 'X-Error-Code': 'GatedRepo' },
      );
    }
    const rev = api?.[3] ?? resolve![2]!;
    const commit = /^[0-9a-f]{40}$/.test(rev) ? rev : repo.refs[rev];
    const files = commit ? repo.commits[commit] : undefined;
    if (!commit || !files)
      return json(res, 404, { error: 'Revision Not Found' }, { 'X-Error-Code': 'RevisionNotFound' });
    if (api?.[2] === 'revision') {
      return json(res, 200, {
        _id: commit.slice(0, 24),
        id: repoName,
        sha: commit,
        private: false,
        gated: repo.gatedToken ? 'manual' : false,
        downloads: 0,
        likes: 0,
        lastModified: '2026-01-01T00:00:00.000Z',
      });
    }
    if (api?.[2] === 'tree') {
      return json(
        res,
        200,
        files.map((f) => ({
          type: 'file',
          oid: gitOid(f.data),
          size: f.data.length,
          path: f.path,
          ...(f.lfs
            ? { lfs: { oid: createHash('sha256').update(f.data).digest('hex'), size: f.data.length, pointerSize: 134 } }
            : {}),
        })),
      );
    }
    const file = files.find((f) => f.path === resolve![3]);
    if (!file || repo.missing?.includes(file.path))
      return json(res, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (range) start = Number(range[1]);
    if (start >= file.data.length && file.data.length > 0) {
      res.writeHead(416, { 'Content-Range': `bytes */${file.data.length}` });
      return res.end();
    }
    const body = file.data.subarray(start);
    const headers: Record<string, string> = {
      'Content-Length': String(body.length),
      ETag: `"${gitOid(file.data)}"`,
      'Accept-Ranges': 'bytes',
    };
    if (range) headers['Content-Range'] = `bytes ${start}-${file.data.length - 1}/${file.data.length}`;
    res.writeHead(range ? 206 : 200, headers);
    const key = `${repoName}/${commit}/${file.path}`;
    if (repo.interruptOnce?.includes(file.path) && !interrupted.has(key)) {
      interrupted.add(key);
      // Half the bytes, then the connection drops (a transfer cut by the network).
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.destroy(), 200));
      return;
    }
    res.end(body);
  };
  const server: Server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
