// The one rule for a namespace name, used by the config schema, every --namespace option and the
// names every root path is built from (/run/vpnns/<ns>, /etc/netns/<ns>, <logDir>/<ns>, unit names):
// a name that could hold `/` or `..` would point those paths anywhere.
import { UsageError } from '../errors.js';

export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9-]{0,14}$/;
export const NAMESPACE_HINT = '1 to 15 lowercase letters, digits or `-`, starting with a letter or digit';

export function isNamespaceName(name: unknown): name is string {
  return typeof name === 'string' && NAMESPACE_PATTERN.test(name);
}

/** Returns `name` when it is a valid namespace name; else throws one sentence (exit 2) naming `where` it came from. */
export function assertNamespaceName(name: string, where = '--namespace'): string {
  if (isNamespaceName(name)) return name;
  throw new UsageError(`${where} ${JSON.stringify(name)} is not a namespace name; use ${NAMESPACE_HINT} (e.g. vpn-ns).`);
}
