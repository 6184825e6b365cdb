/**
 * Point-in-time commands: restore a container's active branch, or branch, as of a moment. The
 * timeline webview passes the container and the moment the user picked; from the palette they
 * are asked for. The engine decides what can be restored and says why not.
 */
import { MOMENT_FORMS, parseMoment } from '../../server/common/moments';
import { BranchCreateRequest, RestoreToMomentRequest, type BranchInfo, type MomentRestored } from '../../server/protocol';
import type { ItemRef } from '../model/refs';
import { answered, containerOf, withEngineProgress } from './pickers';
import { suggestBranchName } from './branches';
import type { Session } from './session';

/** What the timeline webview hands these commands. */
export interface MomentArg {
  container: string;
  at: string;
  /** The branch whose history it is; the active one without it. */
  branch?: string;
}

export function isMomentArg(arg: unknown): arg is MomentArg {
  const a = arg as Partial<MomentArg> | undefined;
  return typeof a === 'object' && a !== null && typeof a.container === 'string' && typeof a.at === 'string'
    && (a.branch === undefined || typeof a.branch === 'string');
}

async function momentOf(s: Session, ref: ItemRef | undefined, arg: unknown, doing: string): Promise<MomentArg> {
  if (isMomentArg(arg)) return arg;
  const c = await containerOf(s, ref, `${doing}: which container?`);
  const at = answered(await s.ui.input({ title: `${doing} of ${c.container}`, prompt: `The moment: ${MOMENT_FORMS}`, value: '-5m', required: true }));
  return { container: c.container, at };
}

/** The moment, refused here if malformed (the engine would too). */
function dateOf(at: string): Date {
  const parsed = parseMoment(at, Date.now());
  if ('problem' in parsed) throw new Error(parsed.problem);
  return new Date(parsed.moment);
}

export async function restoreToMoment(s: Session, ref?: ItemRef, arg?: unknown): Promise<MomentRestored | undefined> {
  const m = await momentOf(s, ref, arg, 'Restore to a moment');
  const when = dateOf(m.at).toLocaleString();
  const ok = await s.ui.confirm(`Restore ${m.container} to ${when}?`,
    'The active branch is rebuilt as it was then, from its archived WAL; every change made since is discarded (its history stays restorable).',
    'Restore');
  if (!ok) return undefined;
  const r = await withEngineProgress(s, `Restoring ${m.container} to ${when}`,
    (opts) => s.engine.request(RestoreToMomentRequest.type, { container: m.container, at: m.at }, opts));
  s.ui.info(`Branch ${r.branch.name} of ${m.container} is restored to ${new Date(r.moment).toLocaleString()}.`);
  return r;
}

export async function branchFromMoment(s: Session, ref?: ItemRef, arg?: unknown): Promise<BranchInfo> {
  const m = await momentOf(s, ref, arg, 'Branch from a moment');
  const date = dateOf(m.at);
  const when = date.toLocaleString();
  const name = answered(await s.ui.input({
    title: `Branch from ${m.branch ?? 'the active branch'} as of ${when}`,
    prompt: `New branch in ${m.container}; it is activated (same port)`,
    value: suggestBranchName(`at ${date.toTimeString().slice(0, 8).replace(/:/g, '')}`),
    required: true,
  }));
  const b = await withEngineProgress(s, `Branching ${name} as of ${when}`, (opts) => s.engine.request(BranchCreateRequest.type, {
    container: m.container, name, from: { kind: 'moment', at: m.at, ...(m.branch ? { branch: m.branch } : {}) }, activate: true,
  }, opts));
  s.ui.info(`Branch ${b.name} of ${m.container} holds the data as of ${when}, and is active.`);
  return b;
}
