// A plug-in wan service that answers like the Gemini API (generativelanguage.googleapis.com):
// generateContent (JSON), streamGenerateContent (?alt=sse: server-sent events) and the models list.
// Every call is logged with the caller's address, the model and whether an API key came with it,
// so a test can tell that a program reached "Google" and from which address. Answers carry that
// address in x-mock-client-address too, so a program can show where its call came from (a test's
// judge stays the log).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpModuleContext } from './http-services.js';

export interface MockGeminiOptions {
  /** The text every answer carries. */
  reply: string;
}

export interface MockGeminiLog {
  kind: 'gemini';
  from: string;
  method: string;
  path: string;
  model?: string;
  apiKey: boolean;
  /** The first user text of the request, if any (shortened). */
  prompt?: string;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      if (body.length < 1_000_000) body += d;
    });
    req.on('end', () => resolve(body));
    req.on('error', () => resolve(body));
  });
}

function firstUserText(body: string): string | undefined {
  try {
    const j = JSON.parse(body) as { contents?: Array<{ role?: string; parts?: Array<{ text?: string }> }> };
    const user = j.contents?.filter((c) => c.role !== 'model').pop();
    return user?.parts?.map((p) => p.text ?? '').join('').slice(0, 200);
  } catch {
    return undefined;
  }
}

function candidate(text: string) {
  return {
    candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 },
    modelVersion: 'gemini-2.5-flash',
  };
}

export default async function mockGemini(req: IncomingMessage, res: ServerResponse, ctx: HttpModuleContext): Promise<void> {
  const { reply } = (ctx.options ?? { reply: 'hello from the mock' }) as MockGeminiOptions;
  const url = new URL(req.url ?? '/', 'https://x');
  const body = await readBody(req);
  const m = /^(?:\/v1(?:beta)?)?\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(url.pathname);
  const apiKey = Boolean(req.headers['x-goog-api-key'] ?? url.searchParams.get('key'));
  const entry: MockGeminiLog = { kind: 'gemini', from: ctx.from, method: req.method ?? 'GET', path: url.pathname, apiKey, ...(m && { model: m[1] }) };
  const prompt = firstUserText(body);
  if (prompt) entry.prompt = prompt;
  ctx.log(entry);
  res.setHeader('x-mock-client-address', ctx.from);
  if (m && req.method === 'POST') {
    if (m[2] === 'streamGenerateContent') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.end(`data: ${JSON.stringify(candidate(reply))}\r\n\r\n`);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(candidate(reply)));
    }
    return;
  }
  if (/^\/v1(beta)?\/models\/?$/.test(url.pathname)) {
    const model = { name: 'models/gemini-2.5-flash', displayName: 'Gemini 2.5 Flash (mock)', supportedGenerationMethods: ['generateContent', 'streamGenerateContent'] };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ models: [model] }));
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 404, message: `mock: no ${url.pathname}`, status: 'NOT_FOUND' } }));
}
