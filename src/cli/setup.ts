// `sudo vpnns setup --user NAME [--remove]`: makes NAME a member (group vpnns), so that NAME runs
// exec, kilo, app, status and check without sudo; --remove undoes it (and removes the drop-in, the
// entry and the group with the last member). See src/members/policy.ts for the design.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, VpnnsError } from '../errors.js';
import { System } from '../sys/system.js';
import { lookupUser } from '../services/users.js';
import { isGroupMember, MEMBER_ENTRY, MEMBER_GROUP, renderEntry, renderSudoers, SUDO, SUDOERS_DROPIN, USER_PATTERN, VISUDO } from '../members/policy.js';
import { installationProblem, packageRoot } from '../members/install-check.js';
import { requireRoot, type Command, type Io } from './command.js';

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

async function add(sys: System, user: string, io: Io): Promise<number> {
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
  io.out(`${user} is a member of group ${MEMBER_GROUP}: from a new login, ${user} runs \`vpnns exec\`, \`vpnns kilo\`, \`vpnns app start|stop|status|logs|password\`, \`vpnns status\`, \`vpnns check\` and \`vpnns list\` without sudo; \`up\`, \`down\` and \`systemd\` still need root.`);
  return 0;
}

async function remove(sys: System, user: string, io: Io): Promise<number> {
  if (groupExists() && isGroupMember(user, read('/etc/group'), read('/etc/passwd'))) {
    await sys.change(['gpasswd', '-d', user, MEMBER_GROUP]);
  }
  const left = groupExists() ? membersOf() : [];
  if (left.length > 0) {
    io.out(`${user} is no longer a member of group ${MEMBER_GROUP}; ${left.join(', ')} still ${left.length === 1 ? 'is' : 'are'}, so the sudoers drop-in stays.`);
    return 0;
  }
  await sys.remove(SUDOERS_DROPIN);
  await sys.remove(MEMBER_ENTRY);
  if (groupExists()) await sys.change(['groupdel', MEMBER_GROUP]);
  io.out(`${user} is no longer a member; with no members left, ${SUDOERS_DROPIN}, ${MEMBER_ENTRY} and group ${MEMBER_GROUP} are removed.`);
  return 0;
}

export const setupCommand: Command = {
  name: 'setup',
  usage: `sudo vpnns setup --user NAME [--remove]

Makes NAME a member of group ${MEMBER_GROUP} (created when missing) and installs what that needs: a
sudoers drop-in (${SUDOERS_DROPIN}) that lets members run one fixed root program,
${MEMBER_ENTRY}, without a password. vpnns run by a member then uses it by itself: NAME runs
\`vpnns exec\`, \`vpnns kilo\`, \`vpnns app start|stop|status|logs|password\`, \`vpnns status\`,
\`vpnns check\` and \`vpnns list\` without sudo. Programs always run as the member, the config is
the one \`sudo vpnns up\` used, and \`up\`, \`down\`, \`systemd\` still need root. NAME's new group
counts from their next login. --remove takes NAME out again; with the last member it removes the
drop-in, the entry and the group.`,
  options: { user: { value: true, short: 'u' }, remove: {} },
  async run(args, io) {
    requireRoot('setup');
    const user = args.opts.user;
    if (typeof user !== 'string') throw new UsageError('whom? e.g. `sudo vpnns setup --user alice`.');
    if (!USER_PATTERN.test(user)) throw new UsageError(`--user ${JSON.stringify(user)} is not a user name vpnns accepts; use the login name (lowercase letters, digits, _ and -).`);
    const u = lookupUser(user);
    if (!u || u.name !== user) throw new UsageError(`user "${user}" does not exist on this machine; create it first (adduser ${user}).`);
    if (u.uid === 0) throw new UsageError('root needs no membership: it runs vpnns with sudo already.');
    if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"; see \`vpnns setup --help\`.`);
    const sys = new System(false);
    return args.opts.remove === true ? remove(sys, user, io) : add(sys, user, io);
  },
};
