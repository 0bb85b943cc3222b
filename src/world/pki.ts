// Per-run key material. ECDSA P-256 throughout because RSA key generation
// would dominate world start-up time. Keys are written 0600.
import { generateKeyPairSync, createPublicKey, type KeyObject } from 'node:crypto';
import { replaceFile, setMode } from '../sys/files.js';
import { isIP } from '../config/net-utils.js';
import { join } from 'node:path';
import { runOk } from './run.js';

export interface CertFiles {
  cert: string;
  key: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
const DAYS = ['-days', '7'];

export async function createCa(dir: string, commonName: string): Promise<CertFiles> {
  const cert = join(dir, 'ca.crt');
  const key = join(dir, 'ca.key');
  await runOk(['openssl', 'req', '-x509', ...EC, ...DAYS, '-keyout', key, '-out', cert, '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await setMode(key, 0o600);
  return { cert, key };
}

export interface LeafOptions {
  commonName: string;
  /** DNS names and IP addresses for subjectAltName. */
  altNames?: string[];
  usage: 'server' | 'client';
}

/** Issues a leaf in one openssl call (OpenSSL 3 `req -x509 -CA`). */
export async function issueCert(ca: CertFiles, dir: string, base: string, o: LeafOptions): Promise<CertFiles> {
  const cert = join(dir, `${base}.crt`);
  const key = join(dir, `${base}.key`);
  const san = (o.altNames ?? []).map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const eku = o.usage === 'server' ? 'serverAuth' : 'clientAuth';
  await runOk(['openssl', 'req', '-x509', ...EC, ...DAYS, '-CA', ca.cert, '-CAkey', ca.key, '-keyout', key, '-out', cert,
    '-subj', `/CN=${o.commonName}`,
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature,keyAgreement',
    '-addext', `extendedKeyUsage=${eku}`,
    ...(san ? ['-addext', `subjectAltName=${san}`] : [])]);
  await setMode(key, 0o600);
  return { cert, key };
}

export interface WgKeyPair {
  privateKey: string;
  publicKey: string;
}

/**
 * A WireGuard (Curve25519) key pair. Made in-process rather than with
 * `wg genkey | wg pubkey` to save two processes per key; the encoding is the
 * same raw 32 bytes in base64 (the test checks it against `wg pubkey`).
 */
export function wgKeyPair(): WgKeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  return { privateKey: rawKey(privateKey, 'd'), publicKey: rawKey(createPublicKey(privateKey), 'x') };
}

function rawKey(k: KeyObject, field: 'd' | 'x'): string {
  const jwk = k.export({ format: 'jwk' }) as Record<string, string>;
  const v = jwk[field];
  if (!v) throw new Error('x25519 export lacks key bytes');
  return Buffer.from(v, 'base64url').toString('base64');
}

export async function writeSecret(path: string, text: string): Promise<string> {
  await replaceFile(path, text, 0o600);
  return path;
}
