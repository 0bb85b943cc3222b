// Files that a user's VPN config names (an .ovpn's `ca ca.crt`, `tls-auth ta.key 1`), read by vpnns
// as root so that the VPN client, also root, never opens a path from the user's file.
//
// This is the one place such files are read, so that one check guards them all:
//  - the file is read only if the owner of the config naming it could read it too (owner or
//    "other" permissions on the file and on every directory above it), so a config that names
//    /etc/shadow or /root/key.pem gets nothing a root process could read and its author could not;
//    a root-owned config may name any file (root wrote it);
//  - only regular files (no FIFO or device to hang on, no /dev/zero), at most 1 MiB, opened without
//    following a swapped-in symlink and checked to be the file that was checked;
//  - SEAM: the trusted-file check of the config-trust work (assertTrustedFile(path, what): owner,
//    modes, ancestors) belongs in readReferencedFile, next to the readability check, when it lands.
// The caller then checks the contents (ovpnFileBody: a `ca` must hold a certificate) and never
// prints them.

import { constants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export const MAX_REFERENCED_BYTES = 1 << 20;

/** The file's bytes, or why vpnns will not read it (the rest of a sentence: "…, which <problem>"). */
export async function readReferencedFile(path: string, opts: { configFile: string; block?: string }): Promise<{ bytes: Buffer } | { problem: string }> {
  const paste = opts.block ? ` (or paste its contents into a <${opts.block}> block)` : '';
  let real: string;
  try {
    real = await realpath(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { problem: code === 'ENOENT' ? `does not exist; fix the path${paste}` : `cannot be read (${code}); check the path${paste}` };
  }
  const owner = (await stat(opts.configFile)).uid;
  let checked;
  try {
    checked = await stat(real);
    if (owner !== 0) {
      for (let dir = dirname(real); ; dir = dirname(dir)) {
        const d = await stat(dir);
        if (!permits(d, owner, 0o1)) return { problem: `is in ${dir}, which uid ${owner} (the owner of ${opts.configFile}) cannot enter; vpnns reads only files the config's owner can read` };
        if (dir === '/') break;
      }
      if (!permits(checked, owner, 0o4)) return { problem: `is not readable by uid ${owner} (the owner of ${opts.configFile}); vpnns reads only files the config's owner can read` };
    }
  } catch (e) {
    return { problem: `cannot be read (${(e as NodeJS.ErrnoException).code}); check the path${paste}` };
  }
  if (!checked.isFile()) return { problem: `is not a regular file; name the file itself${paste}` };
  if (checked.size > MAX_REFERENCED_BYTES) return { problem: `is larger than 1 MiB, too large for a key or certificate; name the right file` };

  // O_NONBLOCK: a FIFO swapped in after the check cannot make root wait; O_NOFOLLOW: nor can a symlink.
  const fh = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_NOFOLLOW).catch((e: NodeJS.ErrnoException) => e);
  if (fh instanceof Error) return { problem: `cannot be read (${fh.code}); check the path${paste}` };
  try {
    const st = await fh.stat();
    if (st.ino !== checked.ino || st.dev !== checked.dev || !st.isFile()) return { problem: `changed while vpnns read it; try again` };
    if (st.size > MAX_REFERENCED_BYTES) return { problem: `is larger than 1 MiB, too large for a key or certificate; name the right file` };
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await fh.read(buf, 0, st.size, 0);
    return { bytes: buf.subarray(0, bytesRead) };
  } finally {
    await fh.close();
  }
}

/** Whether `uid` has `bit` (4 read, 1 search) by the owner or "other" permissions; groups are not credited (fails closed). */
function permits(st: { uid: number; mode: number }, uid: number, bit: number): boolean {
  return (st.uid === uid && (st.mode & (bit << 6)) !== 0) || (st.mode & bit) !== 0;
}
