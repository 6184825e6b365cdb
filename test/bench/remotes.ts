/**
 * Issue 15: bookmark push and pull through a real S3-compatible server (s3rver, in a process of
 * its own on 127.0.0.1, the one the tests use), beside a plain upload and download of the same
 * data directory's files to the same server with the same client (the AWS SDK, multipart,
 * four requests in flight). Then a 1% change and a second push and pull, five times: a clustered
 * change (the push the target is about) three times, a scattered one, and the clustered one
 * again, now on a table the scattered update left in small extents on the folder drivers' disks.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BookmarkCreateRequest, BookmarkPullRequest, BookmarkPushRequest, ContainerCreateRequest, RemoteAddRequest, type TransferInfo,
} from '../../server/protocol';
import { BUCKET, S3_ENV, S3Server } from '../support/s3server';
import { onCleanup } from './cleanup';
import { changeStatement, describe, type ChangePattern } from './dataset';
import { BenchEngine } from './engine';
import { timed } from './exec';
import type { Master } from './master';
import { openSite, type DriverName } from './sites';
import { buildTemplate } from './storage';

export interface Transfer { seconds: number; bytesMoved: number; bytesRead: number; chunksMoved: number; chunks: number }

export interface RemoteFigures {
  driver: DriverName;
  dataset: string;
  /** Bytes of the data directory's files: what the plain peers move. */
  dataBytes: number;
  plainUpload: number;
  plainDownload: number;
  /** The first push (template version and bookmark) and a pull of both into a fresh engine. */
  push: Transfer;
  pull: Transfer;
  afterChange: AfterChange[];
}

export interface AfterChange { change: string; push: Transfer; pull: Transfer }

/** The clustered change (the one the target is about) three times, each on other rows: one push
 *  after a small change takes well under a second, and a single sample of it varied by half
 *  between runs with the machine's I/O (targets.ts takes the median of the three). */
const CHANGES: ReadonlyArray<{ change: string; pattern: ChangePattern }> = [
  { change: 'a clustered 1% change', pattern: 'clustered' },
  { change: 'a clustered 1% change', pattern: 'clustered' },
  { change: 'a clustered 1% change', pattern: 'clustered' },
  { change: 'a scattered 1% change', pattern: 'scattered' },
  { change: 'a clustered 1% change after the scattered one', pattern: 'clustered' },
];

const IN_FLIGHT = 4;

export async function measureRemotes(opts: { driver: DriverName; workDir: string; imageMiB: number; master: Master; seed: string;
  log: (s: string) => void }): Promise<RemoteFigures | { skip: string }> {
  const { driver, master, log } = opts;
  const site = await openSite(driver, opts.workDir, opts.imageMiB);
  if ('skip' in site) return { skip: site.skip };
  Object.assign(process.env, S3_ENV); // the engines started below inherit the credentials
  const s3 = await S3Server.start();
  const release = onCleanup('stop the S3 server', async () => {
    await s3.stop();
    await fs.promises.rm(s3.dir, { recursive: true, force: true });
  });
  const a = await BenchEngine.start(path.join(opts.workDir, 'home-remote-a'), driver, path.join(site.dir, 'pool-a'));
  const b = await BenchEngine.start(path.join(opts.workDir, 'home-remote-b'), driver, path.join(site.dir, 'pool-b'));
  try {
    log(`remotes: ${driver}, ${describe(master.ds)}: plain upload and download of the data directory`);
    const files = await dataFiles(master.dataDir);
    const dataBytes = files.reduce((n, f) => n + f.size, 0);
    const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1' });
    const plainUpload = await timed(() => inFlight(files, (f) => new Upload({
      client, params: { Bucket: BUCKET, Key: `plain/${f.rel}`, Body: fs.createReadStream(f.abs) }, partSize: 8 * 2 ** 20, queueSize: 1,
    }).done()));
    const plainDownload = await timed(() => inFlight(files, async (f) => {
      const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `plain/${f.rel}` }));
      await out.Body!.transformToByteArray();
    }));
    client.destroy();
    log(`    plain: up ${plainUpload.toFixed(1)} s, down ${plainDownload.toFixed(1)} s for ${(dataBytes / 2 ** 20).toFixed(0)} MB`);

    const template = (await buildTemplate(a, master.ds, opts.seed)).name;
    await a.request(ContainerCreateRequest.type, { name: 'qa', template });
    for (const e of [a, b]) await e.request(RemoteAddRequest.type, { name: 'r', url: `s3://${BUCKET}/bench`, endpoint: s3.endpoint });
    await a.request(BookmarkCreateRequest.type, { container: 'qa', name: 'b0' });
    await a.idle(); // the bookmark's own background work (its spare, a sweep) is not the push's
    const push = await transfer(a, () => a.request(BookmarkPushRequest.type, { bookmark: 'b0', remote: 'r' }), log);
    const pull = await transfer(b, () => b.request(BookmarkPullRequest.type, { bookmark: 'b0', remote: 'r' }), log);
    log(`    push ${push.seconds.toFixed(1)} s (${mb(push.bytesMoved)} sent), pull ${pull.seconds.toFixed(1)} s (${mb(pull.bytesMoved)} received)`);
    const afterChange: AfterChange[] = [];
    for (const [k, { change, pattern }] of CHANGES.entries()) {
      await a.sql('qa', [changeStatement(master.ds, pattern, 7 + k)]);
      await a.request(BookmarkCreateRequest.type, { container: 'qa', name: `b${k + 1}` });
      await a.idle();
      const p = await transfer(a, () => a.request(BookmarkPushRequest.type, { bookmark: `b${k + 1}`, remote: 'r' }), log);
      const q = await transfer(b, () => b.request(BookmarkPullRequest.type, { bookmark: `b${k + 1}`, remote: 'r' }), log);
      afterChange.push({ change, push: p, pull: q });
      log(`    after ${change}: push ${p.seconds.toFixed(2)} s (${mb(p.bytesMoved)}), pull ${q.seconds.toFixed(2)} s (${mb(q.bytesMoved)})`);
    }
    return { driver, dataset: master.ds.name, dataBytes, plainUpload, plainDownload, push, pull, afterChange };
  } finally {
    await a.stop();
    await b.stop();
    await release();
    await site.release();
  }
}

async function transfer(engine: BenchEngine, fn: () => Promise<TransferInfo>, log: (s: string) => void): Promise<Transfer> {
  let info: TransferInfo | undefined;
  const seconds = await timed(async () => { info = await fn(); });
  // Where the time went, as the engine logged it.
  const lines = (await fs.promises.readFile(path.join(engine.home, 'engine.log'), 'utf8')).split('\n').filter((l) => /(pushing|pulling) bookmark/.test(l));
  if (lines.length) log(`      ${lines[lines.length - 1].replace(/^\S+\s+/, '')}`);
  return { seconds, bytesMoved: info!.bytesMoved, bytesRead: info!.bytesRead, chunksMoved: info!.chunksMoved, chunks: info!.chunks };
}

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;

interface DataFile { rel: string; abs: string; size: number }

async function dataFiles(root: string): Promise<DataFile[]> {
  const out: DataFile[] = [];
  const walk = async (dir: string) => {
    for (const e of await fs.promises.readdir(dir, { withFileTypes: true })) {
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) out.push({ rel: path.relative(root, abs), abs, size: (await fs.promises.stat(abs)).size });
    }
  };
  await walk(root);
  return out;
}

/** Run `fn` over the items, IN_FLIGHT at a time (the push's two packs of two parts each). */
async function inFlight<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => { while (next < items.length) await fn(items[next++]); };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}
