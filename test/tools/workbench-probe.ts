// Opens code-server's workbench in headless Chromium, logs in, and waits until the test extensions
// have written their results (files matching the given patterns in a directory), then takes a
// screenshot and prints one JSON line. The test runs it either in the world's host namespace (the
// plain browser, the user's everyday one) or inside the VPN namespace with the flags `vpnns browser
// --print` gives (the confined browser).
//
//   node workbench-probe.js     (settings as JSON in $WORKBENCH_PROBE, password in $CODE_SERVER_PASSWORD)
import { existsSync, readdirSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';

export interface WorkbenchProbeSettings {
  url: string;
  executablePath: string;
  /** Browser flags besides --headless (which playwright adds) and the profile directory. */
  args: string[];
  userDataDir: string;
  /** Wait for one file matching each of these in `dir`. */
  dir: string;
  waitFor: string[];
  timeoutMs: number;
  screenshot?: string;
  /** Keep the page open until this file exists (the test triggers more rounds meanwhile). */
  holdUntil?: string;
  holdMs?: number;
}

export interface WorkbenchProbeReport {
  workbench: boolean;
  files: string[];
  missing: string[];
  screenshot?: string;
  error?: string;
}

async function main(): Promise<void> {
  const s = JSON.parse(process.env.WORKBENCH_PROBE ?? '{}') as WorkbenchProbeSettings;
  const password = process.env.CODE_SERVER_PASSWORD ?? '';
  const report: WorkbenchProbeReport = { workbench: false, files: [], missing: [] };
  let ctx: BrowserContext | undefined;
  try {
    ctx = await chromium.launchPersistentContext(s.userDataDir, { executablePath: s.executablePath, args: s.args, headless: true, timeout: 60_000, viewport: { width: 1280, height: 800 } });
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    await page.goto(s.url, { waitUntil: 'domcontentloaded', timeout: 30_000 });
    if (await page.$('input[name="password"]')) {
      await page.fill('input[name="password"]', password);
      await Promise.all([page.waitForNavigation({ timeout: 30_000 }).catch(() => undefined), page.click('[type="submit"]')]);
    }
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
    report.workbench = true;
    const deadline = Date.now() + s.timeoutMs;
    const patterns = s.waitFor.map((p) => new RegExp(p));
    for (;;) {
      const names = readdirSync(s.dir);
      report.files = names.filter((n) => patterns.some((p) => p.test(n)));
      report.missing = s.waitFor.filter((_, i) => !names.some((n) => patterns[i]!.test(n)));
      if (!report.missing.length || Date.now() > deadline) break;
      await page.waitForTimeout(300);
    }
    // Let the notification and the webview paint, so the screenshot shows the results.
    await page.waitForTimeout(1500);
    if (s.screenshot) {
      await page.screenshot({ path: s.screenshot });
      report.screenshot = s.screenshot;
    }
    if (s.holdUntil) {
      const until = Date.now() + (s.holdMs ?? 120_000);
      while (!existsSync(s.holdUntil) && Date.now() < until) await page.waitForTimeout(200);
    }
  } catch (e) {
    report.error = (e as Error).message.split('\n')[0];
  } finally {
    await ctx?.close().catch(() => undefined);
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().catch((e: unknown) => {
    process.stderr.write(`workbench-probe: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
