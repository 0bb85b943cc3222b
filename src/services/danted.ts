// The SOCKS5 proxy: Dante (danted) inside the namespace, listening on the namespace's veth address
// and pinned to the tunnel interface, so it fails closed when the tunnel goes away.
//
// Username/password auth: Dante only checks passwords against the system user database
// (`socksmethod: username` reads passwd/shadow; `pam.*` goes through PAM). PAM with pam_exec does
// not work — Dante's children ignore SIGCHLD, so pam_exec's waitpid fails and every login is a
// "System error". Instead danted gets its own view of /etc/passwd and /etc/shadow: a private mount
// namespace in which two files we write are bind-mounted over them. The SOCKS user exists only for
// danted; no account is added to the machine, and nothing outside the state directory changes.
import { createHash, randomBytes } from 'node:crypto';

export const DANTED = '/usr/sbin/danted';

export interface DantedConfOptions {
  /** The namespace's own address (the veth end inside the namespace). */
  listen: string;
  port: number;
  /** The tunnel interface; Dante sends everything out through its address. */
  external: string;
  /** Client addresses or CIDRs allowed to use the proxy, e.g. ["10.0.0.1/32"] (the host end). */
  allowFrom: string[];
  /** Require a SOCKS username/password, checked against the private passwd/shadow (see socksUserDb); the name itself is not written here. */
  auth?: { username: string };
  logFile: string;
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;
const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;
const PATH = /^\/[^\s"\\{}#]*$/;

function cidr(addr: string): string {
  const [ip, prefix = '32', ...rest] = addr.split('/');
  const p = Number(prefix);
  // A /0 would hand the proxy to everyone who can reach the namespace.
  if (rest.length || !IPV4.test(ip!) || !/^\d{1,2}$/.test(prefix) || p > 32 || p === 0) {
    throw new Error(`danted: expected an IPv4 address or CIDR (not /0) to allow, got "${addr}"`);
  }
  return `${ip}/${p}`;
}

function check(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new Error(`danted: invalid ${what}: ${JSON.stringify(value)}`);
}

export function renderDantedConf(opts: DantedConfOptions): string {
  check(IPV4.test(opts.listen) && opts.listen !== '0.0.0.0', 'listen address', opts.listen);
  check(Number.isInteger(opts.port) && opts.port >= 1 && opts.port <= 65535, 'port', opts.port);
  // A wildcard or pattern here would be taken literally; 0.0.0.0 is rejected by Dante anyway.
  check(IFNAME.test(opts.external) && !opts.external.includes('*'), 'external interface', opts.external);
  check(PATH.test(opts.logFile), 'log file', opts.logFile);
  check(opts.allowFrom.length > 0, 'allowFrom (empty: nobody could use the proxy)', opts.allowFrom);
  const allow = [...new Set(opts.allowFrom.map(cidr))];
  const method = opts.auth ? 'username' : 'none';

  const lines = [
    '# Written by vpnns on every start; edits are lost.',
    `logoutput: ${opts.logFile}`,
    `internal: ${opts.listen} port = ${opts.port}`,
    `external: ${opts.external}`,
    // Client rules run before the SOCKS handshake, so the password is a socks-level method.
    'clientmethod: none',
    `socksmethod: ${method}`,
    'user.privileged: root',
    'user.unprivileged: nobody',
    '',
  ];
  for (const a of allow) {
    lines.push('client pass {', `  from: ${a} to: 0/0`, '  log: error', '}');
  }
  lines.push('client block {', '  from: 0/0 to: 0/0', '  log: connect error', '}', '');
  for (const a of allow) {
    // `0/0` is any address of either family, so destinations reached by name over IPv6 work too.
    lines.push('socks pass {', `  from: ${a} to: 0/0`, '  command: connect udpassociate', '  log: error', '}');
    lines.push('socks pass {', `  from: 0/0 to: ${a}`, '  command: udpreply', '  log: error', '}');
  }
  lines.push('socks block {', '  from: 0/0 to: 0/0', '  log: connect error', '}');
  return lines.join('\n') + '\n';
}

export function dantedArgv(conf: string, pidFile: string): string[] {
  return [DANTED, '-f', conf, '-p', pidFile, '-N', '1'];
}

/**
 * Runs `argv` with `passwd` and `shadow` bind-mounted over /etc/passwd and /etc/shadow in a
 * private mount namespace of its own (`unshare --mount` makes propagation private, so the host
 * never sees the mounts). The shell script is constant; the paths arrive as positional arguments.
 */
export function withPrivateUserDb(passwd: string, shadow: string, argv: string[]): string[] {
  return [
    '/usr/bin/unshare', '--mount', '--',
    '/bin/sh', '-c', 'mount --bind -- "$1" /etc/passwd && mount --bind -- "$2" /etc/shadow && shift 2 && exec "$@"',
    'vpnns-socks-auth', passwd, shadow, ...argv,
  ];
}

export interface UserDb {
  /** For /etc/passwd (0644). */
  passwd: string;
  /** For /etc/shadow (0600): holds the password hash. */
  shadow: string;
}

/** Names Dante itself looks up; a SOCKS user by these names would shadow them. */
const RESERVED_USERS = new Set(['root', 'nobody']);

/**
 * The passwd and shadow danted sees: root and nobody as on the host (Dante switches to them), plus
 * the SOCKS user with no shell and no home. `hostPasswd` is the host's /etc/passwd.
 */
export function socksUserDb(hostPasswd: string, username: string, password: string, salt?: string): UserDb {
  check(/^[^\s:]{1,255}$/.test(username) && !RESERVED_USERS.has(username), 'SOCKS username (not root or nobody, no spaces or `:`)', username);
  check(password.length > 0 && !/[\0\n]/.test(password), 'SOCKS password', '(hidden)');
  const keep = hostPasswd.split('\n').filter((l) => RESERVED_USERS.has(l.split(':')[0]!));
  for (const u of RESERVED_USERS) {
    if (!keep.some((l) => l.startsWith(`${u}:`))) throw new Error(`danted: user ${u} is missing from /etc/passwd`);
  }
  const nobody = keep.find((l) => l.startsWith('nobody:'))!.split(':');
  const passwd = [...keep, `${username}:x:${nobody[2]}:${nobody[3]}:vpnns SOCKS user:/nonexistent:/usr/sbin/nologin`];
  const locked = (u: string) => `${u}:*:0:0:99999:7:::`;
  const shadow = [...[...RESERVED_USERS].map(locked), `${username}:${sha512Crypt(password, salt)}:0:0:99999:7:::`];
  return { passwd: passwd.join('\n') + '\n', shadow: shadow.join('\n') + '\n' };
}

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A fresh 16-character crypt salt. */
export function cryptSalt(): string {
  return [...randomBytes(16)].map((b) => ITOA64[b & 63]).join('');
}

/**
 * SHA-512 crypt ("$6$", Drepper's SHA-crypt), the format glibc/libxcrypt crypt(3) verifies;
 * Node has no crypt and we do not want a helper binary for one hash.
 */
export function sha512Crypt(password: string, salt = cryptSalt(), rounds = 5000): string {
  const sha = (...parts: Buffer[]) => {
    const h = createHash('sha512');
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const P = Buffer.from(password, 'utf8');
  const S = Buffer.from(salt.slice(0, 16), 'utf8');
  const B = sha(P, S, P);
  const a = createHash('sha512').update(P).update(S);
  let n: number;
  for (n = P.length; n > 64; n -= 64) a.update(B);
  a.update(B.subarray(0, n));
  for (n = P.length; n > 0; n >>= 1) a.update(n & 1 ? B : P);
  let C = a.digest();
  const repeat = (digest: Buffer, len: number) => {
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i += 64) digest.copy(out, i, 0, Math.min(64, len - i));
    return out;
  };
  const DP = createHash('sha512');
  for (let i = 0; i < P.length; i++) DP.update(P);
  const Pseq = repeat(DP.digest(), P.length);
  const DS = createHash('sha512');
  for (let i = 0; i < 16 + C[0]!; i++) DS.update(S);
  const Sseq = repeat(DS.digest(), S.length);
  for (let i = 0; i < rounds; i++) {
    const h = createHash('sha512');
    h.update(i & 1 ? Pseq : C);
    if (i % 3) h.update(Sseq);
    if (i % 7) h.update(Pseq);
    h.update(i & 1 ? C : Pseq);
    C = h.digest();
  }
  const order = [
    [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
    [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
    [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
  ];
  let out = '';
  const b64 = (w: number, chars: number) => {
    for (let i = 0; i < chars; i++, w >>= 6) out += ITOA64[w & 63];
  };
  for (const [x, y, z] of order) b64((C[x!]! << 16) | (C[y!]! << 8) | C[z!]!, 4);
  b64(C[63]!, 2);
  const roundsPart = rounds === 5000 ? '' : `rounds=${rounds}$`;
  return `$6$${roundsPart}${S.toString('utf8')}$${out}`;
}
