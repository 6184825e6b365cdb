/**
 * Names made from free text, in one place for the CLI and the extension: a data
 * branch named after a bookmark (`open LINK`, the extension's bookmark links) or
 * after a git branch. Each follows the name rules of names.ts (1–64 characters,
 * no slash, no "..", no control or hidden characters, no leading "-", no
 * surrounding spaces), however it is cut to make room for a suffix; the engine
 * still has the last word.
 */
import { cutName, NAME_MAX, stripHidden } from './names';

/** Makes any text a valid engine name of at most `max` characters, or '' when nothing is left. */
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
 * `text` as a branch name that is not in `taken`: "Bug 1234 data", then
 * "Bug 1234 data-2", "-3"… The name is cut (and trimmed again) to leave room
 * for the suffix, so a cut never leaves a space before it. Text with nothing
 * usable in it becomes `fallback`.
 */
export function freeBranchName(text: string, taken: Iterable<string>, fallback = 'bookmark'): string {
  const used = new Set(taken);
  const base = sanitizeName(text) || fallback;
  if (!used.has(base)) return base;
  for (let i = 2; ; i++) {
    const suffix = `-${i}`;
    const candidate = `${sanitizeName(base, NAME_MAX - suffix.length)}${suffix}`;
    if (!used.has(candidate)) return candidate;
  }
}
