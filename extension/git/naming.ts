import { cutName, NAME_MAX, stripHidden } from '../../server/common/names';

/**
 * Names the git link makes: a data branch name from a git branch name, and a
 * bookmark name from a commit. Both follow the engine's name rules
 * (server/common/names.ts: 1–64 characters, no slash, no "..", no control or
 * hidden characters, no leading "-", no surrounding spaces); the engine still
 * has the last word.
 */

/** Makes any text a valid engine name, or '' when nothing is left. */
export function sanitizeName(text: string, max = NAME_MAX): string {
  let s = stripHidden(text)
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .replace(/[/\\]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^-+/, '')
    .trim();
  if (s.length > max) s = cutName(s, max).trim(); // an emoji cut in half would be a lone surrogate
  // Cutting can leave a trailing '.' next to an earlier '.', never '..': the collapse ran first.
  return s;
}

/**
 * The data branch that follows git branch `gitBranch`: `feature/x` → `feature-x`.
 * When that name is taken (by a branch linked to another git branch), `-2`, `-3`… is added.
 */
export function dataBranchName(gitBranch: string, taken: Iterable<string> = []): string {
  const used = new Set(taken);
  const base = sanitizeName(gitBranch) || 'git-branch';
  if (!used.has(base)) return base;
  for (let i = 2; ; i++) {
    const suffix = `-${i}`;
    const candidate = `${sanitizeName(base, NAME_MAX - suffix.length)}${suffix}`;
    if (!used.has(candidate)) return candidate;
  }
}

/** The bookmark taken after a commit: `1a2b3c4 Fix the order total` (short sha, then the subject). */
export function commitBookmarkName(commit: string, message: string): string {
  const short = commit.slice(0, 7);
  const subject = sanitizeName((message.split('\n')[0] ?? '').trim(), NAME_MAX - short.length - 1);
  return subject ? `${short} ${subject}` : short;
}

/** The tag every bookmark made on commit carries, so a later checkout of that commit finds it. */
export const COMMIT_TAG = 'git-commit';
