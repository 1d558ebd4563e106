// The web client in Debian's Chromium, two browser contexts as two users, against a real
// Mosquitto and parleyd (clients/js/test/support/stack.ts) serving the built page over HTTPS.
// A screenshot of each step goes to PARLEY_WEB_ARTIFACTS (ctest sets it in the build tree).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ParleyClient } from '@parley/sdk';
import type { BrowserContext, Locator, Page } from 'playwright-core';

import { pngImage, textFile } from '../../js/test/support/files.js';
import { FaultyProxy } from '../../js/test/support/proxy.js';
import { Stack } from '../../js/test/support/stack.js';
import { launchBrowser, noSeriousViolations, signIn } from './browser.js';
import type { TestBrowser } from './browser.js';

const here = fileURLToPath(new URL('.', import.meta.url));
// test-dist/web/e2e -> clients/web
const webDir = resolve(here, '../../..');
const artifacts = process.env['PARLEY_WEB_ARTIFACTS'] ?? join(webDir, 'test-dist', 'artifacts');
mkdirSync(artifacts, { recursive: true });

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };

let stack: Stack;
let chrome: TestBrowser;
const seeders: ParleyClient[] = [];
let step = 0;
/** Undone at the end whatever happens, so the test process always exits. */
const cleanups: (() => Promise<unknown>)[] = [];
const openPages: Page[] = [];

async function shot(page: Page, name: string): Promise<void> {
  step += 1;
  await page.screenshot({ path: join(artifacts, `${String(step).padStart(2, '0')}-${name}.png`) });
}

async function newUserPage(viewport: {
  width: number;
  height: number;
}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chrome.browser.newContext({
    viewport,
    // Only so that the test can inject axe-core; the page's own CSP is checked by the app's load.
    bypassCSP: true,
  });
  const page = await context.newPage();
  openPages.push(page);
  cleanups.push(() => context.close());
  page.on('pageerror', (error) => {
    console.error(`page error: ${error.message}`);
  });
  return { context, page };
}

function login(page: Page, user: string, query = ''): Promise<void> {
  return signIn(page, stack.webUrl ?? '', user, stack.password(user), query);
}

function seeder(user: string): Promise<ParleyClient> {
  return ParleyClient.connect({
    url: stack.mqttsUrl,
    user,
    password: stack.password(user),
    ca: stack.caPem,
  }).then((client) => {
    seeders.push(client);
    return client;
  });
}

before(async () => {
  stack = await Stack.start({
    users: ['alice', 'bob', 'carol', 'sam', 'dana', 'erin'],
    awayAfter: '3s',
    webRoot: join(webDir, 'dist'),
    attachments: true,
  });
  chrome = await launchBrowser(stack.caFile);
});

after(async () => {
  for (const cleanup of cleanups.reverse()) {
    await cleanup().catch(() => undefined);
  }
  for (const client of seeders) {
    await client.close().catch(() => undefined);
  }
  await chrome.close().catch(() => undefined);
  await stack.stop();
});

