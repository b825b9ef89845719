/**
 * Opening a self-contained HTML report in Debian's Chromium through playwright-core, offline: every request other
 * than the file itself is blocked and recorded, and console errors are collected. In CI a missing browser fails
 * the test; elsewhere the test is skipped with the reason in its name.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { it } from 'vitest';

// Overridable only so the missing-browser path can be exercised; CI uses Debian's /usr/bin/chromium.
export const CHROMIUM = process.env['REPORT_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
const missing = !existsSync(CHROMIUM);
const inCi = process.env['CI'] !== undefined && process.env['CI'] !== '' && process.env['CI'] !== 'false';

/** `it`, or `it.skip` outside CI when the browser is missing. */
export const browserTest = missing && !inCi ? it.skip : it;

/** What the page did besides rendering: console errors and requests for anything but the file. */
export interface PageLog {
  readonly errors: string[];
  readonly requests: string[];
}

/** Opens `htmlPath` offline and runs `check` on the page; the browser is closed whatever happens. */
export async function withOfflinePage(htmlPath: string, what: string, check: (page: Page, log: PageLog) => Promise<void>): Promise<void> {
  if (missing) throw new Error(`Chromium is missing: expected an executable at ${CHROMIUM} (Debian package "chromium"); the ${what} test cannot run without it.`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const log: PageLog = { errors: [], requests: [] };
    page.on('console', (m) => {
      if (m.type() === 'error') log.errors.push(m.text());
    });
    page.on('pageerror', (e) => log.errors.push(String(e)));
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      log.requests.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(htmlPath).href);
    await check(page, log);
  } finally {
    await browser.close();
  }
}
