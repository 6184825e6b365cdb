/**
 * A Ui that answers from a script, so command logic runs under node:test
 * against a real engine. It stands in for the person, not for the engine.
 */
import type { WorkDoneProgress } from '../../server/protocol';
import type { InputOptions, ProgressTask, Ui } from '../../extension/commands/ui';
import type { PickItem } from '../../extension/model/picks';

/** An answer: a pick chooses the first item whose label contains the string (or a predicate matches); undefined dismisses. */
export type Answer = string | boolean | undefined | ((items: Array<PickItem<unknown>>) => PickItem<unknown> | undefined) | string[];

export class ScriptedUi implements Ui {
  readonly infos: string[] = [];
  readonly errors: string[] = [];
  readonly copied: string[] = [];
  readonly terminals: Array<{ name: string; env: Record<string, string> }> = [];
  readonly progress: Array<{ title: string; reports: WorkDoneProgress[] }> = [];
  readonly asked: string[] = [];
  private answers: Answer[] = [];

  /** Queue answers for the next questions, in order. */
  answer(...answers: Answer[]): this {
    this.answers.push(...answers);
    return this;
  }

  get pending(): number {
    return this.answers.length;
  }

  private next(question: string): Answer {
    this.asked.push(question);
    if (this.answers.length === 0) throw new Error(`unexpected question: ${question}`);
    return this.answers.shift();
  }

  async pick<T>(items: Array<PickItem<T>>, opts: { title: string }): Promise<T | undefined> {
    const a = this.next(`pick: ${opts.title} [${items.map((i) => i.label).join(' | ')}]`);
    if (a === undefined) return undefined;
    const chosen = typeof a === 'function'
      ? a(items as Array<PickItem<unknown>>) as PickItem<T> | undefined
      : items.find((i) => i.label.includes(String(a)));
    if (!chosen) throw new Error(`no item matches ${String(a)} in ${opts.title}: ${items.map((i) => i.label).join(', ')}`);
    return chosen.value;
  }

  async input(opts: InputOptions): Promise<string | undefined> {
    const a = this.next(`input: ${opts.title}: ${opts.prompt}`);
    return a === undefined ? undefined : String(a);
  }

  async confirm(message: string): Promise<boolean> {
    return this.next(`confirm: ${message}`) === true;
  }

  /** Modal questions need a scripted answer; a notification nobody answered resolves undefined, as an ignored one does. */
  async choose(message: string, buttons: string[], opts: { modal?: boolean } = {}): Promise<string | undefined> {
    const question = `choose: ${message} [${buttons.join(' | ')}]`;
    if (!opts.modal && this.answers.length === 0) {
      this.asked.push(question);
      return undefined;
    }
    const a = this.next(question);
    if (a === undefined || a === false) return undefined;
    const chosen = buttons.find((b) => b.includes(String(a)));
    if (!chosen) throw new Error(`no button matches ${String(a)} in "${message}": ${buttons.join(', ')}`);
    return chosen;
  }

  async pickFiles(opts: { title: string }): Promise<string[] | undefined> {
    const a = this.next(`files: ${opts.title}`);
    return Array.isArray(a) ? a : undefined;
  }

  async withProgress<R>(title: string, _cancellable: boolean, task: ProgressTask<R>): Promise<R> {
    const entry = { title, reports: [] as WorkDoneProgress[] };
    this.progress.push(entry);
    return task((p) => entry.reports.push(p), new AbortController().signal);
  }

  info(message: string): void { this.infos.push(message); }
  error(message: string): void { this.errors.push(message); }
  async copy(text: string): Promise<void> { this.copied.push(text); }
  openTerminal(name: string, env: Record<string, string>): void { this.terminals.push({ name, env }); }
}
