// `--namespace NS` overrides the config's name, and every root path is built from it
// (/run/vpnns/<ns>, /etc/netns/<ns>, <logDir>/<ns>, unit names): each command that takes it, and
// the parts the systemd units run, check it by the config's own rule (config/namespace-name.ts)
// before anything is read or made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import type { Command, Io } from '../../src/cli/command.js';
import { preparePart, vpnPart } from '../../src/systemd/run-parts.js';

const CLI_DIR = fileURLToPath(new URL('../../src/cli/', import.meta.url));
const BAD = ['../x', 'a/b', '..', 'abcdefghijklmnop', 'Upper', '-lead'];
const sentence = (bad: string) => `vpnns: --namespace ${JSON.stringify(bad)} is not a namespace name; use 1 to 15 lowercase letters, digits or \`-\`, starting with a letter or digit (e.g. vpn-ns).`;

/** Every command of src/cli that takes --namespace: declared in its options, or read by its own parser. */
async function commandsTakingNamespace(): Promise<string[]> {
  const out: string[] = [];
  for (const f of readdirSync(CLI_DIR).filter((n) => n.endsWith('.js'))) {
    const mod = (await import(new URL(f, `file://${CLI_DIR}`).href)) as Record<string, unknown>;
    for (const v of Object.values(mod)) {
      const c = v as Partial<Command>;
      if (!c || typeof c !== 'object' || typeof c.name !== 'string' || typeof c.run !== 'function') continue;
      const takes = c.options?.namespace !== undefined || (c.parse !== undefined && c.parse(['--namespace', 'x']).opts.namespace === 'x');
      if (takes) out.push(c.name);
    }
  }
  return out.sort();
}

test('every command that takes --namespace refuses a bad name, written either way: one sentence, exit 2', async () => {
  const commands = await commandsTakingNamespace();
  // The list is found, not written down, so a new command cannot miss the rule; these must be in it.
  for (const c of ['app', 'browser', 'exec', 'kilo', 'logs', 'publish', 'run', 'status', 'supervise', 'systemd']) assert.ok(commands.includes(c), `${c} takes --namespace`);
  // A subcommand each, so a command that checks its arguments first would still have to get there.
  const sub: Record<string, string[]> = { app: ['start', 'code-server'], publish: ['add', '8080'], run: ['prepare', 'socks'], systemd: ['uninstall'] };
  for (const bad of BAD) {
    for (const c of commands) {
      for (const form of [['--namespace', bad], [`--namespace=${bad}`]]) {
        const errs: string[] = [];
        const outs: string[] = [];
        const io: Io = { out: (l = '') => outs.push(l), err: (l) => errs.push(l), isTTY: false };
        const argv = [c, ...(sub[c] ?? []), ...form];
        const code = await main(argv, io);
        assert.equal(code, 2, `${argv.join(' ')}: ${errs.join('\n')}`);
        assert.deepEqual(errs, [sentence(bad)], argv.join(' '));
        assert.deepEqual(outs, [], argv.join(' '));
      }
    }
  }
});

test('the parts the systemd units run (`vpnns run vpn|prepare`) check the name themselves too', async () => {
  for (const bad of BAD) {
    await assert.rejects(vpnPart(bad, () => {}), /is not a namespace name/, bad);
    await assert.rejects(preparePart(bad, 'socks'), /is not a namespace name/, bad);
  }
});
