// A real VS Code extension for vpnns's tests: when the workbench opens (and whenever the test drops
// a trigger file), it calls a Gemini-style endpoint three ways — Node's https module, the global
// fetch, and the real @google/genai SDK (bundled in by esbuild) — and writes what happened, with the
// extension host's PID and network namespace, to $GEMINI_PROBE_DIR/result-<id>.json. It shows each
// round in the status bar, a notification and a "Gemini probe" panel beside the editor (a table: each
// way, its answer or error, the address the mock API saw it come from), which the test's screenshot
// of the workbench records.
//
// Settings come from the environment of code-server (apps.code-server.env in the vpnns config):
//   GEMINI_PROBE_BASE_URL  e.g. https://generativelanguage.googleapis.com
//   GEMINI_PROBE_DIR       a directory the user owns, polled for trigger-<pid>-<id> files
import * as vscode from 'vscode';
import https from 'node:https';
import { readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GoogleGenAI } from '@google/genai';

const MODEL = 'gemini-2.5-flash';
const TIMEOUT_MS = 10_000;
// The mock Gemini API names the address it saw the call come from (the real one does not).
const SEEN_FROM = 'x-mock-client-address';

function body(text) {
  return JSON.stringify({ contents: [{ role: 'user', parts: [{ text }] }] });
}

function replyText(json) {
  return JSON.parse(json).candidates?.[0]?.content?.parts?.map((p) => p.text ?? '').join('') ?? '';
}

