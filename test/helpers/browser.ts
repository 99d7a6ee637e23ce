/**
 * Headless Chromium for UI tests: Debian's `chromium` (apt-get install chromium; the pretest
 * installs it when run as root) driven by playwright-core, which downloads no browser of its own.
 * Screenshots go under test-artifacts/<dir> (git-ignored), where a person or CI keeps them.
 *
 *   const browser = await startBrowser(t);
 *   const page = await browser.newPage();
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO } from './processes.ts';

export const CHROMIUM = process.env.TSMESH_CHROMIUM ?? '/usr/bin/chromium';

/** A reason to skip when no Chromium is installed, else false. */
export const NO_CHROMIUM: string | false = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}: sudo apt-get install -y chromium (or name one in $TSMESH_CHROMIUM)`;

type After = { after(fn: () => Promise<void> | void): void };

export async function startBrowser(t: After): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container has no user namespaces for Chromium's sandbox; no GPU on these machines.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
  t.after(() => browser.close());
  return browser;
}

/** The folder screenshots of a test go to (created). */
export function artifactDir(name: string): string {
  const dir = join(REPO, 'test-artifacts', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Saves a full-page screenshot as <dir>/<name>.png and returns its path. */
export async function screenshot(page: Page, dir: string, name: string): Promise<string> {
  const file = join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
