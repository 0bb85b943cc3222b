// A person's long editor session: logs in to code-server in headless Chromium, waits for the
// workbench and its WebSocket, then stays. Each line "report" on stdin prints one JSON line with the
// WebSockets the page opened (url, frames received, closed or not); "quit" closes the browser.
// Run it in the namespace whose 127.0.0.1 the app is published on (nsenter), like code-server-browser.
//
//   node code-server-session.js URL      (password in $CODE_SERVER_PASSWORD)
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export interface SessionReport {
  ready: boolean;
  error?: string;
  websockets: Array<{ url: string; framesReceived: number; closed: boolean }>;
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

async function main(): Promise<void> {
  const [url] = process.argv.slice(2);
  if (!url) throw new Error('usage: code-server-session URL');
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: FLAGS, timeout: 60_000 });
  const report: SessionReport = { ready: false, websockets: [] };
  const print = () => process.stdout.write(`${JSON.stringify(report)}\n`);
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    page.on('websocket', (ws) => {
      const rec = { url: ws.url(), framesReceived: 0, closed: false };
      report.websockets.push(rec);
      ws.on('framereceived', () => rec.framesReceived++);
      ws.on('close', () => (rec.closed = true));
    });
    try {
      await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 30_000 });
      await page.fill('input[name="password"]', process.env.CODE_SERVER_PASSWORD ?? '');
      await Promise.all([page.waitForNavigation({ timeout: 30_000 }).catch(() => undefined), page.click('[type="submit"]')]);
      await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && !report.websockets.some((s) => s.framesReceived > 2)) await page.waitForTimeout(250);
      report.ready = report.websockets.some((s) => s.framesReceived > 2);
    } catch (e) {
      report.error = (e as Error).message.split('\n')[0];
    }
    print();
    for await (const line of createInterface({ input: process.stdin })) {
      if (line.trim() === 'quit') break;
      print();
    }
  } finally {
    await browser.close();
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().catch((e: unknown) => {
    process.stderr.write(`code-server-session: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