function viaHttps(base, text) {
  return new Promise((resolve, reject) => {
    const url = new URL(`${base}/v1beta/models/${MODEL}:generateContent`);
    const req = https.request(url, { method: 'POST', timeout: TIMEOUT_MS, headers: { 'content-type': 'application/json', 'x-goog-api-key': 'test-key-not-secret' } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => (res.statusCode === 200 ? resolve({ text: replyText(data), seenFrom: res.headers[SEEN_FROM] }) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body(text));
  });
}

async function viaFetch(base, text) {
  const res = await fetch(`${base}/v1beta/models/${MODEL}:generateContent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': 'test-key-not-secret' },
    body: body(text),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return { text: replyText(await res.text()), seenFrom: res.headers.get(SEEN_FROM) ?? undefined };
}

async function viaSdk(base, text) {
  // One attempt: with the tunnel down the test wants the failure, not the SDK's back-off.
  const ai = new GoogleGenAI({ apiKey: 'test-key-not-secret', httpOptions: { baseUrl: base, timeout: TIMEOUT_MS, retryOptions: { attempts: 1 } } });
  const r = await ai.models.generateContent({ model: MODEL, contents: text });
  return { text: r.text ?? '', seenFrom: r.sdkHttpResponse?.headers?.[SEEN_FROM] };
}

function errorText(e) {
  const cause = e?.cause ? ` (${e.cause.code ?? e.cause.message ?? e.cause})` : '';
  return `${e?.code ? `${e.code}: ` : ''}${e?.message ?? String(e)}${cause}`;
}

async function timed(fn) {
  const t0 = Date.now();
  try {
    return { ok: true, ...(await fn()), ms: Date.now() - t0 };
  } catch (e) {
    return { ok: false, error: errorText(e), ms: Date.now() - t0 };
  }
}

async function probe(id, base, dir) {
  const [viaNodeHttps, viaGlobalFetch, viaGenaiSdk] = await Promise.all([
    timed(() => viaHttps(base, `gemini-probe ${id} via node https`)),
    timed(() => viaFetch(base, `gemini-probe ${id} via fetch`)),
    timed(() => viaSdk(base, `gemini-probe ${id} via @google/genai`)),
  ]);
  let netns = '';
  try {
    netns = readlinkSync('/proc/self/ns/net');
  } catch {
    /* not Linux */
  }
  const result = { id, pid: process.pid, uid: process.getuid?.(), netns, calls: { https: viaNodeHttps, fetch: viaGlobalFetch, sdk: viaGenaiSdk } };
  // Written whole, then renamed: the test never reads half a file.
  const tmp = join(dir, `.result-${id}.json`);
  writeFileSync(tmp, JSON.stringify(result));
  renameSync(tmp, join(dir, `result-${id}.json`));
  return result;
}

const WAYS = { https: 'node https', fetch: 'global fetch', sdk: '@google/genai' };

function summary(r) {
  return Object.entries(r.calls).map(([k, v]) => `${WAYS[k]} ${v.ok ? 'ok' : 'failed'}`).join(', ');
}

function escapeHtml(s) {
  return String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

/** The panel: one table per round, newest first. */
function panelHtml(base, rounds) {
  const tables = rounds.map((r) => {
    const rows = Object.entries(r.calls).map(([k, v]) =>
      `<tr><td>${WAYS[k]}</td><td class="${v.ok ? 'ok' : 'bad'}">${v.ok ? 'ok' : 'failed'}</td><td>${escapeHtml(v.ok ? v.text : v.error)}</td><td>${escapeHtml(v.seenFrom ?? '')}</td><td>${v.ms} ms</td></tr>`).join('');
    return `<h3>round ${escapeHtml(r.id)}: ${Object.values(r.calls).filter((c) => c.ok).length}/3 ok</h3>
<p>extension host: pid ${r.pid}, uid ${r.uid}, network namespace ${escapeHtml(r.netns)}</p>
<table><tr><th>way</th><th>result</th><th>answer or error</th><th>the mock API saw it from</th><th>time</th></tr>${rows}</table>`;
  }).join('');
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse} td,th{border:1px solid #999;padding:3px 6px;text-align:left;vertical-align:top} .ok{color:#080;font-weight:bold} .bad{color:#b00;font-weight:bold}</style></head>
<body><h2>Gemini probe (Node extension host)</h2><p>calls to ${escapeHtml(base)}</p>${tables}</body></html>`;
}

export function activate(context) {
  const base = process.env.GEMINI_PROBE_BASE_URL;
  const dir = process.env.GEMINI_PROBE_DIR;
  if (!base || !dir) return;
  const item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 100);
  item.text = 'Gemini probe: calling…';
  item.show();
  context.subscriptions.push(item);
  const panel = vscode.window.createWebviewPanel('geminiProbe', 'Gemini probe', { viewColumn: vscode.ViewColumn.Two, preserveFocus: true }, {});
  context.subscriptions.push(panel);
  const rounds = [];
  const run = (id) =>
    probe(id, base, dir).then(
      (r) => {
        item.text = `Gemini probe ${id}: ${Object.values(r.calls).filter((c) => c.ok).length}/3 ok`;
        item.tooltip = summary(r);
        rounds.unshift(r);
        panel.webview.html = panelHtml(base, rounds);
        void vscode.window.showInformationMessage(`Gemini probe ${id}: ${summary(r)}`);
      },
      (e) => void vscode.window.showErrorMessage(`Gemini probe ${id}: ${errorText(e)}`),
    );
  void run(`startup-${process.pid}`);
  // The test asks for another round (e.g. with the tunnel down) by creating trigger-<pid>-<id>.
  // Addressed by PID: an extension host of an earlier window (kept for reconnection) must not take it.
  const mine = new RegExp(`^trigger-${process.pid}-([A-Za-z0-9_-]{1,40})$`);
  const busy = new Set();
  const timer = setInterval(() => {
    let names = [];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const m = mine.exec(n);
      if (!m || busy.has(m[1])) continue;
      busy.add(m[1]);
      rmSync(join(dir, n), { force: true });
      void run(m[1]).finally(() => busy.delete(m[1]));
    }
  }, 300);
  context.subscriptions.push({ dispose: () => clearInterval(timer) });
}

export function deactivate() {}
