/**
 * The engine's own costs: latency of `bookmark/list` with 10,000 bookmarks,
 * all of them in one response and the first page of PAGE as a UI would ask,
 * and its resident memory when idle with them.
 *
 * 10,000 real bookmarks would take hours with the blocks driver (each one a
 * stop, snapshot and start), so one real bookmark is taken through the protocol
 * and copied 9,999 times straight into the engine's LMDB store while the engine
 * is stopped, with fresh ids and names. The engine then starts on that store
 * and is timed only through the protocol.
 */
import * as path from 'node:path';
import { homeFiles } from '../../server/common/home';
import { Store } from '../../server/engine/store';
import { newId } from '../../server/engine/ids';
import type { BookmarkRecord } from '../../server/engine/records';
import {
  BookmarkCreateRequest, BookmarkListRequest, ContainerCreateRequest, TemplateCreateRequest,
} from '../../server/protocol';
import { BenchEngine } from './engine';
import { timed } from './exec';
import { quantile } from './stats';

/** The page size timed beside the whole list. */
export const PAGE = 100;

export interface ListingFigures {
  bookmarks: number;
  requests: number;
  /** All bookmarks in one response (about 2.3 MB of JSON at 10,000). */
  p50: number;
  p99: number;
  /** The first PAGE bookmarks (`limit`). */
  pageP50: number;
  pageP99: number;
  /** Engine RSS (bytes) after start-up, idle, with the bookmarks loaded. */
  idleRss: number;
}

export async function measureListing(workDir: string, count: number, requests: number): Promise<ListingFigures> {
  const home = path.join(workDir, 'listing-home');
  const pool = path.join(home, 'pool');
  let engine = await BenchEngine.start(home, 'blocks', pool);
  await engine.request(TemplateCreateRequest.type, { name: 'tiny', source: { kind: 'empty' } });
  await engine.request(ContainerCreateRequest.type, { name: 'lister', template: 'tiny' });
  await engine.request(BookmarkCreateRequest.type, { container: 'lister', name: 'real-0' });
  await engine.stop();
  await seedBookmarks(home, count - 1);
  engine = await BenchEngine.start(home, 'blocks', pool);
  await engine.request(BookmarkListRequest.type, {}); // first call warms up LMDB pages and the JIT
  const samples: number[] = [];
  const pages: number[] = [];
  for (let i = 0; i < requests; i++) {
    samples.push(await timed(() => engine.request(BookmarkListRequest.type, {})));
    pages.push(await timed(() => engine.request(BookmarkListRequest.type, { limit: PAGE })));
  }
  await new Promise((r) => setTimeout(r, 1000));
  const idleRss = engine.rss();
  await engine.stop();
  samples.sort((a, b) => a - b);
  pages.sort((a, b) => a - b);
  return {
    bookmarks: count, requests, p50: quantile(samples, 0.5), p99: quantile(samples, 0.99),
    pageP50: quantile(pages, 0.5), pageP99: quantile(pages, 0.99), idleRss,
  };
}

async function seedBookmarks(home: string, copies: number): Promise<void> {
  const store = new Store(homeFiles(home).meta);
  try {
    const real = store.allBookmarks()[0];
    const base = Date.parse(real.createdAt);
    store.tx(() => {
      for (let i = 1; i <= copies; i++) {
        const copy: BookmarkRecord = { ...real, id: newId('bm'), name: `copy-${i}`, createdAt: new Date(base + i).toISOString() };
        store.putBookmark(copy);
      }
    });
  } finally {
    await store.close();
  }
}
