/**
 * The slice of playwright-core the end-to-end tests use. playwright-core lives
 * in .cache/code-server/node_modules (scripts/e2e-setup.sh), not in the
 * project's dependencies, so the suite compiles on machines without it and
 * loads it at run time only when the setup is there.
 */
import { createRequire } from 'module';
import * as path from 'path';

export interface Locator {
  click(opts?: { button?: 'left' | 'right'; timeout?: number; force?: boolean; position?: { x: number; y: number } }): Promise<void>;
  dblclick(opts?: { timeout?: number }): Promise<void>;
  hover(opts?: { timeout?: number }): Promise<void>;
  fill(value: string, opts?: { timeout?: number }): Promise<void>;
  press(key: string, opts?: { timeout?: number }): Promise<void>;
  waitFor(opts?: { state?: 'attached' | 'detached' | 'visible' | 'hidden'; timeout?: number }): Promise<void>;
  count(): Promise<number>;
  first(): Locator;
  last(): Locator;
  nth(i: number): Locator;
  locator(selector: string, opts?: { hasText?: string | RegExp; has?: Locator }): Locator;
  filter(opts: { hasText?: string | RegExp; has?: Locator; hasNot?: Locator }): Locator;
  getAttribute(name: string, opts?: { timeout?: number }): Promise<string | null>;
  textContent(opts?: { timeout?: number }): Promise<string | null>;
  innerText(opts?: { timeout?: number }): Promise<string>;
  allInnerTexts(): Promise<string[]>;
  isVisible(): Promise<boolean>;
  // Elements live in the browser; this project compiles without the DOM library.
  evaluate<R, A = unknown>(fn: (el: any, arg: A) => R, arg?: A): Promise<R>;
  evaluateAll<R, A = unknown>(fn: (els: any[], arg: A) => R, arg?: A): Promise<R>;
  getByRole(role: string, opts?: { name?: string | RegExp; exact?: boolean }): Locator;
  screenshot(opts: { path: string }): Promise<Buffer>;
  scrollIntoViewIfNeeded(opts?: { timeout?: number }): Promise<void>;
  focus(opts?: { timeout?: number }): Promise<void>;
}

export interface FrameLocator {
  locator(selector: string, opts?: { hasText?: string | RegExp }): Locator;
  frameLocator(selector: string): FrameLocator;
}

export interface Keyboard {
  press(key: string, opts?: { delay?: number }): Promise<void>;
  type(text: string, opts?: { delay?: number }): Promise<void>;
  insertText(text: string): Promise<void>;
}

export interface Page {
  goto(url: string, opts?: { timeout?: number; waitUntil?: 'load' | 'domcontentloaded' | 'networkidle' | 'commit' }): Promise<unknown>;
  locator(selector: string, opts?: { hasText?: string | RegExp; has?: Locator }): Locator;
  frameLocator(selector: string): FrameLocator;
  getByRole(role: string, opts?: { name?: string | RegExp; exact?: boolean }): Locator;
  keyboard: Keyboard;
  screenshot(opts: { path: string; fullPage?: boolean }): Promise<Buffer>;
  evaluate<R, A = unknown>(fn: (arg: A) => R, arg?: A): Promise<R>;
  addInitScript(script: string | { content: string }): Promise<void>;
  on(event: 'console', fn: (msg: { type(): string; text(): string }) => void): void;
  on(event: 'pageerror', fn: (err: Error) => void): void;
  waitForTimeout(ms: number): Promise<void>;
  close(): Promise<void>;
  bringToFront(): Promise<void>;
}

export interface BrowserContext {
  newPage(): Promise<Page>;
  close(): Promise<void>;
  grantPermissions(permissions: string[], opts?: { origin?: string }): Promise<void>;
}

export interface Browser {
  newContext(opts?: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark'; deviceScaleFactor?: number }): Promise<BrowserContext>;
  close(): Promise<void>;
  process?(): { pid?: number } | null;
}

export interface Playwright {
  chromium: {
    launch(opts: { executablePath: string; args: string[]; headless?: boolean; timeout?: number }): Promise<Browser>;
  };
}

/** playwright-core from the code-server cache, or an Error saying why it cannot be loaded. */
export function loadPlaywright(cacheDir: string): Playwright | Error {
  try {
    return createRequire(path.join(cacheDir, 'node_modules', 'noop.js'))('playwright-core') as Playwright;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
