// Local channels: the user's own sockets that reach programs OUTSIDE the namespace (a tmux server,
// the systemd user manager, D-Bus, nscd, X11, an ssh-agent). A program inside that connects to one
// acts outside: `tmux send-keys` to the user's server runs a command whose traffic leaves from the
// host's address. A network namespace does not stop that (path sockets live in the file system), so
// `exec`, `kilo` and apps run in a private mount namespace where each channel the config does not
// allow is covered (an empty read-only tmpfs over a directory, /dev/null over a socket), and the
// variables that point at it are unset.
//
// Abstract unix sockets (`@/tmp/.X11-unix/X0`, some D-Bus buses) belong to the NETWORK namespace:
// they are already out of reach from inside, whatever this module does.
//
// Pure: config + user + environment in, a list of paths to hide and variables to drop out.
import type { SandboxConfig } from '../config/types.js';

export type Channel = keyof SandboxConfig;

/**
 * What to cover. `dir`: an empty read-only tmpfs (hidden only if owned by root or the user);
 * `socket`: /dev/null bound over it (hidden only if it is a socket; a last component `*`-pattern
 * names every socket of the directory that matches). `private`: only what the user owns is
 * covered (every path that comes from the environment is private: a symlink the user planted in
 * a directory above cannot aim the cover at a root-owned directory such as /etc/pam.d); a private
 * directory gets a tmpfs of the user's (0700, writable): their programs inside get a fresh one
 * (tmux inside starts its own server). `create`: make the directory (the user's, 0700) when it is
 * missing, so a server started later outside cannot appear under it; implies `private`.
 */
export interface Hide {
  /** `keep`: a path under a covered private directory, opened before the cover and bound back into it. */
  kind: 'dir' | 'socket' | 'keep';
  path: string;
  create?: boolean;
  private?: boolean;
  channel: Channel;
}

export interface SandboxPlan {
  hide: Hide[];
  /** Variables that point at a hidden channel: never given to the program. */
  unset: string[];
}

export interface SandboxTarget {
  uid: number;
  home: string;
  /** The environment the program would get (SSH_AUTH_SOCK, TMUX_TMPDIR, WAYLAND_DISPLAY come from it). */
  env: Readonly<Record<string, string | undefined>>;
}

/** Each channel: the paths that reach it and the variables that name it. */
interface ChannelDef {
  paths(t: SandboxTarget, runtime: string): Hide[];
  vars: string[];
}

/** An absolute, normalised path from the environment, or undefined (relative, `..`, empty). */
export function envPath(v: string | undefined): string | undefined {
  if (!v || !v.startsWith('/') || v.includes('\0')) return undefined;
  const parts = v.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return undefined;
  return `/${parts.join('/')}`;
}

const dir = (channel: Channel, path: string): Hide => ({ kind: 'dir', path, channel });
/** A directory of the user's own, replaced by a fresh private one (made first when `create`). */
const ownDir = (channel: Channel, path: string, create = false): Hide => ({ kind: 'dir', path, channel, private: true, ...(create && { create }) });
const socket = (channel: Channel, path: string): Hide => ({ kind: 'socket', path, channel });
/** A socket named by the environment: covered only if the user owns it. */
const ownSocket = (channel: Channel, path: string): Hide => ({ kind: 'socket', path, channel, private: true });

