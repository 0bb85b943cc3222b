// Opens code-server's workbench in headless Chromium, logs in, and waits until the test extensions
// have written their results (files matching the given patterns in a directory), then takes a
// screenshot and prints one JSON line. While the page is held open it can take more screenshots,
// each once the files of a later round are there (e.g. the round with the tunnel down). The test runs it either in the world's host namespace (the
// plain browser, the user's everyday one) or inside the VPN namespace with the flags `vpnns browser
// --print` gives (the confined browser).
//
//   node workbench-probe.js     (settings as JSON in $WORKBENCH_PROBE, password in $CODE_SERVER_PASSWORD)
import { existsSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** A screenshot taken while the page is held, once a file matching each pattern is in `dir`. */
export interface LaterShot {
  waitFor: string[];
  path: string;
}

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
  later?: LaterShot[];
}

export interface WorkbenchProbeReport {
  workbench: boolean;
  files: string[];
  missing: string[];
  screenshot?: string;
  /** The later screenshots taken. */
  shots: string[];
  error?: string;
}

const present = (dir: string, patterns: string[]): boolean => {
  const names = readdirSync(dir);
  return patterns.every((p) => names.some((n) => new RegExp(p).test(n)));
};

/** Written whole, then renamed: whoever waits for the file never sees half a PNG. */
async function shoot(page: Page, path: string): Promise<void> {
  // Let the notification and the webviews paint, so the screenshot shows the results.
  await page.waitForTimeout(1500);
  const png = await page.screenshot();
  writeFileSync(`${path}.tmp`, png);
  renameSync(`${path}.tmp`, path);
}

async function main(): Promise<void> {
  const s = JSON.parse(process.env.WORKBENCH_PROBE ?? '{}') as WorkbenchProbeSettings;
  const password = process.env.CODE_SERVER_PASSWORD ?? '';
  const report: WorkbenchProbeReport = { workbench: false, files: [], missing: [], shots: [] };
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
    if (s.screenshot) {
      await shoot(page, s.screenshot);
      report.screenshot = s.screenshot;
    }
    if (s.holdUntil) {
      const until = Date.now() + (s.holdMs ?? 120_000);
      const pending = [...(s.later ?? [])];
      for (;;) {
        // Read before the shots: a round the test saw finished before it ended the hold is still shot.
        const done = existsSync(s.holdUntil);
        for (const shot of pending.filter((p) => present(s.dir, p.waitFor))) {
          await shoot(page, shot.path);
          report.shots.push(shot.path);
          pending.splice(pending.indexOf(shot), 1);
        }
        if (done || Date.now() > until) break;
        await page.waitForTimeout(200);
      }
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
