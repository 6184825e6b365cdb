/**
 * The timeline webview. It renders what the panel posts (protocol.ts) and
 * posts back what the user asks; it holds no data of its own beyond the last
 * model. Plain themed HTML and SVG, styled only with VS Code's theme variables
 * (media/timeline.css), so light, dark and high-contrast themes all work.
 *
 * Keyboard: the event list is one tab stop; ↑/↓/Home/End/PageUp/PageDown move,
 * Enter or Space opens a bookmark's details, whose action buttons follow in
 * tab order, or on any other event picks its moment in the time selector
 * (moment.ts), whose moment field takes the focus; Escape goes back to the list; "/" focuses the filter. "Load older
 * events" follows the list in tab order; once the page is in, focus moves to
 * its first row.
 */
import { el } from './dom';
import { graphWidth, laneClass, rowGraph } from './graph';
import { momentPanel, restorableLanes, type MomentChoice } from './moment';
import { isToWebview, type BookmarkAction, type ToWebview, type TimelineBookmark, type TimelineModel, type TimelineRow } from './protocol';
import { vscodeApi } from './vscodeApi';

interface State {
  selected?: string;
  /** The moment picked in the time selector, shown when no bookmark is selected. */
  moment?: MomentChoice;
  filter?: string;
  /** Kept so that VS Code can hand the panel back to the extension after a window reload. */
  container?: string;
}

const api = vscodeApi<State>();
let model: TimelineModel | undefined;
let status: { connected: boolean; message?: string } = { connected: true };
let state: State = api.getState() ?? {};
let focusedSeq: number | undefined;
/** Set from a "Load older events" click until its answer arrives (olderArrived): the seq
 *  of the oldest row shown then, and whether the control had the focus. */
let loadingOlder: { below: number; focused: boolean } | undefined;

const app = document.getElementById('app')!;

window.addEventListener('message', (e: MessageEvent<unknown>) => {
  const msg = e.data;
  if (!isToWebview(msg)) return;
  const loaded = loadingOlder && olderArrived(msg, loadingOlder.below) ? loadingOlder : undefined;
  if (loaded) loadingOlder = undefined;
  if (msg.type === 'model') {
    model = msg.model;
    if (state.container !== model.container) save({ container: model.container, selected: undefined, moment: undefined });
  } else status = { connected: msg.connected, message: msg.message };
  render();
  if (loaded?.focused && msg.type === 'model') focusFirstOlder(loaded.below);
});

/** Is this the answer to "Load older events"? Live updates may post models before it comes. */
function olderArrived(msg: ToWebview, below: number): boolean {
  if (msg.type === 'status') return msg.message !== undefined; // it failed, and says why
  const m = msg.model;
  return m.container !== model?.container || !m.older || m.rows.some((r) => r.seq < below);
}

document.addEventListener('keydown', (e) => {
  if (e.key === '/' && !(e.target instanceof HTMLInputElement)) {
    e.preventDefault();
    document.getElementById('filter')?.focus();
  }
});

// The handshake: the panel posts nothing until it hears this.
api.postMessage({ type: 'ready' });

function save(next: Partial<State>): void {
  state = { ...state, ...next };
  api.setState(state);
}

function render(): void {
  const activeId = document.activeElement?.id;
  app.replaceChildren();
  if (!model) {
    app.append(el('p', { class: 'empty' }, status.message ?? 'Loading the timeline…'));
    return;
  }
  app.append(header(model));
  if (status.message) app.append(el('p', { class: 'banner', role: 'status' }, status.message));
  app.append(el('div', { class: 'body' }, el('div', { class: 'events' }, list(model), olderControl(model)), details(model)));
  // Re-rendering on every engine change must not steal the user's place.
  if (activeId) document.getElementById(activeId)?.focus();
}

function header(m: TimelineModel): HTMLElement {
  const filter = el('input', {
    id: 'filter', type: 'search', placeholder: 'Filter events (/)', 'aria-label': 'Filter events', value: state.filter ?? '',
  });
  filter.addEventListener('input', () => {
    save({ filter: filter.value });
    renderList();
  });
  const pick = el('button', { class: 'secondary', title: 'Show another container' }, 'Container…');
  pick.addEventListener('click', () => api.postMessage({ type: 'pickContainer' }));
  const legend = el('ul', { class: 'legend', 'aria-label': 'Branches' },
    ...m.lanes.map((l) => el('li', { class: `chip ${laneClass(l.index)}${l.active ? ' active' : ''}${l.deleted ? ' deleted' : ''}` },
      el('span', { class: 'swatch', 'aria-hidden': 'true' }), `${l.branch}${l.active ? ' (active)' : l.deleted ? ' (deleted)' : ''}`)));
  return el('header', {},
    el('div', { class: 'title' },
      el('h1', {}, `Timeline · ${m.container}`),
      el('span', { class: 'meta' }, `template ${m.template} · port ${m.port} · ${m.rows.length} events${m.older ? ' (the latest; older ones below)' : ''}`),
      el('span', { class: 'spacer' }), filter, pick),
    legend);
}

