import { Transform, type TransformCallback } from 'stream';

/** The largest JSON-RPC message the engine reads. Real requests are a few KiB. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
const MAX_HEADER_BYTES = 8 * 1024;
const END = Buffer.from('\r\n\r\n');

/**
 * Sits between a socket and the JSON-RPC reader and checks the framing before
 * the reader buffers anything: a header block that is too long, has no
 * Content-Length, or announces more than MAX_MESSAGE_BYTES fails the stream,
 * so a hostile client cannot make the engine hold a huge message in memory.
 */
export class FrameGuard extends Transform {
  private header = Buffer.alloc(0);
  private bodyLeft = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.check(chunk);
    } catch (err) {
      return done(err as Error);
    }
    done(null, chunk);
  }

  private check(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - offset);
        this.bodyLeft -= n;
        offset += n;
        continue;
      }
      offset = this.readHeader(chunk, offset);
    }
  }

  /** Consume header bytes from `offset`; returns where the header (or the chunk) ends. */
  private readHeader(chunk: Buffer, offset: number): number {
    const before = this.header.length;
    this.header = Buffer.concat([this.header, chunk.subarray(offset)]);
    const end = this.header.indexOf(END);
    if (end < 0) {
      if (this.header.length > MAX_HEADER_BYTES) throw new Error('message header too long');
      return chunk.length;
    }
    this.bodyLeft = contentLength(this.header.subarray(0, end).toString('ascii'));
    this.header = Buffer.alloc(0);
    return offset + (end + END.length - before);
  }
}

/** The JSON-RPC reader takes the last Content-Length it sees; a header block with
 *  two could announce a small message here and a huge one there, so it is refused. */
function contentLength(header: string): number {
  const lengths = header.split('\r\n')
    .map((line) => /^content-length\s*:\s*(.*)$/i.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => m[1].trim());
  if (lengths.length === 0) throw new Error('message without Content-Length');
  if (lengths.length > 1) throw new Error('message with more than one Content-Length');
  const length = /^\d+$/.test(lengths[0]) ? Number(lengths[0]) : NaN;
  if (!Number.isSafeInteger(length) || length > MAX_MESSAGE_BYTES) {
    throw new Error(`message of ${lengths[0]} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`);
  }
  return length;
}
