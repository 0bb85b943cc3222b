// A real VS Code extension for vpnns's tests: when the workbench opens it shows a webview that
// loads an image from each of $WEBVIEW_PROBE_URLS, fetches each of them, and tries WebRTC with a
// STUN server ($WEBVIEW_PROBE_STUN). The extension itself runs in the Node extension host (inside
// the namespace); the webview runs in the user's browser, so its requests leave from wherever that
// browser is. The webview reports back what it saw; the extension writes it to
// $WEBVIEW_PROBE_DIR/webview-<id>.json; a trigger-webview-<pid>-<id> file there asks for another round. Where the requests came from is what the echo service logs.
// With $WEBVIEW_PROBE_FRAME (the echo service's "/", which answers with the caller's address) the
// webview also shows that page in a frame, so a screenshot shows where the browser's requests leave from.
import * as vscode from 'vscode';
import { readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

function html(id, urls, stun, frame) {
  const cfg = JSON.stringify({ id, urls, stun, frame }).replaceAll('<', '\\u003c');
  const shown = frame
    ? `<p>the echo service (${escapeHtml(frame)}) says this browser's requests come from: <iframe id="frame" style="height:2.2em;width:14em;border:1px solid #999;vertical-align:middle"></iframe></p>`
    : '';
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>webview probe</title></head>
<body>
<h2>webview probe ${id}</h2>
${shown}
<div id="imgs"></div>
<pre id="out">running…</pre>
<script>
const cfg = ${cfg};
const vscode = acquireVsCodeApi();
const withId = (u, kind) => u + (u.includes('?') ? '&' : '?') + 'probe=' + kind + '&id=' + encodeURIComponent(cfg.id);
async function fetchOne(u) {
  const t0 = Date.now();
  try {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 10000);
    const r = await fetch(withId(u, 'fetch'), { mode: 'no-cors', cache: 'no-store', signal: ctl.signal });
    clearTimeout(timer);
    return { url: u, ok: true, type: r.type, ms: Date.now() - t0 };
  } catch (e) {
    return { url: u, ok: false, error: String(e && e.message || e), ms: Date.now() - t0 };
  }
}
function imageOne(u) {
  return new Promise((resolve) => {
    const img = new Image();
    const t0 = Date.now();
    // The echo service answers 404 to this path: onerror fires either way; the request is what counts.
    img.onload = () => resolve({ url: u, event: 'load', ms: Date.now() - t0 });
    img.onerror = () => resolve({ url: u, event: 'error', ms: Date.now() - t0 });
    img.src = withId(u, 'img');
    document.getElementById('imgs').appendChild(img);
  });
}
async function webrtc() {
  if (!cfg.stun) return undefined;
  try {
    const pc = new RTCPeerConnection({ iceServers: [{ urls: cfg.stun }] });
    const candidates = [];
    pc.onicecandidate = (e) => { if (e.candidate) candidates.push(e.candidate.candidate); };
    pc.createDataChannel('probe');
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((r) => { const t = setTimeout(r, 4000); pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') { clearTimeout(t); r(); } }; });
    pc.close();
    return { candidates };
  } catch (e) {
    return { error: String(e && e.message || e) };
  }
}
async function run(id) {
  cfg.id = id;
  document.getElementById('out').textContent = 'running ' + id + '…';
  // Loaded again each round (with the tunnel down it shows the browser's error page instead).
  if (cfg.frame) document.getElementById('frame').src = withId(cfg.frame, 'frame');
  const [images, fetches, rtc] = await Promise.all([Promise.all(cfg.urls.map(imageOne)), Promise.all(cfg.urls.map(fetchOne)), webrtc()]);
  const report = { id, origin: location.origin, images, fetches, webrtc: rtc };
  document.getElementById('out').textContent = JSON.stringify(report, null, 2);
  vscode.postMessage(report);
}
// The extension asks for another round (the test's trigger file) with {rerun: id}.
window.addEventListener('message', (e) => { if (e.data && typeof e.data.rerun === 'string') void run(e.data.rerun); });
void run(cfg.id);
</script>
</body></html>`;
}

export function activate(context) {
  const urls = (process.env.WEBVIEW_PROBE_URLS ?? '').split(',').filter(Boolean);
  const dir = process.env.WEBVIEW_PROBE_DIR;
  if (!urls.length || !dir) return;
  const id = `${process.pid}-${Date.now()}`;
  const panel = vscode.window.createWebviewPanel('webviewProbe', 'Webview probe', vscode.ViewColumn.One, { enableScripts: true });
  panel.webview.onDidReceiveMessage(
    (report) => {
      const name = /^[A-Za-z0-9_-]{1,60}$/.test(String(report?.id)) ? report.id : id;
      const tmp = join(dir, `.webview-${name}.json`);
      writeFileSync(tmp, JSON.stringify({ ...report, extensionHostPid: process.pid }));
      renameSync(tmp, join(dir, `webview-${name}.json`));
    },
    undefined,
    context.subscriptions,
  );
  panel.webview.html = html(id, urls, process.env.WEBVIEW_PROBE_STUN ?? '', process.env.WEBVIEW_PROBE_FRAME ?? '');
  context.subscriptions.push(panel);
  // The test asks the webview for another round (e.g. with the tunnel down) by creating trigger-webview-<pid>-<id>
  // (by PID: an extension host of an earlier window, kept for reconnection, must not take it).
  const mine = new RegExp(`^trigger-webview-${process.pid}-([A-Za-z0-9_-]{1,40})$`);
  const timer = setInterval(() => {
    let names = [];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const m = mine.exec(n);
      if (!m) continue;
      rmSync(join(dir, n), { force: true });
      void panel.webview.postMessage({ rerun: m[1] });
    }
  }, 300);
  context.subscriptions.push({ dispose: () => clearInterval(timer) });
}

export function deactivate() {}