function visibleRows(m: TimelineModel): TimelineRow[] {
  const q = (state.filter ?? '').trim().toLowerCase();
  if (!q) return m.rows;
  return m.rows.filter((r) => [r.title, r.branch, r.user, r.detail ?? '', r.kind].some((t) => t.toLowerCase().includes(q)));
}

function list(m: TimelineModel): HTMLElement {
  const ol = el('ol', { id: 'events', role: 'listbox', 'aria-label': `Events of ${m.container}, newest first`, tabindex: -1 });
  fillList(ol, m);
  ol.addEventListener('keydown', (e) => onListKey(e, ol));
  return ol;
}

function renderList(): void {
  const ol = document.getElementById('events');
  if (ol && model) fillList(ol, model);
}

function fillList(ol: HTMLElement, m: TimelineModel): void {
  ol.replaceChildren();
  const activeLane = m.lanes.find((l) => l.active)?.index ?? 0;
  const laneCount = m.lanes.length;
  const liveNow = m.lanes.filter((l) => !l.deleted).map((l) => l.index);
  const nowRow = el('li', { class: 'row now', role: 'presentation' },
    rowGraph(undefined, liveNow, laneCount, activeLane, { now: true, top: true, restorable: restorableLanes(m, m.generatedAt) }),
    el('span', { class: 'when' }, 'now'),
    el('span', { class: 'what' }, `Active branch ${m.activeBranch}`));
  ol.append(nowRow);
  const rows = visibleRows(m);
  if (rows.length === 0) ol.append(el('li', { class: 'empty', role: 'presentation' }, 'No events match.'));
  if (focusedSeq === undefined || !rows.some((r) => r.seq === focusedSeq)) focusedSeq = rows[0]?.seq;
  // With older events still to load, the lanes run on past the last row.
  rows.forEach((r, i) => ol.append(rowItem(m, r, laneCount, activeLane, i === rows.length - 1 && !m.older)));
  ol.style.setProperty('--graph-width', `${graphWidth(laneCount)}px`);
}

/** "Load older events": asks the panel for the next page; absent once the oldest event is shown. */
function olderControl(m: TimelineModel): HTMLElement | undefined {
  if (!m.older) return undefined;
  const button = el('button', {
    id: 'load-older', class: 'secondary older', title: 'Show the next page of older events below these',
    'aria-disabled': loadingOlder ? 'true' : 'false',
  }, loadingOlder ? 'Loading older events…' : 'Load older events');
  button.addEventListener('click', () => {
    if (loadingOlder) return;
    loadingOlder = { below: m.rows[m.rows.length - 1]?.seq ?? Infinity, focused: document.activeElement === button };
    button.textContent = 'Loading older events…';
    button.setAttribute('aria-disabled', 'true');
    api.postMessage({ type: 'loadOlder' });
  });
  return button;
}

/** After a page loaded from the keyboard: on to its first row (the newest older than `below`)
 *  that the filter shows, so the user reads on where they were. */
function focusFirstOlder(below: number): void {
  const first = model ? visibleRows(model).find((r) => r.seq < below) : undefined;
  const target = first ? document.getElementById(`ev-${first.seq}`) : document.getElementById('load-older');
  if (!target) return;
  if (first) {
    focusedSeq = first.seq;
    for (const li of document.querySelectorAll<HTMLElement>('#events li[role="option"]')) li.tabIndex = li === target ? 0 : -1;
  }
  target.focus();
  target.scrollIntoView({ block: 'nearest' });
}

function rowItem(m: TimelineModel, r: TimelineRow, laneCount: number, activeLane: number, last: boolean): HTMLElement {
  const bm = r.bookmarkId ? m.bookmarks[r.bookmarkId] : undefined;
  const selected = bm !== undefined && bm.id === state.selected;
  const li = el('li', {
    id: `ev-${r.seq}`,
    class: `row${bm ? ' has-bookmark' : ''}${selected ? ' selected' : ''}`,
    role: 'option',
    'aria-selected': selected ? 'true' : 'false',
    tabindex: r.seq === focusedSeq ? 0 : -1,
    title: `${r.title} — ${r.user}, ${new Date(r.at).toLocaleString()}${r.detail ? ` — ${r.detail}` : ''}`,
  },
  rowGraph(r, r.alive, laneCount, activeLane, { bottom: last, restorable: restorableLanes(m, r.at) }),
  el('time', { class: 'when', datetime: r.at }, relative(r.at)),
  el('span', { class: 'what' }, r.title),
  el('span', { class: `chip small ${laneClass(r.lane)}` }, r.branch),
  el('span', { class: 'who' }, r.user),
  r.detail ? el('span', { class: 'detail' }, r.detail) : undefined);
  li.addEventListener('click', () => activate(r));
  li.addEventListener('focus', () => { focusedSeq = r.seq; });
  return li;
}

