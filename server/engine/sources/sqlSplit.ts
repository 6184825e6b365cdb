/**
 * Cuts a stream of SQL lines into statements the way psql does (psqlscan.l):
 * a `;` ends a statement only outside quotes, comments, dollar quotes,
 * parentheses and `BEGIN ATOMIC ... END` function bodies.
 *
 * Why split at all, when the server can parse a multi-statement string? A
 * multi-statement simple query runs as one implicit transaction, so files that
 * work with `psql -f` would fail here: VACUUM, CREATE INDEX CONCURRENTLY,
 * CREATE DATABASE and ALTER SYSTEM refuse to run in a transaction block, and
 * an enum value added by ALTER TYPE ... ADD VALUE cannot be used in the same
 * transaction. Sending one statement at a time gives psql's semantics, keeps
 * memory bounded for multi-gigabyte `pg_dump --inserts` files, and tells the
 * loader exactly where a COPY ... FROM stdin begins.
 *
 * Known gap: with `standard_conforming_strings = off`, psql treats a backslash
 * in an ordinary '...' string as an escape; we do not (pg_dump has written
 * `standard_conforming_strings = on` since PostgreSQL 9.1 and doubles quotes
 * rather than escaping them, so dumps are unaffected).
 */

export interface Statement {
  /** The text to send, from the end of the previous statement through the `;`. */
  text: string;
  /** The file line on which `text` begins (1-based). */
  startLine: number;
  /** The file line of the statement's first token, after leading comments. */
  firstLine: number;
  /** `text` without leading whitespace and comments, for recognising COPY and SET. */
  body: string;
}

