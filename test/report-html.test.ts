/**
 * Opens a rendered report.html in Debian's Chromium (headless, offline) and checks that every chart drew,
 * that the page logged no errors and fetched nothing, and saves a screenshot next to the HTML.
 * In CI a missing /usr/bin/chromium fails this test; elsewhere it is skipped with the reason.
 */
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { CHROMIUM, browserTest, withOfflinePage } from './helpers/offline-browser.js';
import { renderHtml } from '../harness/report/html.js';
import { syntheticRunResult } from '../harness/report/synthetic-run.js';


const UPLOT_CHARTS = ['cdf-ttftMs', 'cdf-e2eMs', 'ts-arrivals', 'ts-completions', 'ts-ok', 'ts-errors', 'ts-queue', 'ts-inflight', 'ts-429', 'ts-gpu'];
const SVG_CHARTS = ['bars-ttftMs', 'bars-e2eMs'];

describe('HTML report in a real browser', () => {
  browserTest(`renders every chart offline without console errors (needs ${CHROMIUM})`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'report-html-'));
    const htmlPath = join(dir, 'report.html');
    const result = syntheticRunResult(42, 60_000, 20);
    const html = renderHtml(result);
    writeFileSync(htmlPath, html);
    expect(renderHtml(result)).toBe(html); // pure: same input, same bytes

    await withOfflinePage(htmlPath, 'HTML report', async (page, { errors, requests }) => {
      await page.waitForSelector('body[data-charts-ready]', { timeout: 15_000 });

      for (const id of UPLOT_CHARTS) {
        const canvas = page.locator(`[data-chart="${id}"] canvas`);
        expect(await canvas.count(), `${id} has one canvas`).toBe(1);
        const box = await canvas.boundingBox();
        expect(box?.width ?? 0, `${id} width`).toBeGreaterThan(200);
        expect(box?.height ?? 0, `${id} height`).toBeGreaterThan(100);
        // The canvas has ink: lines and axes were drawn, not just an empty box.
        const inked = await canvas.evaluate((el) => {
          // No DOM lib in this tsconfig: describe the little of HTMLCanvasElement used here.
          const c = el as unknown as { width: number; height: number; getContext(k: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
          return n;
        });
        expect(inked, `${id} drew something`).toBeGreaterThan(500);
        // uPlot's legend lists every policy.
        const legend = await page.locator(`[data-chart="${id}"] .u-legend`).innerText();
        for (const p of result.policies) expect(legend).toContain(p.name);
      }
      for (const id of SVG_CHARTS) {
        const svg = page.locator(`svg[data-chart="${id}"]`);
        const box = await svg.boundingBox();
        expect(box?.width ?? 0, `${id} width`).toBeGreaterThan(200);
        expect(await svg.locator('rect').count(), `${id} has 3 bars per policy + 3 legend swatches`).toBe(result.policies.length * 3 + 3);
      }
      expect(await page.locator('table.compare tbody tr').count()).toBe(result.policies.length);
      expect(await page.locator('h1').innerText()).toContain('synthetic-outage');

      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      console.log(`report screenshot: ${shot}`);

      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
    });
  });
});