function onListKey(e: KeyboardEvent, ol: HTMLElement): void {
  const items = [...ol.querySelectorAll<HTMLElement>('li[role="option"]')];
  const current = items.findIndex((li) => li === document.activeElement);
  const moveTo = (i: number) => {
    const target = items[Math.max(0, Math.min(items.length - 1, i))];
    if (!target) return;
    for (const li of items) li.tabIndex = -1;
    target.tabIndex = 0;
    target.focus();
    target.scrollIntoView({ block: 'nearest' });
  };
  switch (e.key) {
    case 'ArrowDown': moveTo(current + 1); break;
    case 'ArrowUp': moveTo(current - 1); break;
    case 'Home': moveTo(0); break;
    case 'End': moveTo(items.length - 1); break;
    case 'PageDown': moveTo(current + 10); break;
    case 'PageUp': moveTo(current - 10); break;
    case 'Enter':
    case ' ': {
      const row = model?.rows.find((r) => `ev-${r.seq}` === items[current]?.id);
      if (row) activate(row, true);
      break;
    }
    default: return;
  }
  e.preventDefault();
}

/** A bookmark's row opens its details; any other row picks its moment in the time selector. */
function activate(r: TimelineRow, fromKeyboard = false): void {
  focusedSeq = r.seq;
  if (r.bookmarkId) save({ selected: r.bookmarkId });
  else save({ selected: undefined, moment: { at: r.at, branch: branchWithHistory(r.branch) } });
  render();
  if (fromKeyboard) document.querySelector<HTMLElement>(r.bookmarkId ? '#details button' : '#moment-at')?.focus();
  else document.getElementById(`ev-${r.seq}`)?.focus();
}

/** The branch itself when it has history to restore, else the active one. */
function branchWithHistory(branch: string): string {
  return model?.restorable.some((x) => x.branch === branch && x.ranges.length) ? branch : model?.activeBranch ?? branch;
}

function chooseMoment(next: MomentChoice): void {
  const focused = document.activeElement?.id;
  save({ moment: next });
  render();
  if (focused) document.getElementById(focused)?.focus();
}

function details(m: TimelineModel): HTMLElement {
  const bm = state.selected ? m.bookmarks[state.selected] : undefined;
  const aside = el('aside', { id: 'details', 'aria-label': 'Bookmark details', 'aria-live': 'polite' });
  if (!bm) {
    aside.append(el('p', { class: 'hint' }, 'Select a bookmark (◆) to see its details and actions, or any other event to pick its moment.'));
    // No moment picked yet: a minute ago on the active branch, a common "I forgot to bookmark" case.
    const moment = state.moment && m.restorable.some((r) => r.branch === state.moment!.branch) ? state.moment
      : { at: new Date(Date.parse(m.generatedAt) - 60_000).toISOString(), branch: m.activeBranch };
    aside.append(momentPanel(m, moment, (msg) => api.postMessage(msg), chooseMoment));
    return aside;
  }
  aside.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      document.getElementById(`ev-${focusedSeq}`)?.focus();
    }
  });
  const facts: Array<[string, string | undefined]> = [
    ['Branch', `${bm.container} / ${bm.branch}`],
    ['Owner', bm.owner],
    ['Taken', bm.deleted ? undefined : new Date(bm.createdAt).toLocaleString()],
    ['Sharing', bm.deleted ? undefined : bm.shared ? 'shared' : 'private'],
    ['Tags', bm.tags.length ? bm.tags.map((t) => `#${t}`).join(' ') : undefined],
    ['Git', bm.git?.branch || bm.git?.commit ? `${bm.git.branch ?? '(detached)'}${bm.git.commit ? ` @ ${bm.git.commit.slice(0, 12)}` : ''}` : undefined],
    ['Consistency', bm.deleted ? undefined : bm.consistency],
    ['Data as of', bm.deleted || !bm.asOf ? undefined : new Date(bm.asOf).toLocaleString()],
  ];
  aside.append(el('h2', {}, `◆ ${bm.name}`));
  if (bm.deleted) aside.append(el('p', { class: 'hint' }, 'This bookmark was deleted.'));
  if (bm.note) aside.append(el('p', { class: 'note' }, bm.note));
  aside.append(el('dl', {}, ...facts.filter(([, v]) => v).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v!)])));
  if (!bm.deleted) aside.append(actions(bm));
  return aside;
}

function actions(bm: TimelineBookmark): HTMLElement {
  const buttons: Array<[BookmarkAction, string, string]> = [
    ['restore', 'Restore', `Rewind the active branch of ${bm.container} to this bookmark`],
    ['branch', 'Branch', 'Create a branch from this bookmark and activate it'],
  ];
  if (bm.mine) buttons.push(bm.shared ? ['unshare', 'Unshare', 'Make it private again'] : ['share', 'Share', 'Share with everyone on this template']);
  buttons.push(['copyLink', 'Copy link', 'Share this bookmark and copy its link (for a pull request or issue)']);
  if (bm.mine) buttons.push(['delete', 'Delete', 'Delete this bookmark']);
  return el('div', { class: 'actions', role: 'group', 'aria-label': 'Bookmark actions' },
    ...buttons.map(([action, label, title], i) => {
      const b = el('button', { class: i === 0 ? 'primary' : action === 'delete' ? 'secondary danger' : 'secondary', title }, label);
      b.addEventListener('click', () => api.postMessage({ type: 'action', action, bookmarkId: bm.id }));
      return b;
    }));
}

function relative(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}
