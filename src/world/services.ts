// Entry point run inside a world namespace:
//   ip netns exec <ns> node dist/src/world/services.js CONFIG.json
// Starts every service in the config, prints "ready" on stdout once all
// listen (the parent waits for that line), and runs until killed. Only
// "ready" goes to stdout so the parent may stop reading without the
// process ever blocking or failing on a full or closed pipe.
import { readFileSync } from 'node:fs';
import { startDnsServer } from './dns-server.js';
import { startEcho, startHttpModule } from './http-services.js';
import type { ServiceConfig, ServicesFile } from './service-config.js';

type Stop = () => Promise<void>;

function start(s: ServiceConfig): Promise<Stop> {
  switch (s.kind) {
    case 'dns': return startDnsServer(s);
    case 'echo': return startEcho(s);
    case 'http-module': return startHttpModule(s);
  }
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: services.js CONFIG.json');
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as ServicesFile;
  const stops = await Promise.all(cfg.services.map(start));
  const shutdown = (): void => {
    void Promise.allSettled(stops.map((s) => s())).then(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.stdout.write('ready\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`services: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
