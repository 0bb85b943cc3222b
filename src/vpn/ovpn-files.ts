// The files an .ovpn names (ca, cert, key, tls-auth, ...): OpenVPN opens them as root when it
// starts, so run as root vpnns holds each to the same rule as the .ovpn itself (config/trust.ts)
// before OpenVPN gets to read it. Inline blocks (<ca>...</ca>) need nothing: they are in the file.
import { resolve } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { checkTrustedPath, trustRequired, untrusted, type TrustKind } from '../config/trust.js';
import type { OvpnConfig } from './ovpn.js';

/** Options whose first argument is a path OpenVPN opens, and what kind of thing it must be. */
const PATH_OPTIONS: Record<string, TrustKind> = {
  ca: 'file', capath: 'directory', cert: 'file', key: 'file', 'extra-certs': 'file', pkcs12: 'file', dh: 'file',
  'tls-auth': 'file', 'tls-crypt': 'file', 'tls-crypt-v2': 'file', secret: 'file', 'crl-verify': 'file',
  'auth-user-pass': 'file', askpass: 'file', 'http-proxy-user-pass': 'file', 'replay-persist': 'file',
  'tls-export-cert': 'directory', 'tmp-dir': 'directory', cd: 'directory',
};

/** Arguments that are not paths: inline data, a prompt, no file. */
const NOT_A_PATH = new Set(['[inline]', 'stdin', 'none']);

/** Every path the config names, resolved the way OpenVPN will (from `baseDir`, then from each `cd`). */
export function ovpnPaths(cfg: OvpnConfig, baseDir: string): Array<{ option: string; path: string; line: number; kind: TrustKind }> {
  const out: Array<{ option: string; path: string; line: number; kind: TrustKind }> = [];
  let dir = baseDir;
  for (const item of cfg.items) {
    if (item.kind !== 'option') continue;
    const kind = PATH_OPTIONS[item.name];
    const arg = item.args[0];
    if (kind === undefined || arg === undefined || NOT_A_PATH.has(arg)) continue;
    const path = resolve(dir, arg);
    out.push({ option: item.name, path, line: item.line, kind });
    if (item.name === 'cd') dir = path;
  }
  return out;
}

/** Throws one sentence (exit 2) for the first path OpenVPN would open as root that root does not alone control. */
export function assertTrustedOvpnPaths(cfg: OvpnConfig, file: string, baseDir: string): void {
  if (!trustRequired()) return;
  for (const p of ovpnPaths(cfg, baseDir)) {
    // A missing file is OpenVPN's to report, unless someone else could create it in time.
    const v = checkTrustedPath(p.path, { kind: p.kind, allowMissing: true });
    if (v.trusted) continue;
    const { detail } = untrusted(`"${p.option}"`, p.path, v);
    throw new ConfigError({ file, line: p.line, path: '', detail: `"${p.option}" names a file OpenVPN reads as root; ${detail}` });
  }
}
