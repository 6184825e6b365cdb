/**
 * The engine's own costs: latency of `bookmark/list` with 10,000 bookmarks,
 * all of them in one response and the first page of PAGE as a UI would ask,
 * and its resident memory when idle with them.
 *
 * One real bookmark is taken through the protocol and copied 9,999 times
 * straight into the engine's store while the engine is stopped
 * (test/support/seed.ts). The engine then starts on that store and is timed
 * only through the protocol.
 */
import * as path from 'node:path';
import {
  BookmarkCreateRequest, BookmarkListRequest, ContainerCreateRequest, TemplateCreateRequest,
} from '../../server/protocol';
import { seedBookmarks } from '../support/seed';
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