describe('the web client, two users in Chromium', { timeout: 240000 }, () => {
  test('chat, typing, receipts, unread, presence, a listing thread, history, catch-up', async () => {
    try {
      await scenario();
    } catch (error) {
      // What each page showed when it failed, beside the steps' screenshots.
      for (const [index, page] of openPages.entries()) {
        await page
          .screenshot({ path: join(artifacts, `failure-page-${index + 1}.png`) })
          .catch(() => undefined);
      }
      throw error;
    }
  });

  test('attachments: a thumbnail linking to the image, a file to download, a file of several raw chunks with its progress bar, a refusal explained', async () => {
    const dana = await newUserPage(DESKTOP);
    const erin = await newUserPage(DESKTOP);
    try {
      const conv = (await (await seeder('dana')).openConversation('erin')).conv;
      await login(dana.page, 'dana');
      await login(erin.page, 'erin');
      await dana.page.locator(`[data-conv="${conv}"]`).click();
      await erin.page.locator(`[data-conv="${conv}"]`).click();

      // Dana picks a PNG with the attach button's file input and a caption.
      await dana.page.getByLabel('Message', { exact: true }).fill('The bike');
      await dana.page.getByLabel('File to send').setInputFiles({
        name: 'bike.png',
        mimeType: 'image/png',
        buffer: Buffer.from(pngImage(640, 480)),
      });
      await dana.page.locator('.message.mine:not(.pending)', { hasText: 'The bike' }).waitFor();

      // Erin sees the thumbnail load (from the signed link, through the page's origin).
      const image = erin.page.locator('.message:not(.mine) .attachment-image img');
      await image.waitFor();
      await erin.page.waitForFunction(() => {
        const img = document.querySelector<HTMLImageElement>(
          '.message:not(.mine) .attachment-image img',
        );
        return img !== null && img.complete && img.naturalWidth > 0;
      });
      const natural = await image.evaluate((img: HTMLImageElement) => [
        img.naturalWidth,
        img.naturalHeight,
      ]);
      assert.deepEqual(natural, [256, 192], 'the thumbnail fits in 256 x 256, upright');
      assert.equal(await image.getAttribute('alt'), 'bike.png');
      const link = erin.page.locator('.message:not(.mine) .attachment-image');
      const href = (await link.getAttribute('href')) ?? '';
      assert.match(href, /\/ext\/attachments\/file\?/);
      const full = await erin.page.evaluate(async (url) => {
        const response = await fetch(url);
        return [response.status, response.headers.get('content-type')];
      }, href);
      assert.deepEqual(full, [200, 'image/png'], 'the link opens the full image');
      await shot(erin.page, 'attachment-image');

      // A text file: its name, size and a download link with the same bytes.
      const notes = 'Frame size 54 cm. Serviced in May. New tyres.\n'.repeat(30);
      await dana.page.getByLabel('File to send').setInputFiles({
        name: 'notes.txt',
        mimeType: 'text/plain',
        buffer: Buffer.from(notes),
      });
      const download = erin.page.getByRole('link', { name: 'Download notes.txt' });
      await download.waitFor();
      await erin.page
        .locator('.message:not(.mine) .attachment-file', { hasText: 'notes.txt 1 KB' })
        .waitFor();
      await erin.page.waitForFunction(
        () =>
          document
            .querySelector('a[aria-label="Download notes.txt"]')
            ?.getAttribute('href')
            ?.includes('/ext/attachments/file?') === true,
      );
      const downloaded = await erin.page.evaluate(
        async (url) => {
          const response = await fetch(url);
          return response.text();
        },
        (await download.getAttribute('href')) ?? '',
      );
      assert.equal(downloaded, notes);
      await shot(erin.page, 'attachment-file');

      // A file of several chunks, raw bytes on .../bin from the page (the SDK's default): a
      // progress bar while it goes up, then the same bytes back by its link.
      // Watched from before the file is picked until the bar goes away.
      await dana.page.evaluate(() => {
        const values: number[] = [];
        let max = 0;
        (window as unknown as { progressSeen: unknown }).progressSeen = new Promise((resolve) => {
          const observer = new MutationObserver(() => {
            const bar = document.querySelector<HTMLProgressElement>('.upload progress');
            if (bar) {
              max = bar.max;
              values.push(bar.value);
            } else if (values.length > 0) {
              observer.disconnect();
              resolve({ max, values });
            }
          });
          observer.observe(document.body, {
            subtree: true,
            childList: true,
            attributes: true,
            attributeFilter: ['value', 'max'],
          });
        });
      });
      const manual = Buffer.from(textFile(6 * 256 * 1024 - 100, 11)).toString('ascii'); // 6 chunks
      const binBefore = chunksOnBin(stack.brokerLog(), 'dana');
      await dana.page.getByLabel('File to send').setInputFiles({
        name: 'manual.txt',
        mimeType: 'text/plain',
        buffer: Buffer.from(manual),
      });
      const seen = await dana.page.evaluate(
        () =>
          (window as unknown as { progressSeen: Promise<{ max: number; values: number[] }> })
            .progressSeen,
      );
      assert.equal(seen.max, manual.length, 'the bar measures the whole file');
      assert.ok(
        seen.values.every((value, i) => value <= seen.max && value >= (seen.values[i - 1] ?? 0)),
        `the bar only moves forward: ${seen.values.join(', ')}`,
      );
      // The last chunk's reply comes before the commit's: the bar shows bytes going up.
      assert.ok(
        seen.values.some((value) => value > 0),
        `the bar moved: ${seen.values.join(', ')}`,
      );
      const manualLink = erin.page.getByRole('link', { name: 'Download manual.txt' });
      await manualLink.waitFor();
      await erin.page.waitForFunction(
        () =>
          document
            .querySelector('a[aria-label="Download manual.txt"]')
            ?.getAttribute('href')
            ?.includes('/ext/attachments/file?') === true,
      );
      const manualBack = await erin.page.evaluate(
        async (url) => (await fetch(url)).text(),
        (await manualLink.getAttribute('href')) ?? '',
      );
      assert.equal(manualBack.length, manual.length);
      assert.ok(manualBack === manual, 'the same bytes came back');
      assert.ok(
        chunksOnBin(stack.brokerLog(), 'dana') - binBefore >= 6,
        'the page sent its chunks as raw bytes on c2s/{uid}/bin',
      );
      await shot(erin.page, 'attachment-several-chunks');

      // A type the server does not take: refused before any byte is sent, in words.
      await dana.page.getByLabel('File to send').setInputFiles({
        name: 'drawing.svg',
        mimeType: 'image/svg+xml',
        buffer: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"></svg>'),
      });
      const refusal = dana.page.locator('.upload.failed[role="alert"]');
      await refusal.waitFor();
      assert.match(
        (await refusal.textContent()) ?? '',
        /drawing\.svg not sent: That kind of file cannot be sent here\..*image\/png/,
      );
      await shot(dana.page, 'attachment-refused');
      await noSeriousViolations(erin.page, 'attachments');
    } catch (error) {
      for (const [name, page] of [
        ['dana', dana.page],
        ['erin', erin.page],
      ] as const) {
        await page
          .screenshot({ path: join(artifacts, `failure-attachments-${name}.png`) })
          .catch(() => undefined);
      }
      throw error;
    }
  });
});

