/** The sql source: SQL files run in order, each in a session of its own. */
import * as fs from 'fs';
import * as path from 'path';
import type { SourceContext } from './index';
import { loadSqlStream } from './sqlStream';
import { byteProgress, invalid, readableFile } from './tools';

export async function loadSql(files: string[], ctx: SourceContext): Promise<void> {
  const sizes = await Promise.all(files.map(async (f) => (await fs.promises.stat(f)).size));
  const total = sizes.reduce((a, b) => a + b, 0);
  let before = 0;
  for (const [i, file] of files.entries()) {
    const name = path.basename(file);
    const report = byteProgress(ctx, `running ${name}`, total);
    const input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    // A fresh session per file, so a file's SET search_path (as pg_dump writes) does
    // not leak into the next file, as if each were run with its own psql -f.
    await loadSqlStream(input, {
      target: ctx.target, name, signal: ctx.signal,
      fix: 'Fix the file and run the command again.',
      onChunk: () => report(before + input.bytesRead),
    });
    before += sizes[i];
  }
}

export async function validateSql(files: unknown): Promise<void> {
  if (!Array.isArray(files) || files.length === 0) throw invalid('a sql source needs at least one SQL file.');
  for (const f of files) await readableFile(f, 'SQL file');
}
