// Membership of group vpnns (`sudo vpnns setup --user NAME [--remove]`): the group, the root entry
// and the sudoers drop-in that let a member run exec, kilo, app, status and check without sudo,
// installed checked (visudo) and removed with the last member. See policy.ts for the design.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, VpnnsError } from '../errors.js';
import type { System } from '../sys/system.js';
import { lookupUser } from '../services/users.js';
import { isGroupMember, MEMBER_ENTRY, MEMBER_GROUP, renderEntry, renderSudoers, SUDO, SUDOERS_DROPIN, USER_PATTERN, VISUDO } from './policy.js';
import { installationProblem, packageRoot } from './install-check.js';

const read = (p: string) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
};

function groupExists(): boolean {
  return read('/etc/group').split('\n').some((l) => l.split(':')[0] === MEMBER_GROUP);
}

/** Members left in the group: listed ones, and users whose primary group it is. */
function membersOf(): string[] {
  const passwd = read('/etc/passwd');
  const group = read('/etc/group');
  return passwd.split('\n').map((l) => l.split(':')[0]!).filter((u) => u && isGroupMember(u, group, passwd));
}

/** Refuses, in one sentence, a USER that `setup` cannot make or unmake a member: a name vpnns does not accept, a user this machine lacks, root. */
export function requireMemberCandidate(user: string): void {
  if (!USER_PATTERN.test(user)) throw new UsageError(`--user ${JSON.stringify(user)} is not a user name vpnns accepts; use the login name (lowercase letters, digits, _ and -).`);
  const u = lookupUser(user);
  if (!u || u.name !== user) throw new UsageError(`user "${user}" does not exist on this machine; create it first (adduser ${user}).`);
  if (u.uid === 0) throw new UsageError('root needs no membership: it runs vpnns with sudo already.');
}

/** Makes USER (an existing, non-root user) a member; nothing half-made on failure. Returns what to tell the admin. */
export async function addMember(sys: System, user: string): Promise<string> {
  if (!existsSync(SUDO) || !existsSync(VISUDO)) throw new UsageError('sudo is not installed, and members reach vpnns through it; install it with: apt-get install sudo');
  const root = packageRoot();
  const problem = installationProblem(root, process.execPath);
  if (problem) throw new UsageError(`members would make root run this copy of vpnns, but it is not root's alone: ${problem}; install vpnns where only root can change it (e.g. npm install -g as root).`);
  const sudoers = renderSudoers();
  const entry = renderEntry(process.execPath, join(root, 'bin', 'vpnns-member'));
  // Checked before anything changes: a broken drop-in would lock everyone out of sudo.
  const check = `${SUDOERS_DROPIN}.vpnns-check`; // a name with a dot: sudo never reads it
  await sys.writeFile(check, sudoers, { mode: 0o440 });
  const ok = await sys.query([VISUDO, '-cqf', check], { allowFail: true });
  await sys.remove(check);
  if (ok.code !== 0) throw new VpnnsError(`visudo refused the drop-in vpnns would write (${ok.stderr.trim() || ok.stdout.trim()}); nothing was changed.`);
  const made: string[] = [];
  try {
    if (!groupExists()) {
      await sys.change(['groupadd', '--system', MEMBER_GROUP]);
      made.push('group');
    }
    await sys.mkdir('/usr/local/libexec');
    await sys.writeFile(MEMBER_ENTRY, entry, { mode: 0o755 });
    await sys.writeFile(SUDOERS_DROPIN, sudoers, { mode: 0o440 });
    const all = await sys.query([VISUDO, '-cq'], { allowFail: true });
    if (all.code !== 0) throw new VpnnsError(`visudo says the sudoers files are broken with vpnns's drop-in (${all.stderr.trim()}); it was removed again.`);
    await sys.change(['gpasswd', '-a', user, MEMBER_GROUP]);
  } catch (e) {
    // Nothing half-made: without members the drop-in and the entry go, and a group made now too.
    if (membersOf().length === 0) {
      await sys.remove(SUDOERS_DROPIN);
      await sys.remove(MEMBER_ENTRY);
      if (made.includes('group')) await sys.change(['groupdel', MEMBER_GROUP], { allowFail: true });
    }
    throw e;
  }
  return `${user} is a member of group ${MEMBER_GROUP}: from a new login, ${user} runs \`vpnns exec\`, \`vpnns kilo\`, \`vpnns app start|stop|status|logs|password\`, \`vpnns status\`, \`vpnns check\` and \`vpnns list\` without sudo; \`up\`, \`down\` and \`systemd\` still need root.`;
}

/** Takes USER out; with the last member the drop-in, the entry and the group go too. Returns what to tell the admin. */
export async function removeMember(sys: System, user: string): Promise<string> {
  if (groupExists() && isGroupMember(user, read('/etc/group'), read('/etc/passwd'))) {
    await sys.change(['gpasswd', '-d', user, MEMBER_GROUP]);
  }
  const left = groupExists() ? membersOf() : [];
  if (left.length > 0) {
    return `${user} is no longer a member of group ${MEMBER_GROUP}; ${left.join(', ')} still ${left.length === 1 ? 'is' : 'are'}, so the sudoers drop-in stays.`;
  }
  await sys.remove(SUDOERS_DROPIN);
  await sys.remove(MEMBER_ENTRY);
  if (groupExists()) await sys.change(['groupdel', MEMBER_GROUP]);
  return `${user} is no longer a member; with no members left, ${SUDOERS_DROPIN}, ${MEMBER_ENTRY} and group ${MEMBER_GROUP} are removed.`;
}

