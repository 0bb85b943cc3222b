// The kilo profile: Kilo CLI, an interactive terminal program. It is never supervised; `vpnns kilo`
// runs it in the caller's directory, inside the namespace, as the user, with the terminal.
export const KILO_VERSION = '7.7.7';
/** The npm package installs both names; `kilocode` is the older one. */
export const KILO_PROGRAMS = ['kilocode', 'kilo'] as const;
export const KILO_PACKAGE = '@kilocode/cli';

export function kiloArgv(program: readonly string[], args: readonly string[]): string[] {
  return [...program, ...args];
}

export function kiloInstallHint(): string {
  return `install Kilo CLI for your user with: npm install -g ${KILO_PACKAGE}@${KILO_VERSION} (or set apps.kilo.command to its path)`;
}
