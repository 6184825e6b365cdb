/**
 * The one place that talks to S3 (or MinIO, Ceph RGW, R2, …) with the standard client. Credentials
 * come from where the AWS SDK looks for them: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE
 * and ~/.aws of the engine's user. Never from a request, a link or the store. Every failure becomes
 * an EngineError that says what the remote refused and what to do.
 */
import {
  GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { EngineError } from '../errors';
import type { RemoteRecord } from '../records';
import { keySealer, plainSealer, type Sealer } from './seal';

/** Objects above this go up in parts, PART_SIZE each, PART_QUEUE at a time. */
const MULTIPART_FROM = 16 * 1024 * 1024;
const PART_SIZE = 8 * 1024 * 1024;
const PART_QUEUE = 2;

export function remoteUrl(r: Pick<RemoteRecord, 'bucket' | 'prefix'>): string {
  return `s3://${r.bucket}/${r.prefix}`;
}

export class RemoteClient {
  private readonly s3: S3Client;
  /** Seals what is written and opens what is read, when the remote has a key. */
  readonly sealer: Sealer;

  constructor(private readonly remote: RemoteRecord, private readonly signal?: AbortSignal) {
    this.sealer = remote.key ? keySealer(remote.key) : plainSealer;
    this.s3 = new S3Client({
      ...(remote.endpoint ? { endpoint: remote.endpoint, forcePathStyle: true } : {}),
      region: remote.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      // Stores other than AWS (MinIO, R2, older Ceph) refuse or ignore the SDK's newer default
      // checksums; every object here carries its own hashes anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 4,
    });
  }

  private key(rel: string): string {
    return this.remote.prefix + rel;
  }

  /** The object's bytes, or undefined when there is none. */
  async get(rel: string, range?: { start: number; end: number }): Promise<Buffer | undefined> {
    return this.call(`reading ${rel}`, async () => {
      try {
        const out = await this.s3.send(new GetObjectCommand({
          Bucket: this.remote.bucket, Key: this.key(rel), ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
        }), this.opts());
        return Buffer.from(await out.Body!.transformToByteArray());
      } catch (err) {
        if (err instanceof S3ServiceException && err.name === 'NoSuchKey') return undefined;
        throw err;
      }
    });
  }

  /** A record: opened with the remote's key; undefined when there is none. */
  async getSealed(rel: string): Promise<Buffer | undefined> {
    const body = await this.get(rel);
    if (body === undefined) return undefined;
    const plain = this.sealer.open(body);
    if (!plain) throw new EngineError('RemoteFailed', `${rel} on remote "${this.remote.name}" does not open with this engine's key for it: it was damaged, or sealed with another key. Nothing was changed here.`);
    return plain;
  }

  putSealed(rel: string, plain: Buffer, contentType: string): Promise<void> {
    return this.put(rel, this.sealer.seal(plain), this.sealer.encrypted ? 'application/octet-stream' : contentType);
  }

  async exists(rel: string): Promise<boolean> {
    return this.call(`looking for ${rel}`, async () => {
      try {
        await this.s3.send(new HeadObjectCommand({ Bucket: this.remote.bucket, Key: this.key(rel) }), this.opts());
        return true;
      } catch (err) {
        if (err instanceof S3ServiceException && (err.name === 'NotFound' || err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404)) return false;
        throw err;
      }
    });
  }

  async put(rel: string, body: Buffer, contentType = 'application/octet-stream'): Promise<void> {
    if (body.length >= MULTIPART_FROM) return this.putParts(rel, body, contentType);
    await this.call(`writing ${rel}`, () => this.s3.send(new PutObjectCommand({
      Bucket: this.remote.bucket, Key: this.key(rel), Body: body, ContentType: contentType,
    }), this.opts()));
  }

  /** An object in parts, PART_SIZE each, PART_QUEUE at a time. */
  private async putParts(rel: string, body: Buffer, contentType: string): Promise<void> {
    const params = { Bucket: this.remote.bucket, Key: this.key(rel), Body: body, ContentType: contentType };
    await this.call(`writing ${rel}`, async () => {
      const upload = new Upload({ client: this.s3, params, partSize: PART_SIZE, queueSize: PART_QUEUE, leavePartsOnError: false });
      const abort = () => void upload.abort();
      this.signal?.addEventListener('abort', abort);
      try {
        await upload.done();
      } finally {
        this.signal?.removeEventListener('abort', abort);
      }
    });
  }

  /** The names under `rel` (relative to it), every page. */
  async list(rel: string): Promise<string[]> {
    return (await this.listSized(rel)).map((o) => o.name);
  }

  /** The names under `rel` (relative to it) and their sizes in bytes, every page. */
  async listSized(rel: string): Promise<Array<{ name: string; size: number }>> {
    const prefix = this.key(rel);
    const out: Array<{ name: string; size: number }> = [];
    let token: string | undefined;
    do {
      const page = await this.call(`listing ${rel}`, () => this.s3.send(new ListObjectsV2Command({
        Bucket: this.remote.bucket, Prefix: prefix, ContinuationToken: token,
      }), this.opts()));
      for (const o of page.Contents ?? []) if (o.Key) out.push({ name: o.Key.slice(prefix.length), size: o.Size ?? -1 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  destroy(): void {
    this.s3.destroy();
  }

  private opts() {
    return this.signal ? { abortSignal: this.signal } : {};
  }

  private async call<T>(doing: string, fn: () => Promise<T>): Promise<T> {
    if (this.signal?.aborted) throw cancelled();
    try {
      return await fn();
    } catch (err) {
      if (this.signal?.aborted) throw cancelled();
      throw remoteError(this.remote, doing, err);
    }
  }
}

const cancelled = () => new EngineError('Cancelled', 'the transfer was cancelled.');

/** What the remote said, as a user can act on it. */
export function remoteError(r: RemoteRecord, doing: string, err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e.name ?? '';
  const status = e.$metadata?.httpStatusCode;
  const where = `remote "${r.name}" (${remoteUrl(r)}${r.endpoint ? ` at ${r.endpoint}` : ''})`;
  if (name === 'NoSuchBucket') {
    return new EngineError('RemoteFailed', `${where}: the bucket "${r.bucket}" does not exist. Create it, or point the remote elsewhere: slipstream remote remove ${r.name}, then remote add.`);
  }
  if (['QuotaExceeded', 'XMinioStorageFull', 'InsufficientStorage', 'StorageFull'].includes(name) || status === 507
    || /no space|quota|storage full|ENOSPC/i.test(e.message ?? '')) {
    return new EngineError('NoSpace', `${where} is full: it refused to store more while ${doing} (${name || status}). Free space there, then push again: what was uploaded is kept and not sent twice.`);
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message ?? '')) {
    return new EngineError('RemoteFailed', `${where}: the engine has no AWS credentials. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) where the engine starts, then restart it.`);
  }
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken', 'InvalidToken', 'Forbidden'].includes(name)
    || status === 403 || status === 401) {
    return new EngineError('RemoteFailed', `${where} refused the engine's credentials (${name || status}) while ${doing}. `
      + 'The engine reads them from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE and ~/.aws, in its own environment: fix them and restart the engine (slipstream engine stop, then start).');
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT'].includes(e.code ?? name)) {
    return new EngineError('RemoteFailed', `${where} could not be reached while ${doing} (${e.code ?? name}). Check the endpoint and the network, then try again.`);
  }
  return new EngineError('RemoteFailed', `${where} failed while ${doing}: ${name ? `${name}: ` : ''}${e.message ?? String(err)}${status ? ` (HTTP ${status})` : ''}.`);
}
