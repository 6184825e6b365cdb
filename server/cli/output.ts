/**
 * Everything the CLI writes: JSON documents, human tables, errors and progress.
 * Results go to stdout; errors and progress go to stderr, so `--json` output
 * and `$(slipstream container url dev)` stay clean.
 */
import type { ClientErrorCode } from '../common/client';
import type { WorkDoneProgress } from '../protocol';

export interface OutStream {
  write(chunk: string): boolean;
}
export interface ErrStream extends OutStream {
  isTTY?: boolean;
  columns?: number;
}
export interface Io {
  stdout: OutStream;
  stderr: ErrStream;
}

/** Codes the CLI adds to the client's: a wrong command line, and features this build lacks. */
export type CliErrorCode = ClientErrorCode | 'Usage' | 'Unsupported' | 'EngineFailed' | 'HookFailed';

export class CliError extends Error {
  constructor(readonly code: CliErrorCode, message: string) {
    super(message);
    this.name = 'CliError';
  }
}

export function writeJson(io: Io, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** With --json: the error document on stdout and one line on stderr; without: the message on stderr. */
export function writeError(io: Io, json: boolean, code: CliErrorCode, message: string): void {
  if (json) writeJson(io, { error: { code, message } });
  io.stderr.write(`slipstream: ${json ? oneLine(message) : message}\n`);
}

export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** Names and notes come from other users; keep terminal control characters out of tables. */
export function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}

export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) => row.map(clean));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const render = (row: readonly string[]) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd();
  return [render(headers), ...cells.map(render)].join('\n');
}

/** A `key  value` block for `show` commands; undefined values are left out. */
export function details(pairs: readonly (readonly [string, string | undefined])[]): string {
  const shown = pairs.filter((p): p is readonly [string, string] => p[1] !== undefined && p[1] !== '');
  const width = Math.max(...shown.map(([k]) => k.length)) + 2;
  return shown.map(([k, v]) => `${k.padEnd(width)}${clean(v)}`).join('\n');
}

/** Local time to the minute: enough to tell events apart at a glance. */
export function shortTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Local time to the second, for the timeline where order within a minute matters. */
export function longTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${shortTime(iso)}:${String(d.getSeconds()).padStart(2, '0')}`;
}

/**
 * Shows `$/progress` on stderr. On a terminal: one line redrawn in place and
 * erased at the end. Elsewhere (CI logs, pipes): one line at begin and one at end,
 * because a redrawn line turns into noise in a log file.
 */
export class ProgressView {
  private title = '';
  private message: string | undefined;
  private percentage: number | undefined;
  private drawn = false;

  constructor(private readonly stderr: ErrStream) {}

  readonly handle = (p: WorkDoneProgress): void => {
    if (p.kind === 'begin') this.title = p.title;
    if (p.message !== undefined) this.message = p.message;
    if (p.kind !== 'end' && p.percentage !== undefined) this.percentage = p.percentage;
    if (this.stderr.isTTY) {
      if (p.kind === 'end') this.finish();
      else this.draw();
    } else if (p.kind === 'begin') {
      this.stderr.write(clean(this.message ? `${this.title}: ${this.message}` : this.title) + '\n');
    } else if (p.kind === 'end') {
      this.stderr.write(clean(`${this.title}: ${p.message ?? 'done'}`) + '\n');
    }
  };

  /** Erases the line; safe to call more than once (e.g. after an error). */
  finish(): void {
    if (!this.drawn) return;
    this.stderr.write('\r\x1b[2K');
    this.drawn = false;
  }

  private draw(): void {
    const pct = this.percentage !== undefined ? ` ${Math.round(this.percentage)}%` : '';
    const text = clean(`${this.title}${this.message ? ': ' + this.message : ''}${pct}`);
    const width = Math.max(10, (this.stderr.columns || 80) - 1); // a pty may report 0 columns
    this.stderr.write('\r\x1b[2K' + (text.length > width ? text.slice(0, width - 1) + '…' : text));
    this.drawn = true;
  }
}
