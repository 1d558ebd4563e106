// The web client's benchmark (docs/performance.md, "Web client"): prints figures, asserts nothing
// about speed. Run by tools/bench-web.sh, which builds what it needs and sets the environment
// (the same variables as the tests, clients/js/test/support/stack.ts).
//
// 1. The JavaScript and CSS the page loads, raw and gzipped (the goal: JavaScript under 150 KiB).
// 2. Page load to the conversation list shown, on loopback, for a user with 3 conversations and
//    for one with 2,000 (median of RUNS).
// 3. A list of 2,000 conversations and a conversation of 10,000 messages (every page of history
//    loaded): rows in the DOM, and the frame times while scrolling from one end to the other.
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ParleyClient } from '@parley/sdk';
import type { Page } from 'playwright-core';

import { Stack } from '../../js/test/support/stack.js';
import { launchBrowser } from '../e2e/browser.js';

const here = fileURLToPath(new URL('.', import.meta.url));
// test-dist/web/bench -> clients/web
const webDir = resolve(here, '../../..');
const dist = join(webDir, 'dist');

const CONVERSATIONS = Number(process.env['PARLEY_BENCH_CONVERSATIONS'] ?? 2000);
const MESSAGES = Number(process.env['PARLEY_BENCH_MESSAGES'] ?? 10000);
const RUNS = 3;
const DESKTOP = { width: 1280, height: 800 };

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** What index.html loads: its scripts, module preloads and stylesheets, raw and gzipped. */
function assetSizes(): { js: { raw: number; gzip: number }; css: { raw: number; gzip: number } } {
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const sizes = { js: { raw: 0, gzip: 0 }, css: { raw: 0, gzip: 0 } };
  for (const match of html.matchAll(/(?:src|href)="\/?(assets\/[^"]+\.(js|css))"/g)) {
    const body = readFileSync(join(dist, match[1] ?? ''));
    const kind = match[2] === 'js' ? sizes.js : sizes.css;
    kind.raw += body.length;
    kind.gzip += gzipSync(body, { level: 9 }).length;
  }
  return sizes;
}

/** Runs `count` calls `limit` at a time. */
async function inBatches(count: number, limit: number, run: (n: number) => Promise<unknown>) {
  for (let start = 0; start < count; start += limit) {
    const batch = [];
    for (let n = start; n < Math.min(count, start + limit); n++) {
      batch.push(run(n));
    }
    await Promise.all(batch);
  }
}

async function connect(stack: Stack, user: string): Promise<ParleyClient> {
  return ParleyClient.connect({
    url: stack.mqttsUrl,
    user,
    password: stack.password(user),
    ca: stack.caPem,
    idleAfterMs: 3600000,
  });
}

/** Milliseconds from navigation to the sign-in form, and from "Sign in" to the first row. */
async function timeToList(
  stack: Stack,
  page: Page,
  user: string,
  expectRows: number,
): Promise<{ loginForm: number; list: number; allKnown: number }> {
  const start = Date.now();
  await page.goto(stack.webUrl ?? '');
  await page.getByLabel('User name').waitFor();
  const loginForm = Date.now() - start;
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password or token').fill(stack.password(user));
  const signIn = Date.now();
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.conversation-row').first().waitFor({ timeout: 60000 });
  const list = Date.now() - signIn;
  await page
    .getByRole('region', { name: `Conversations (${expectRows})` })
    .waitFor({ timeout: 120000 });
  const allKnown = Date.now() - signIn;
  return { loginForm: loginForm, list, allKnown };
}

interface ScrollRun {
  frames: number;
  p50: number;
  p95: number;
  max: number;
  maxRows: number;
  seconds: number;
}

/**
 * Scrolls `selector` from its top to its bottom by `step` pixels a frame (or the other way),
 * timing every frame and counting the rows (`rowSelector`) in the DOM as it goes.
 */
async function scrollThrough(
  page: Page,
  selector: string,
  rowSelector: string,
  step: number,
  upwards: boolean,
): Promise<ScrollRun> {
  return page.evaluate(
    async ({ selector, rowSelector, step, upwards }) => {
      const element = document.querySelector(selector);
      if (!(element instanceof HTMLElement)) {
        throw new Error(`no ${selector}`);
      }
      element.scrollTop = upwards ? element.scrollHeight : 0;
      await new Promise((done) => requestAnimationFrame(done));
      const intervals: number[] = [];
      let maxRows = 0;
      let last = performance.now();
      const started = last;
      for (;;) {
        const before = element.scrollTop;
        element.scrollTop = before + (upwards ? -step : step);
        await new Promise((done) => requestAnimationFrame(done));
        const now = performance.now();
        intervals.push(now - last);
        last = now;
        maxRows = Math.max(maxRows, element.querySelectorAll(rowSelector).length);
        const end = upwards
          ? element.scrollTop <= 0
          : element.scrollTop + element.clientHeight >= element.scrollHeight - 1;
        if (end || element.scrollTop === before || intervals.length > 20000) {
          break;
        }
      }
      intervals.sort((a, b) => a - b);
      const at = (p: number): number =>
        intervals[Math.min(intervals.length - 1, Math.floor(p * intervals.length))] ?? NaN;
      return {
        frames: intervals.length,
        p50: at(0.5),
        p95: at(0.95),
        max: intervals[intervals.length - 1] ?? NaN,
        maxRows,
        seconds: (last - started) / 1000,
      };
    },
    { selector, rowSelector, step, upwards },
  );
}

