/**
 * A real S3-compatible server for the tests: s3rver (npm), on 127.0.0.1, storing objects as
 * files in a folder, run in a process of its own (the tests block in spawnSync while the CLI
 * talks to it). Chosen because it is the S3 server this machine can install: no other registry
 * than npm's and Debian's is reachable, and Debian packages none (radosgw needs a whole Ceph
 * cluster). It speaks the S3 REST protocol the AWS SDK uses: multipart uploads, ranged GETs,
 * listing pages. It checks access key ids but not signatures, so a wrong secret is not refused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

export const ACCESS_KEY = 'S3RVER';
export const BUCKET = 'slipstream-test';
/** What the engine needs in its environment to use the server. */
export const S3_ENV = { AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

export class S3Server {
  private constructor(readonly dir: string, readonly endpoint: string, private readonly child: ChildProcess) {}

  /** Start a server storing under a fresh temporary folder, with BUCKET. With `quotaBytes` it
   *  refuses a PUT that would store more than that, as Ceph RGW's quotas do (403 QuotaExceeded). */
  static async start(opts: { quotaBytes?: number } = {}): Promise<S3Server> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slip-s3-'));
    const child = spawn(process.execPath, [__filename, 'serve', dir, String(opts.quotaBytes ?? 0)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^port (\d+)$/m.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`the S3 server exited (${code}) before it listened`)));
    });
    return new S3Server(dir, `http://127.0.0.1:${port}`, child);
  }

  /** The files that hold the objects under `prefix` of the bucket (s3rver keeps each object as KEY._S3rver_object). */
  objects(prefix = ''): string[] {
    const root = path.join(this.dir, BUCKET);
    const out: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('._S3rver_object')) out.push(path.relative(root, p).slice(0, -'._S3rver_object'.length));
      }
    };
    if (fs.existsSync(root)) walk(root);
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  objectFile(key: string): string {
    return path.join(this.dir, BUCKET, `${key}._S3rver_object`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill();
    await exited;
  }
}

async function serve(dir: string, quota: number): Promise<void> {
  // s3rver is a dev dependency, loaded only in the server's own process.
  const { default: S3rver } = await import('s3rver');
  const s3rver = new S3rver({ silent: true, directory: dir, configureBuckets: [{ name: BUCKET, configs: [] }] });
  await s3rver.configureBuckets?.();
  const handle = s3rver.callback();
  const server = http.createServer((req, res) => {
    const adding = Number(req.headers['content-length'] ?? 0);
    if (quota > 0 && (req.method === 'PUT' || req.method === 'POST') && used(dir) + adding > quota) {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>QuotaExceeded</Code><Message>The quota is exceeded.</Message></Error>');
      return;
    }
    handle(req, res);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${(server.address() as { port: number }).port}\n`));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

/** Bytes stored under `dir`. */
function used(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else n += fs.statSync(p).size;
    }
  };
  walk(dir);
  return n;
}

if (require.main === module && process.argv[2] === 'serve') void serve(process.argv[3], Number(process.argv[4]));
