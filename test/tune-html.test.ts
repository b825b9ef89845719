/**
 * Opens a rendered tuning report.html in Debian's Chromium (headless, offline): every chart drew (Pareto fronts,
 * a heatmap per pair of parameters, a sensitivity chart per parameter), the ranked table and the best policy are
 * there, the page logged no errors and fetched nothing. A screenshot is saved next to the HTML.
 * In CI a missing /usr/bin/chromium fails this test; elsewhere it is skipped with the reason.
 */
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { CHROMIUM, browserTest, withOfflinePage } from './helpers/offline-browser.js';
import { bestPolicy, rankingOf } from '../harness/tune/document.js';
import { syntheticSweep } from '../harness/tune/fixture.js';
import { renderTuneHtml } from '../harness/tune/report-html.js';
import { parsePolicy } from '../src/policy.js';


describe('tuning report in a real browser', () => {
  browserTest(`renders every chart offline without console errors (needs ${CHROMIUM})`, async () => {
    const doc = syntheticSweep([1, 2, 3]);
    const ranking = rankingOf(doc);
    const dir = mkdtempSync(join(tmpdir(), 'tune-html-'));
    const htmlPath = join(dir, 'report.html');
    const html = renderTuneHtml(doc);
    writeFileSync(htmlPath, html);
    expect(renderTuneHtml(doc)).toBe(html); // pure: same input, same bytes

    await withOfflinePage(htmlPath, 'tuning report', async (page, { errors, requests }) => {

      const box = async (selector: string): Promise<{ width: number; height: number }> => {
        const b = await page.locator(selector).boundingBox();
        return { width: b?.width ?? 0, height: b?.height ?? 0 };
      };
      // Pareto charts: one dot per configuration, the front drawn, each dot inside the plot.
      for (const id of ['pareto-e2e', 'pareto-ttft']) {
        const b = await box(`svg[data-chart="${id}"]`);
        expect(b.width, `${id} width`).toBeGreaterThan(300);
        expect(b.height, `${id} height`).toBeGreaterThan(200);
        expect(await page.locator(`svg[data-chart="${id}"] circle.point`).count()).toBe(24);
        expect(await page.locator(`svg[data-chart="${id}"] circle.on-front`).count()).toBeGreaterThan(0);
        expect(await page.locator(`svg[data-chart="${id}"] path.front`).count()).toBe(1);
        expect(await page.locator(`svg[data-chart="${id}"] line.whisker`).count()).toBeGreaterThan(0); // 3 seeds: spread shown
      }
      // A heatmap per pair of the 3 parameters; 4×3, 4×2 and 3×2 cells, all run.
      const cells = [12, 8, 6];
      for (const [i, n] of cells.entries()) {
        expect((await box(`svg[data-chart="heat-${i}"]`)).width).toBeGreaterThan(200);
        expect(await page.locator(`svg[data-chart="heat-${i}"] rect.cell`).count()).toBe(n);
      }
      expect(await page.locator('svg[data-chart^="heat-"]').count()).toBe(3);
      // A sensitivity chart per parameter: a goodput panel and a latency panel, a point per value in each.
      const values = [4, 3, 2];
      for (const [i, n] of values.entries()) {
        expect((await box(`svg[data-chart="sens-${i}"]`)).width).toBeGreaterThan(300);
        expect(await page.locator(`svg[data-chart="sens-${i}"] circle.point`).count()).toBe(2 * n);
        expect(await page.locator(`svg[data-chart="sens-${i}"] path.line-slice`).count()).toBe(2);
      }
      // The ranked table, the best configuration and its policy.
      expect(await page.locator('table.ranked tbody tr').count()).toBe(24);
      expect(await page.locator('table.ranked tbody tr.best').count()).toBe(1);
      const best = ranking.best!;
      expect(await page.locator('table.ranked tbody tr').first().innerText()).toContain(best.id);
      expect(await page.locator(`[data-best="${best.id}"]`).count()).toBe(1);
      const policyText = await page.locator('pre.policy').textContent();
      expect(parsePolicy(JSON.parse(policyText ?? 'null'))).toEqual(bestPolicy(doc));
      // With 3 seeds, figures carry their spread and the noise note is shown.
      expect(await page.locator('table.ranked tbody tr').first().innerText()).toMatch(/\[[\d.]+–[\d.]+\]/);
      expect(await page.locator('.note').innerText()).toMatch(/seeds/);
      expect(await page.locator('h1').innerText()).toContain('a configuration meets the SLOs');

      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      console.log(`tuning report screenshot: ${shot}`);

      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
    });
  });
});