type State = 'normal' | 'quote' | 'escapeQuote' | 'ident' | 'dollar' | 'comment';

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_WORD = /[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/y;
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;

export class StatementSplitter {
  private parts: string[] = [];
  private startLine = 0;
  private firstLine = 0;
  private bodyStart = -1; // offset of the first token within the joined parts
  private length = 0;
  private lineFrom = 0; // offset in the current line of the text not yet appended
  private state: State = 'normal';
  private dollarTag = '';
  private commentDepth = 0;
  private parenDepth = 0;
  private beginDepth = 0;
  private words = 0;
  private signature = ''; // first letters of CREATE/OR/REPLACE/FUNCTION/PROCEDURE among the first words

  /** True when no statement has started and we are outside any quote or comment:
   *  the only place where a psql meta-command line or end of input is harmless. */
  get idle(): boolean {
    return this.state === 'normal' && this.bodyStart < 0;
  }

  /** True outside quotes and comments, where a line starting with `\` is a psql meta-command. */
  get outsideQuotes(): boolean {
    return this.state === 'normal';
  }

  /** Feed one line (without its line ending); returns the statements it completed. */
  push(line: string, lineNo: number): Statement[] {
    if (this.length === 0) this.startLine = lineNo;
    const done: Statement[] = [];
    this.lineFrom = 0;
    let i = 0;
    while (i < line.length) {
      const next = this.step(line, i, lineNo);
      if (next >= 0) { i = next; continue; }
      // a statement ended at the `;` at position i
      this.append(line.slice(this.lineFrom, i + 1));
      done.push(this.take());
      this.startLine = lineNo;
      this.lineFrom = ++i;
    }
    this.append(line.slice(this.lineFrom) + '\n');
    return done;
  }

  /** End of input: the unterminated last statement, if it has any content. */
  end(): Statement | undefined {
    return this.bodyStart >= 0 ? this.take() : undefined;
  }

  /** Where the input ended, when it ended inside a quote or comment (for the error message). */
  get openConstruct(): string | undefined {
    switch (this.state) {
      case 'quote': case 'escapeQuote': return 'a quoted string';
      case 'ident': return 'a double-quoted identifier';
      case 'dollar': return `a ${this.dollarTag}-quoted string`;
      case 'comment': return 'a /* comment */';
      default: return undefined;
    }
  }

  /** Scan from i; return the next position, or -1 when position i is a statement-ending `;`. */
  private step(line: string, i: number, lineNo: number): number {
    switch (this.state) {
      case 'quote': return this.closeQuote(line, i, "'", false);
      case 'escapeQuote': return this.closeQuote(line, i, "'", true);
      case 'ident': return this.closeQuote(line, i, '"', false);
      case 'dollar': return this.closeDollar(line, i);
      case 'comment': return this.inComment(line, i);
      default: return this.normal(line, i, lineNo);
    }
  }

  private normal(line: string, i: number, lineNo: number): number {
    const c = line[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f') return i + 1;
    if (c === '-' && line[i + 1] === '-') return line.length; // line comment
    if (c === '/' && line[i + 1] === '*') {
      this.state = 'comment';
      this.commentDepth = 1;
      return i + 2;
    }
    this.markContent(i, lineNo);
    if (c === ';' && this.parenDepth === 0 && this.beginDepth === 0) return -1;
    if (c === '(') this.parenDepth++;
    else if (c === ')') this.parenDepth = Math.max(0, this.parenDepth - 1);
    else if (c === "'") this.state = isEscapePrefix(line, i) ? 'escapeQuote' : 'quote';
    else if (c === '"') this.state = 'ident';
    else if (c === '$') return this.openDollar(line, i);
    else if (IDENT_START.test(c)) return this.word(line, i);
    return i + 1;
  }

  private closeQuote(line: string, i: number, q: string, backslashEscapes: boolean): number {
    for (let j = i; j < line.length; j++) {
      const c = line[j];
      if (backslashEscapes && c === '\\') { j++; continue; }
      if (c !== q) continue;
      if (line[j + 1] === q) { j++; continue; } // doubled quote
      this.state = 'normal';
      return j + 1;
    }
    return line.length;
  }

  private openDollar(line: string, i: number): number {
    DOLLAR_TAG.lastIndex = i;
    const m = DOLLAR_TAG.exec(line);
    if (!m) return i + 1; // a parameter such as $1
    this.state = 'dollar';
    this.dollarTag = m[0];
    return i + m[0].length;
  }

  private closeDollar(line: string, i: number): number {
    const at = line.indexOf(this.dollarTag, i);
    if (at < 0) return line.length;
    this.state = 'normal';
    return at + this.dollarTag.length;
  }

  private inComment(line: string, i: number): number {
    const open = line.indexOf('/*', i);
    const close = line.indexOf('*/', i);
    if (close < 0 && open < 0) return line.length;
    if (open >= 0 && (close < 0 || open < close)) {
      this.commentDepth++; // PostgreSQL block comments nest
      return open + 2;
    }
    if (--this.commentDepth === 0) this.state = 'normal';
    return close + 2;
  }

  /** An unquoted word. Identifiers may contain `$`, so `a$b$` is not a dollar quote. */
  private word(line: string, i: number): number {
    IDENT_WORD.lastIndex = i;
    const w = IDENT_WORD.exec(line)![0];
    this.trackFunctionBody(w.toLowerCase());
    return i + w.length;
  }

  /** psql's heuristic: inside CREATE [OR REPLACE] FUNCTION|PROCEDURE, count BEGIN (and CASE
   *  within it) against END, so the `;`s of a `BEGIN ATOMIC ... END` body do not end it. */
  private trackFunctionBody(w: string): void {
    if (this.words < 4) {
      this.signature += ['create', 'or', 'replace', 'function', 'procedure'].includes(w) ? w[0] : '-';
    }
    this.words++;
    const s = this.signature;
    const isFunction = /^c(f|p|or(f|p))/.test(s);
    if (!isFunction || this.parenDepth > 0) return;
    if (w === 'begin') this.beginDepth++;
    else if (w === 'case' && this.beginDepth > 0) this.beginDepth++;
    else if (w === 'end' && this.beginDepth > 0) this.beginDepth--;
  }

  private markContent(i: number, lineNo: number): void {
    if (this.bodyStart >= 0) return;
    this.bodyStart = this.length + (i - this.lineFrom);
    this.firstLine = lineNo;
  }

  private append(s: string): void {
    this.parts.push(s);
    this.length += s.length;
  }

  private take(): Statement {
    const text = this.parts.join('');
    const st: Statement = { text, startLine: this.startLine, firstLine: this.firstLine, body: text.slice(this.bodyStart) };
    this.parts = [];
    this.length = 0;
    this.bodyStart = -1;
    this.parenDepth = 0;
    this.beginDepth = 0;
    this.words = 0;
    this.signature = '';
    return st;
  }
}

/** E'...' (and e'...') strings take backslash escapes; `namE'x'` is not one. */
function isEscapePrefix(line: string, i: number): boolean {
  const p = line[i - 1];
  if (p !== 'E' && p !== 'e') return false;
  return i < 2 || !/[A-Za-z0-9_$\u0080-\uffff]/.test(line[i - 2]);
}