export const CHANNELS: Record<Channel, ChannelDef> = {
  tmux: {
    // tmux keeps its sockets in $TMUX_TMPDIR/tmux-UID (default /tmp): made now if missing, so a
    // server the user starts outside later lands in a directory that is already covered inside.
    paths: (t) => {
      // Zellij, the other multiplexer, keeps its sockets in /tmp/zellij-UID without XDG_RUNTIME_DIR.
      const out = [ownDir('tmux', `/tmp/tmux-${t.uid}`, true), ownDir('tmux', `/tmp/zellij-${t.uid}`)];
      const tmp = envPath(t.env.TMUX_TMPDIR);
      if (tmp && tmp !== '/tmp') out.push(ownDir('tmux', `${tmp}/tmux-${t.uid}`));
      return out;
    },
    vars: ['TMUX', 'TMUX_PANE'],
  },
  screen: {
    paths: (t) => {
      const out = [dir('screen', '/run/screen'), ownDir('screen', `${t.home}/.screen`)];
      const sd = envPath(t.env.SCREENDIR);
      if (sd) out.push(ownDir('screen', sd));
      return out;
    },
    vars: ['STY', 'WINDOW'],
  },
  userBus: {
    // The session bus and the systemd user manager (`systemd-run --user` starts anything outside).
    paths: (_t, r) => [socket('userBus', `${r}/bus`), dir('userBus', `${r}/systemd`)],
    vars: ['DBUS_SESSION_BUS_ADDRESS'],
  },
  systemBus: {
    // The system bus (systemd-resolved, NetworkManager, machined...) and resolved's varlink socket.
    paths: () => [socket('systemBus', '/run/dbus/system_bus_socket'), dir('systemBus', '/run/systemd/resolve')],
    vars: ['DBUS_SYSTEM_BUS_ADDRESS'],
  },
  nscd: {
    // nscd answers lookups with the host's resolver, around the namespace's resolv.conf.
    paths: () => [dir('nscd', '/run/nscd')],
    vars: [],
  },
  x11: {
    paths: () => [dir('x11', '/tmp/.X11-unix')],
    vars: ['DISPLAY', 'XAUTHORITY'],
  },
  wayland: {
    paths: (t, r) => {
      const out = [socket('wayland', `${r}/wayland-*`)];
      const wd = envPath(t.env.WAYLAND_DISPLAY);
      if (wd) out.push(ownSocket('wayland', wd));
      return out;
    },
    vars: ['WAYLAND_DISPLAY', 'WAYLAND_SOCKET'],
  },
  sshAgent: {
    paths: (t, r) => {
      // `ssh-agent` started by hand listens in /tmp/ssh-XXXXXX/agent.PID: a program inside finds it by listing /tmp.
      const out = [dir('sshAgent', `${r}/gcr`), socket('sshAgent', `${r}/ssh-agent*`), socket('sshAgent', `${r}/openssh_agent`), socket('sshAgent', `${r}/keyring/ssh`), ownDir('sshAgent', '/tmp/ssh-*')];
      const s = envPath(t.env.SSH_AUTH_SOCK);
      if (s) out.push(ownSocket('sshAgent', s));
      return out;
    },
    vars: ['SSH_AUTH_SOCK', 'SSH_AGENT_PID'],
  },
  gpgAgent: {
    paths: (t, r) => [dir('gpgAgent', `${r}/gnupg`), socket('gpgAgent', `${t.home}/.gnupg/S.*`)],
    vars: ['GPG_AGENT_INFO'],
  },
  keyring: {
    paths: (_t, r) => [dir('keyring', `${r}/keyring`)],
    vars: ['GNOME_KEYRING_CONTROL'],
  },
  audio: {
    paths: (_t, r) => [dir('audio', `${r}/pulse`), socket('audio', `${r}/pipewire-*`)],
    vars: ['PULSE_SERVER'],
  },
  sshControl: {
    // An ssh ControlMaster socket lets `ssh -S SOCKET host CMD` ride a connection made outside, from
    // the host's address. Every socket the user owns in ~/.ssh and one directory below (where
    // ControlPath usually points) at the launch; one made later, or elsewhere, is not covered.
    paths: (t) => [ownSocket('sshControl', `${t.home}/.ssh/*`), ownSocket('sshControl', `${t.home}/.ssh/*/*`)],
    vars: [],
  },
  editors: {
    // `code --install-extension` over VS Code's IPC socket installs an extension that runs in the
    // editor outside; `emacsclient --eval` runs Lisp there. Their runtime-dir sockets: runtimeDir.
    // Neovim's server (`nvim --server S --remote-send ':!cmd<CR>'`) without XDG_RUNTIME_DIR: /tmp/nvim.USER.
    paths: (t) => [ownSocket('editors', '/tmp/vscode-*.sock'), ownDir('editors', `/tmp/emacs${t.uid}`), ownDir('editors', '/tmp/nvim.*')],
    vars: ['VSCODE_IPC_HOOK_CLI', 'VSCODE_GIT_IPC_HANDLE', 'VSCODE_IPC_HOOK'],
  },
  runtimeDir: {
    // The whole of /run/user/UID, for the channels no list names (podman.sock, at-spi, an editor's
    // socket, a server the user starts later): covered by a fresh directory of the user's, with
    // the allowed channels' paths bound back (sandboxPlan). Listed last: the keeps come first.
    paths: (_t, r) => [ownDir('runtimeDir', r)],
    vars: [],
  },
  docker: {
    // Reachable by default (a developer's agent may build images), and root on the host for whoever
    // reaches it: `docker run -v /:/host` leaves the namespace entirely. Turn it off to close that.
    paths: (_t, r) => [socket('docker', '/run/docker.sock'), socket('docker', '/var/run/docker.sock'), socket('docker', `${r}/docker.sock`)],
    vars: ['DOCKER_HOST'],
  },
};

/** The defaults: every channel hidden but Docker's socket. */
export const SANDBOX_DEFAULTS: SandboxConfig = {
  tmux: false,
  screen: false,
  userBus: false,
  systemBus: false,
  nscd: false,
  x11: false,
  wayland: false,
  sshAgent: false,
  gpgAgent: false,
  keyring: false,
  audio: false,
  sshControl: false,
  editors: false,
  runtimeDir: false,
  docker: true,
};

/** What to hide for this user and config (a channel set to true stays reachable). */
export function sandboxPlan(cfg: SandboxConfig | undefined, t: SandboxTarget): SandboxPlan {
  const allowed = { ...SANDBOX_DEFAULTS, ...cfg };
  const runtime = `/run/user/${t.uid}`;
  const hide: Hide[] = [];
  const unset: string[] = [];
  const keep: Hide[] = [];
  for (const [name, def] of Object.entries(CHANNELS) as Array<[Channel, ChannelDef]>) {
    if (allowed[name]) {
      // A channel left open whose path is in the runtime directory: bound back into its cover.
      if (!allowed.runtimeDir && name !== 'runtimeDir') for (const h of def.paths(t, runtime)) if (h.path.startsWith(`${runtime}/`)) keep.push({ kind: 'keep', path: h.path, channel: name });
      continue;
    }
    for (const h of def.paths(t, runtime)) if (!hide.some((x) => x.path === h.path)) hide.push(h);
    unset.push(...def.vars);
  }
  // The keeps are opened before any cover (the runtime directory's is last).
  return { hide: [...keep, ...hide], unset };
}
