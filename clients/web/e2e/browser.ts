// Debian's Chromium driven by playwright-core, trusting the test CA the way a person trusts the
// development CA (docs/operations.md, "The development CA"): an NSS database in the browser's
// home with the CA imported by certutil. No certificate check is turned off.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM = process.env['PARLEY_CHROMIUM'] ?? '/usr/bin/chromium';

// The flags that work in a container as root with no GPU and no network beyond loopback.
const FLAGS = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export interface TestBrowser {
  browser: Browser;
  home: string;
  close: () => Promise<void>;
}

export async function launchBrowser(caFile: string): Promise<TestBrowser> {
  const home = mkdtempSync(join(tmpdir(), 'parley-chromium-'));
  const nssdb = join(home, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  for (const args of [
    ['-N', '-d', `sql:${nssdb}`, '--empty-password'],
    ['-A', '-d', `sql:${nssdb}`, '-t', 'C,,', '-n', 'Parley test CA', '-i', caFile],
  ]) {
    const result = spawnSync('certutil', args, { encoding: 'utf8' });
    if (result.status !== 0) {
      throw new Error(`certutil ${args.join(' ')} failed: ${result.stderr}`);
    }
  }
  // Playwright gives the browser a fresh --user-data-dir of its own, removed at close.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: FLAGS,
    env: { ...process.env, HOME: home },
    timeout: 60000,
  });
  return {
    browser,
    home,
    close: async () => {
      await browser.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Runs axe-core in the page; returns the serious and critical violations. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  const require = createRequire(import.meta.url);
  await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  const violations = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run: (context: Document) => Promise<{ violations: AxeViolation[] }> };
      }
    ).axe;
    const result = await axe.run(document);
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target })),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Fails with what axe-core finds serious or critical on the page's `screen`, and where. */
export async function noSeriousViolations(page: Page, screen: string): Promise<void> {
  const violations = await seriousViolations(page);
  assert.deepEqual(
    violations.map(
      (v) =>
        `${v.id} (${v.impact ?? ''}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target))}`,
    ),
    [],
    `axe-core on the ${screen} screen`,
  );
}

/** Signs in on the page at `url` (plus `query`) and waits for the conversation list. */
export async function signIn(
  page: Page,
  url: string,
  user: string,
  password: string,
  query = '',
): Promise<void> {
  await page.goto(`${url}${query}`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password or token').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'New chat' }).waitFor();
}
