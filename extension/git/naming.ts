import { freeBranchName, sanitizeName } from '../../server/common/freeNames';
import { NAME_MAX } from '../../server/common/names';

/**
 * Names the git link makes: a data branch name from a git branch name, and a
 * bookmark name from a commit. Both follow the engine's name rules
 * (server/common/names.ts: 1–64 characters, no slash, no "..", no control or
 * hidden characters, no leading "-", no surrounding spaces); the engine still
 * has the last word.
 */

/**
 * The data branch that follows git branch `gitBranch`: `feature/x` → `feature-x`.
 * When that name is taken (by a branch linked to another git branch), `-2`, `-3`… is added.
 */
export function dataBranchName(gitBranch: string, taken: Iterable<string> = []): string {
  return freeBranchName(gitBranch, taken, 'git-branch');
}

/** The bookmark taken after a commit: `1a2b3c4 Fix the order total` (short sha, then the subject). */
export function commitBookmarkName(commit: string, message: string): string {
  const short = commit.slice(0, 7);
  const subject = sanitizeName((message.split('\n')[0] ?? '').trim(), NAME_MAX - short.length - 1);
  return subject ? `${short} ${subject}` : short;
}

/** The tag every bookmark made on commit carries, so a later checkout of that commit finds it. */
export const COMMIT_TAG = 'git-commit';
