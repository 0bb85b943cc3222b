// Opens code-server in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) and
// prints one JSON object: what a person would see without the password and with it. Run it in the
// network namespace whose 127.0.0.1 the app is published on (the test runs it with nsenter), so the
// browser's traffic is the host's.
//
//   node code-server-browser.js URL SCREENSHOT     (password in $CODE_SERVER_PASSWORD)
import { chromium, type Browser, type Page } from 'playwright-core';

export interface BrowserReport {
  withoutPassword: { url: string; loginForm: boolean; workbench: boolean; title: string };
  withPassword?: {
    url: string;
    workbench: boolean;
    /** WebSockets the workbench opened, and whether each received a frame (the remote connection works). */
    websockets: Array<{ url: string; framesReceived: number; closed: boolean }>;
    screenshot?: string;
    error?: string;
  };
  wrongPassword?: { stillLogin: boolean; message: string };
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

async function hasSelector(page: Page, sel: string, timeout: number): Promise<boolean> {
  try {
    await page.waitForSelector(sel, { timeout });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const [url, screenshot] = process.argv.slice(2);
  const password = process.env.CODE_SERVER_PASSWORD ?? '';
  if (!url) throw new Error('usage: code-server-browser URL [SCREENSHOT]');
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: FLAGS, timeout: 60_000 });
    const report: Partial<BrowserReport> = {};

    // 1. No password: the login page and nothing of the workbench.
    const anon = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p1 = await anon.newPage();
    await p1.goto(url, { waitUntil: 'domcontentloaded', timeout: 30_000 });
    const loginForm = await hasSelector(p1, 'input[name="password"]', 10_000);
    report.withoutPassword = { url: p1.url(), loginForm, workbench: (await p1.$('.monaco-workbench')) !== null, title: await p1.title() };

    // 2. A wrong password keeps us on the login page.
    if (loginForm) {
      await p1.fill('input[name="password"]', 'not-the-password');
      await Promise.all([p1.waitForLoadState('domcontentloaded'), p1.click('[type="submit"]')]);
      const message = ((await p1.$eval('.error', (e) => e.textContent).catch(() => '')) ?? '').trim();
      report.wrongPassword = { stillLogin: (await p1.$('input[name="password"]')) !== null && !(await p1.$('.monaco-workbench')), message };
    }
    await anon.close();

    // 3. With the password: the workbench loads and its WebSocket to the server carries frames.
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    const sockets: NonNullable<BrowserReport['withPassword']>['websockets'] = [];
    page.on('websocket', (ws) => {
      const rec = { url: ws.url(), framesReceived: 0, closed: false };
      sockets.push(rec);
      ws.on('framereceived', () => rec.framesReceived++);
      ws.on('close', () => (rec.closed = true));
    });
    const withPassword: NonNullable<BrowserReport['withPassword']> = { url: '', workbench: false, websockets: sockets };
    report.withPassword = withPassword;
    try {
      await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 30_000 });
      await page.fill('input[name="password"]', password);
      await Promise.all([page.waitForNavigation({ timeout: 30_000 }).catch(() => undefined), page.click('[type="submit"]')]);
      withPassword.workbench = await hasSelector(page, '.monaco-workbench', 90_000);
      // The workbench talks to the server over its WebSocket once the remote extension host is up.
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && !sockets.some((s) => s.framesReceived > 2)) await page.waitForTimeout(250);
      // Let the explorer and status bar settle so the screenshot shows a working editor.
      await hasSelector(page, '.statusbar', 10_000);
      await page.waitForTimeout(2000);
      withPassword.url = page.url();
      if (screenshot) {
        await page.screenshot({ path: screenshot });
        withPassword.screenshot = screenshot;
      }
    } catch (e) {
      withPassword.error = (e as Error).message.split('\n')[0];
      withPassword.url = page.url();
    }
    await ctx.close();
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    await browser?.close();
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().catch((e: unknown) => {
    process.stderr.write(`code-server-browser: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