/** PUBLISHes the broker received on `c2s/{user}/bin` (its log shows each with its topic). */
function chunksOnBin(brokerLog: string, user: string): number {
  const pattern = new RegExp(
    `Received PUBLISH from ${user}-[^ ]* \\([^)]*'parley/v1/c2s/${user}/bin'`,
    'g',
  );
  return brokerLog.match(pattern)?.length ?? 0;
}

/**
 * Scrolls the message log to its end and waits until it stays there: the list keeps the view in
 * place while older pages and row measurements settle, which may move it back up once.
 */
async function scrollToBottom(page: Page, log: Locator): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const atBottom = await log.evaluate((element) => {
      element.scrollTop = element.scrollHeight;
      return element.scrollTop + element.clientHeight >= element.scrollHeight - 2;
    });
    await page.waitForTimeout(100);
    const stillAtBottom = await log.evaluate(
      (element) => element.scrollTop + element.clientHeight >= element.scrollHeight - 2,
    );
    if (atBottom && stillAtBottom) {
      return;
    }
  }
  throw new Error('the message log did not stay at its bottom');
}

async function scenario(): Promise<void> {
  {
    // What the page will find: a listing of sam's, and 130 messages from carol to alice.
    const admin = await seeder(stack.admin);
    await admin.extension('listing.upsert', {
      listing: 'bike-1',
      owner: 'sam',
      title: 'Blue bike',
      status: 'open',
      price: 120,
    });
    const carol = await seeder('carol');
    const history = (await carol.openConversation('alice')).conv;
    for (let n = 1; n <= 130; n++) {
      await carol.sendMessage(history, `history message ${n}`);
    }

    // Alice's page reaches the broker through a proxy that can take her offline.
    const proxy = await FaultyProxy.start(
      Number(new URL(stack.wssUrl.replace('wss:', 'https:')).port),
    );
    cleanups.push(() => proxy.stop());
    const aliceQuery = `?broker=${encodeURIComponent(`wss://127.0.0.1:${proxy.port}`)}`;
    const a = await newUserPage(DESKTOP);
    await a.page.goto(`${stack.webUrl ?? ''}${aliceQuery}`);
    await a.page.getByLabel('User name').waitFor();
    await noSeriousViolations(a.page, 'login');
    await shot(a.page, 'login');
    await login(a.page, 'alice', aliceQuery);
    const carolRow = a.page.locator(`[data-conv="${history}"]`);
    await carolRow.waitFor();
    assert.equal(await carolRow.locator('.badge').getAttribute('data-unread'), '130');
    await shot(a.page, 'alice-list');

    const b = await newUserPage(PHONE);
    await login(b.page, 'bob');
    await shot(b.page, 'bob-list-phone');

    // Alice starts a 1:1 with bob by name and sends on Enter.
    await a.page.getByRole('button', { name: 'New chat' }).click();
    await a.page.getByLabel('User name').fill('bob');
    await a.page.getByRole('button', { name: 'Open chat' }).click();
    const aliceComposer = a.page.getByLabel('Message', { exact: true });
    await aliceComposer.fill('Hello Bob');
    await aliceComposer.press('Enter');
    await a.page.locator('.message.mine', { hasText: 'Hello Bob' }).waitFor();
    await shot(a.page, 'alice-sent');

    // Bob sees it unread: the row's badge, the total, the tab title.
    const bobRow = b.page.locator('.conversation-row', { hasText: 'alice' });
    await bobRow.locator('.badge').waitFor();
    assert.equal(await bobRow.locator('.badge').getAttribute('data-unread'), '1');
    await b.page.waitForFunction(() => document.title === '(1) Parley');
    assert.equal(
      await b.page.locator('[data-unread-total]').getAttribute('data-unread-total'),
      '1',
    );
    await shot(b.page, 'bob-unread');
    await noSeriousViolations(b.page, 'phone list');

    // Bob opens it (on a phone the list gives way to the chat); alice sees it seen.
    await bobRow.click();
    await b.page.locator('.message', { hasText: 'Hello Bob' }).waitFor();
    assert.equal(
      await b.page.locator('.sidebar').isVisible(),
      false,
      'the list is hidden on a phone',
    );
    await a.page.locator('[data-receipt="Seen"]').waitFor();
    await b.page.waitForFunction(() => document.title === 'Parley');
    assert.equal(await b.page.locator('[data-unread-total]').count(), 0);
    await shot(b.page, 'bob-chat-phone');
    await shot(a.page, 'alice-seen');

    // Bob types: alice sees it; Enter sends; typing ends.
    const bobComposer = b.page.getByLabel('Message', { exact: true });
    await bobComposer.pressSequentially('Hi Alice', { delay: 60 });
    await a.page.locator('.typing-indicator', { hasText: 'bob is typing' }).waitFor();
    await shot(a.page, 'alice-sees-typing');
    await bobComposer.press('Enter');
    await a.page.locator('.message:not(.mine)', { hasText: 'Hi Alice' }).waitFor();
    await a.page.locator('.typing-indicator', { hasText: /^$/ }).waitFor();
    await b.page.locator('.message.mine', { hasText: 'Hi Alice' }).waitFor();
    await shot(a.page, 'alice-chat-both-ways');
    await noSeriousViolations(a.page, 'desktop chat');

    // Presence: bob sees alice green, then yellow once she has been idle past away_after (3 s).
    const aliceDot = b.page.locator('.chat-header [data-presence]');
    assert.equal(await aliceDot.getAttribute('data-user'), 'alice');
    await b.page.locator('.chat-header [data-presence="online"]').waitFor();
    await b.page.locator('.chat-header [data-presence="away"]').waitFor({ timeout: 20000 });
    await shot(b.page, 'bob-sees-alice-away');

    // Bob's page closes: alice sees him grey.
    await a.page
      .locator('.chat-header [data-presence="online"], .chat-header [data-presence="away"]')
      .waitFor();
    await b.context.close();
    await a.page
      .locator('.chat-header [data-user="bob"][data-presence="offline"]')
      .waitFor({ timeout: 20000 });
    await shot(a.page, 'alice-sees-bob-offline');

    // A listing's "Message owner" opens its thread; the header shows its title and status.
    await a.page.goto(`${stack.webUrl ?? ''}${aliceQuery}#/listing/bike-1`);
    await a.page.getByRole('heading', { name: 'Blue bike' }).waitFor();
    await noSeriousViolations(a.page, 'listing');
    await shot(a.page, 'listing');
    await a.page.getByRole('button', { name: 'Message owner' }).click();
    await a.page.locator('.listing-chip', { hasText: 'Blue bike' }).waitFor();
    await a.page.locator('.listing-chip [class="status"]', { hasText: 'open' }).waitFor();
    await a.page.getByLabel('Message', { exact: true }).fill('Is it still available?');
    await a.page.getByLabel('Message', { exact: true }).press('Enter');
    await a.page.locator('.message.mine', { hasText: 'Is it still available?' }).waitFor();
    await shot(a.page, 'listing-thread');

    // History: the newest page first, older pages as alice scrolls up, to the very first.
    await a.page.locator(`[data-conv="${history}"]`).click();
    await a.page.locator('.message', { hasText: 'history message 130' }).waitFor();
    assert.equal(await a.page.locator('.message', { hasText: /^history message 1\b/ }).count(), 0);
    await shot(a.page, 'history-newest');
    const log = a.page.getByRole('log', { name: 'Messages' });
    for (let i = 0; i < 40; i++) {
      await log.evaluate((element) => {
        element.scrollTop = 0;
      });
      if (
        (await a.page
          .locator('.history-edge', { hasText: 'beginning of the conversation' })
          .count()) > 0
      ) {
        break;
      }
      await a.page.waitForTimeout(150);
    }
    await a.page.locator('.history-edge', { hasText: 'beginning of the conversation' }).waitFor();
    await a.page.locator('.message[data-seq="1"]', { hasText: 'history message 1' }).waitFor();
    await shot(a.page, 'history-oldest');

    // Offline for a while: what carol sent meanwhile shows, in order, once alice is back.
    await scrollToBottom(a.page, log);
    proxy.refuse(true);
    proxy.cut();
    await a.page.locator('[data-connection="reconnecting"]').waitFor({ timeout: 30000 });
    await shot(a.page, 'alice-offline');
    for (const n of [131, 132, 133]) {
      await carol.sendMessage(history, `history message ${n}`);
    }
    proxy.refuse(false);
    await a.page.locator('[data-connection]').waitFor({ state: 'detached', timeout: 30000 });
    // As alice would: down to the newest (a view scrolled up stays where it is as messages come).
    await scrollToBottom(a.page, log);
    await a.page.locator('.message', { hasText: 'history message 133' }).waitFor();
    const seqs = await a.page
      .locator('.message[data-seq]')
      .evaluateAll((nodes) => nodes.map((node) => Number((node as HTMLElement).dataset['seq'])));
    const tail = seqs.filter((seq) => seq >= 128);
    assert.deepEqual(tail, [128, 129, 130, 131, 132, 133]);
    await shot(a.page, 'alice-caught-up');
    await a.context.close();
  }
}
