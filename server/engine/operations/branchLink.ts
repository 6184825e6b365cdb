import { BranchLinkRequest, BranchUnlinkRequest, type BranchLinkParams, type BranchParams } from '../../protocol';
import type { OpContext } from '../engine';
import { EngineError } from '../errors';
import { findBranch, findContainer } from '../lookup';
import type { BranchRecord } from '../records';
import { branchInfo } from '../views';
import { containerRef, existingName, object, str } from '../validate';
import { operation } from './operation';

/** Git branch names: what `git check-ref-format --branch` would take, roughly, and short. */
function gitBranchName(value: string): string {
  if (!value || value.length > 255 || /[\u0000-\u0020\u007f~^:?*[\\]|\.\.|@\{|^[-/]|\/$|\.lock$|^\.|\/\./.test(value)) {
    throw new EngineError('InvalidName', `"${value}" is not a git branch name.`);
  }
  return value;
}

/** branch link NAME --git-branch X --container C: one data branch per git branch in a container. */
export const branchLink = operation(BranchLinkRequest.type, (raw): BranchLinkParams => {
  const o = object(raw);
  return { container: containerRef(o, 'container'), name: existingName(o, 'name', 'branch'), gitBranch: gitBranchName(str(o, 'gitBranch', 255)) };
}, async ({ engine, caller }: OpContext, p: BranchLinkParams) => {
  const c = findContainer(engine, caller, p.container);
  const b = findBranch(engine, c, p.name);
  const other = engine.store.branchesOf(c.id).find((x) => x.gitBranch === p.gitBranch && x.id !== b.id);
  if (other) {
    throw new EngineError('InUse', `git branch "${p.gitBranch}" is already linked to data branch "${other.name}". Unlink it first: slipstream branch unlink ${other.name} --container ${c.name}`);
  }
  return relink(engine, caller.name, c.id, b, p.gitBranch);
});

/** branch unlink NAME --container C */
export const branchUnlink = operation(BranchUnlinkRequest.type, (raw): BranchParams => {
  const o = object(raw);
  return { container: containerRef(o, 'container'), name: existingName(o, 'name', 'branch') };
}, async ({ engine, caller }: OpContext, p: BranchParams) => {
  const c = findContainer(engine, caller, p.container);
  return relink(engine, caller.name, c.id, findBranch(engine, c, p.name), undefined);
});

function relink(engine: OpContext['engine'], user: string, containerId: string, b: BranchRecord, gitBranch: string | undefined) {
  const c = engine.store.container(containerId)!;
  const event = engine.store.tx(() => {
    const current = engine.store.branch(b.id)!;
    const { gitBranch: _old, ...rest } = current;
    engine.store.putBranch(gitBranch ? { ...rest, gitBranch } : rest);
    return engine.appendEvent(c, user, gitBranch ? 'branch-linked' : 'branch-unlinked', b.name,
      { detail: gitBranch ? `git branch ${gitBranch}` : `was git branch ${b.gitBranch ?? '(none)'}` });
  });
  engine.notify('branch', c, event);
  return branchInfo(engine.store, engine.store.branch(b.id)!);
}
