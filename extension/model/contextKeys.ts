/**
 * Every context key the extension sets, and their values. The welcome views,
 * menus and the first-run walkthrough's completion events (package.json) read
 * them; the extension sets them only from what the engine reports, so a step
 * done from a terminal counts as well. No `vscode`: tested under node:test,
 * which also checks that package.json names no other `slipstream.*` key.
 */
import type { ConnectionState } from '../engine/connection';
import type { EngineTarget } from '../engine/target';
import type { WorkspaceSnapshot } from '../workspace';
import type { FirstStepFacts } from '../firstSteps';

export const contextKeys = [
  /** The connection: `connected`, `connecting`, `starting`, `disconnected`. */
  'slipstream.state',
  /** `local` or `remote` (a team engine). */
  'slipstream.engineKind',
  'slipstream.hasTemplates',
  'slipstream.hasContainers',
  'slipstream.hasWorkspaceContainer',
  /** The workspace has a slipstream.json (set by vscode/workspaceSetup.ts). */
  'slipstream.hasWorkspaceConfig',
  /** The user has bookmarked, restored, shared a bookmark: the walkthrough's later steps (firstSteps.ts). */
  'slipstream.hasBookmarked',
  'slipstream.hasRestored',
  'slipstream.hasSharedBookmark',
] as const;

export type ContextKey = typeof contextKeys[number];

/** The keys that follow the engine's state, the workspace's data and the user's first steps. */
export function contextKeyValues(state: ConnectionState, target: EngineTarget, snap: WorkspaceSnapshot,
  steps: FirstStepFacts): Partial<Record<ContextKey, string | boolean>> {
  return {
    'slipstream.state': state.kind,
    'slipstream.engineKind': target.kind,
    'slipstream.hasTemplates': snap.templateCount > 0,
    'slipstream.hasContainers': snap.containers.length > 0,
    'slipstream.hasWorkspaceContainer': Boolean(snap.container),
    'slipstream.hasBookmarked': steps.bookmarked,
    'slipstream.hasRestored': steps.restored,
    'slipstream.hasSharedBookmark': steps.sharedBookmark,
  };
}
