/**
 * The name rules, in one place for the engine (which has the last word), the
 * CLI and the extension (which make names from git branches and commits).
 * Names of templates, containers, branches, bookmarks, tags and users end up
 * in paths, URLs, terminals, tree labels and other users' screens, so a name
 * must be visible as what it is: no path tricks, nothing invisible, nothing
 * that reorders or hides the text around it.
 */
export const NAME_MAX = 64;

/** Characters that change how text displays without showing themselves. Each
 *  entry says why it is refused; the first that matches is the reason given. */
const HIDDEN: Array<[RegExp, string]> = [
  [/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/u, 'a bidirectional-text control, which can make it display as another name'],
  [/[\u200b-\u200d\u2060\ufeff]/u, 'an invisible zero-width character'],
  [/[\u2028\u2029]/u, 'a line or paragraph separator'],
  [/\p{Cs}/u, 'half of a UTF-16 surrogate pair (not valid Unicode)'],
  [/\ufffd/u, 'U+FFFD, the replacement character (text that was mangled on the way)'],
  [/\p{Cf}/u, 'an invisible formatting character'],
  [/[^\P{Zs} ]/u, 'a space other than the ordinary one, which looks the same'],
];

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `value` cannot name something new, or undefined when it can. */
export function nameProblem(value: string): string | undefined {
  const hidden = value.length <= NAME_MAX && !CONTROL.test(value) ? hiddenProblem(value) : undefined;
  return hidden ?? referenceProblem(value);
}

/**
 * Why `value` cannot even refer to something: the rules every name always had.
 * Names stored before the hidden-character rules (by an older engine) may break
 * those, and must stay reachable, if only to be deleted; a reference that names
 * nothing is simply not found.
 */
export function referenceProblem(value: string): string | undefined {
  if (value.length === 0) return 'it is empty';
  if (value.length > NAME_MAX) return `it is longer than ${NAME_MAX} characters`;
  if (CONTROL.test(value)) return 'it contains a control character';
  if (value.trim() !== value) return 'it starts or ends with a space';
  if (value.includes('/') || value.includes('\\')) return 'it contains a slash';
  if (value.includes('..')) return 'it contains ".."';
  if (value.startsWith('-')) return 'it starts with "-"';
  return undefined;
}

function hiddenProblem(value: string): string | undefined {
  for (const [pattern, why] of HIDDEN) {
    const found = pattern.exec(value);
    if (found) return `it contains ${codePoint(found[0])}, ${why}`;
  }
  return undefined;
}

function codePoint(ch: string): string {
  return `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Removes what nameProblem refuses as hidden, for names made from free text
 *  (commit subjects, git branches): unusual spaces become spaces, the rest goes. */
export function stripHidden(text: string): string {
  return text.replace(/[\u2028\u2029]|[^\P{Zs} ]/gu, ' ')
    .replace(/[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff\ufffd]|\p{Cs}|\p{Cf}/gu, '');
}

/** The first `max` UTF-16 units of `text`, never cutting a surrogate pair in half. */
export function cutName(text: string, max: number): string {
  if (text.length <= max) return text;
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/**
 * What a user name reads as: its NFKC form (fullwidth `ＱＡ` becomes `QA`),
 * case-folded (`QA` becomes `qa`). Two user names with the same key are too
 * alike to tell apart on a timeline or in an owner column, so the second is
 * refused. JavaScript has no full case fold; upper- then lower-casing gets
 * the common ones (`ß`/`SS`, `ς`/`σ`) as well.
 */
export function userNameKey(name: string): string {
  return name.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
}