function scrollLine(what: string, run: ScrollRun): string {
  return (
    `| ${what} | ${run.frames} frames in ${run.seconds.toFixed(1)} s | ` +
    `${run.p50.toFixed(1)} / ${run.p95.toFixed(1)} / ${run.max.toFixed(1)} ms | ${run.maxRows} |`
  );
}

async function main(): Promise<void> {
  const sizes = assetSizes();
  console.log('## Web client benchmark\n');
  console.log('| what the page loads | raw | gzipped |');
  console.log('|---|---|---|');
  console.log(`| JavaScript | ${kib(sizes.js.raw)} | ${kib(sizes.js.gzip)} |`);
  console.log(`| CSS | ${kib(sizes.css.raw)} | ${kib(sizes.css.gzip)} |\n`);

  const stack = await Stack.start({
    users: ['small', 'reader', 'writer'],
    webRoot: dist,
    unlimited: true,
    awayAfter: '1h',
  });
  const chrome = await launchBrowser(stack.caFile);
  const seeders: ParleyClient[] = [];
  try {
    const seedStart = Date.now();
    const small = await connect(stack, 'small');
    const reader = await connect(stack, 'reader');
    const writer = await connect(stack, 'writer');
    seeders.push(small, reader, writer);
    for (const peer of ['p1', 'p2', 'p3']) {
      const conv = (await small.openConversation(peer)).conv;
      await small.sendMessage(conv, `hello ${peer}`);
    }
    const big = (await writer.openConversation('reader')).conv;
    await inBatches(MESSAGES, 200, (n) => writer.sendMessage(big, `message ${n + 1}`));
    await inBatches(CONVERSATIONS - 1, 100, async (n) => {
      const conv = (await reader.openConversation(`peer${n + 1}`)).conv;
      await reader.sendMessage(conv, `first words with peer${n + 1}`);
    });
    console.log(
      `Seeded ${MESSAGES} messages in one conversation and ${CONVERSATIONS} conversations ` +
        `in ${((Date.now() - seedStart) / 1000).toFixed(0)} s.\n`,
    );

    console.log(
      '| page load to the conversation list (median of 3) | sign-in form | list shown | every conversation listed |',
    );
    console.log('|---|---|---|---|');
    for (const [user, rows] of [
      ['small', 3],
      ['reader', CONVERSATIONS],
    ] as const) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        const context = await chrome.browser.newContext({ viewport: DESKTOP });
        const page = await context.newPage();
        runs.push(await timeToList(stack, page, user, rows));
        await context.close();
      }
      console.log(
        `| ${user}, ${rows} conversations | ${median(runs.map((r) => r.loginForm))} ms | ` +
          `${median(runs.map((r) => r.list))} ms | ${median(runs.map((r) => r.allKnown))} ms |`,
      );
    }

    const context = await chrome.browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    await timeToList(stack, page, 'reader', CONVERSATIONS);
    const list = await scrollThrough(
      page,
      '.sidebar [role="region"]',
      '.conversation-row',
      400,
      false,
    );

    const openStart = Date.now();
    await page.locator(`[data-conv="${big}"]`).click();
    await page.locator('.message', { hasText: `message ${MESSAGES}` }).waitFor();
    const openMs = Date.now() - openStart;
    // Every page of history, as a reader scrolling up would load them.
    const pagingStart = Date.now();
    const log = page.getByRole('log', { name: 'Messages' });
    while ((await page.locator('.history-edge', { hasText: 'beginning' }).count()) === 0) {
      await log.evaluate((element) => {
        element.scrollTop = 0;
      });
      await page.waitForTimeout(20);
      if (Date.now() - pagingStart > 600000) {
        throw new Error('history did not reach the beginning in 10 minutes');
      }
    }
    const pagingMs = Date.now() - pagingStart;
    const messagesInDom = await page.locator('.message').count();
    const down = await scrollThrough(page, '[role="log"]', '.message', 800, false);
    const up = await scrollThrough(page, '[role="log"]', '.message', 800, true);
    await context.close();

    console.log(
      '\n| scrolling end to end | frames | frame p50 / p95 / max | most rows in the DOM |',
    );
    console.log('|---|---|---|---|');
    console.log(scrollLine(`${CONVERSATIONS} conversations, 400 px a frame`, list));
    console.log(scrollLine(`${MESSAGES} messages down, 800 px a frame`, down));
    console.log(scrollLine(`${MESSAGES} messages up, 800 px a frame`, up));
    console.log(
      `\nOpening the ${MESSAGES}-message conversation: ${openMs} ms to its newest message; ` +
        `every page of its history loaded by scrolling up in ${(pagingMs / 1000).toFixed(1)} s ` +
        `(${Math.ceil(MESSAGES / 50)} pages of 50), then ${messagesInDom} message rows in the DOM.`,
    );
    console.log(
      `Frame intervals p95 over all three scrolls: ${percentile([list.p95, down.p95, up.p95], 100).toFixed(1)} ms (16.7 ms is 60 frames a second).`,
    );
  } finally {
    for (const client of seeders) {
      await client.close().catch(() => undefined);
    }
    await chrome.close().catch(() => undefined);
    await stack.stop();
  }
}

await main();
