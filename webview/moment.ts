/**
 * The time selector: a moment of a branch's history, typed or picked by clicking an event, and
 * what can be done with it ("Restore to this moment", "Branch from this moment"). It shows the
 * ranges the branch can be restored to and the events just before and after the moment, so the
 * user sees what they would get. The engine still decides; this only refuses what it knows the
 * engine would (a moment outside every range).
 */
import { el } from './dom';
import { fromLocalInput, localInput } from './localTime';
import type { FromWebview, TimelineModel, TimelineRestorable, TimelineRow } from './protocol';

export interface MomentChoice {
  /** ISO, UTC. */
  at: string;
  branch: string;
}

export function rangesOf(m: TimelineModel, branch: string): TimelineRestorable['ranges'] {
  return m.restorable.find((r) => r.branch === branch)?.ranges ?? [];
}

/** The lanes whose branch can be restored to the moment `at`. */
export function restorableLanes(m: TimelineModel, at: string): number[] {
  return m.restorable.filter((r) => r.ranges.some((x) => x.from <= at && at <= x.to)).map((r) => r.lane);
}

const time = (iso: string) => new Date(iso).toLocaleString();

export function momentPanel(m: TimelineModel, choice: MomentChoice, post: (msg: FromWebview) => void,
  choose: (next: MomentChoice) => void): HTMLElement {
  const ranges = rangesOf(m, choice.branch);
  const inside = ranges.some((r) => r.from <= choice.at && choice.at <= r.to);
  const active = choice.branch === m.activeBranch;
  const section = el('section', { id: 'moment', 'aria-label': 'Restore or branch from a moment' });
  section.append(el('h2', {}, 'A moment of the history'));

  const branch = el('select', { id: 'moment-branch', 'aria-label': 'Branch' },
    ...m.restorable.map((r) => el('option', { value: r.branch, selected: r.branch === choice.branch }, r.branch)));
  branch.addEventListener('change', () => choose({ ...choice, branch: branch.value }));
  const input = el('input', { id: 'moment-at', type: 'datetime-local', step: 1, 'aria-label': 'Moment (your time zone)', value: localInput(choice.at) });
  input.addEventListener('change', () => {
    const at = fromLocalInput(input.value);
    if (at) choose({ ...choice, at });
  });
  section.append(el('div', { class: 'moment-pick' }, el('label', {}, 'Branch ', branch), el('label', {}, 'Moment ', input)));

  section.append(el('p', { class: 'hint', id: 'moment-ranges' }, ranges.length
    ? `Can be restored to: ${ranges.map((r) => `${time(r.from)} – ${time(r.to)}`).join('; ')}`
    : `Branch ${choice.branch} has no moment that can be restored yet (from its next bookmark or capture on).`));
  section.append(around(m, choice));

  const buttons: HTMLElement[] = [];
  if (active) buttons.push(button('restore', 'Restore to this moment', `Rebuild ${m.container}'s active branch as it was at this moment`, 'primary'));
  buttons.push(button('branch', 'Branch from this moment', `Create a branch from ${choice.branch} as it was at this moment, and activate it`, active ? 'secondary' : 'primary'));
  if (!inside) section.append(el('p', { class: 'banner', role: 'status' }, 'This moment is outside what can be restored.'));
  section.append(el('div', { class: 'actions', role: 'group', 'aria-label': 'Moment actions' }, ...buttons));
  return section;

  function button(action: 'restore' | 'branch', label: string, title: string, cls: string): HTMLElement {
    const b = el('button', { class: cls, title, id: `moment-${action}`, disabled: !inside }, label);
    b.addEventListener('click', () => post({ type: 'moment', action, at: choice.at, branch: choice.branch }));
    return b;
  }
}

/** The events (and bookmarks) just before and just after the moment, on any branch. */
function around(m: TimelineModel, choice: MomentChoice): HTMLElement {
  const before = m.rows.find((r) => r.at <= choice.at);
  const after = [...m.rows].reverse().find((r) => r.at > choice.at);
  const line = (label: string, r: TimelineRow | undefined) =>
    el('li', {}, `${label}: `, r ? `${r.title} (${r.branch}, ${time(r.at)})` : 'nothing shown');
  return el('ul', { class: 'around', 'aria-label': 'Events around the moment' }, line('Before', before), line('After', after));
}
