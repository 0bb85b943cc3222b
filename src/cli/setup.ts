// `sudo vpnns setup --user NAME [--remove]`: makes NAME a member (group vpnns), so that NAME runs
// exec, kilo, app, status and check without sudo; --remove undoes it. The arguments are read
// here; who may be one, and the change itself, are src/members/setup.ts's.
import { UsageError } from '../errors.js';
import { System } from '../sys/system.js';
import { MEMBER_ENTRY, MEMBER_GROUP, SUDOERS_DROPIN } from '../members/policy.js';
import { addMember, removeMember, requireMemberCandidate } from '../members/setup.js';
import { requireRoot, type Command } from './command.js';

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
    requireMemberCandidate(user);
    if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"; see \`vpnns setup --help\`.`);
    const sys = new System(false);
    io.out(args.opts.remove === true ? await removeMember(sys, user) : await addMember(sys, user));
    return 0;
  },
};
