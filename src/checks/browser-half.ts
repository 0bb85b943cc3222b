// The browser half of code-server, said plainly in `vpnns check`. The server, its terminals, tasks
// and the Node extension host run inside the namespace and are measured by the other checks; the
// workbench, every webview and every web extension run in whatever browser opens the app, with
// that browser's network. From here vpnns cannot see which browser that is, so it claims nothing:
// it says what is not checked and how to confine it.
import type { AppConfig } from '../config/types.js';
import { profileOf } from '../services/apps.js';
import type { Check } from './evaluate.js';

/** The check for the apps that have a browser half, or undefined when none is configured. */
export function evaluateBrowserHalf(apps: Record<string, Pick<AppConfig, 'profile'>>): Check | undefined {
  const browserApps = Object.entries(apps).filter(([n, a]) => profileOf(n, a) === 'code-server').map(([n]) => n);
  if (!browserApps.length) return undefined;
  const first = browserApps[0]!;
  return {
    name: 'browser-half',
    result: 'skip',
    reason: `not checkable from here: ${browserApps.join(', ')} runs its workbench, webviews and web extensions in your browser, which uses the host's network unless you open it with \`sudo --preserve-env=DISPLAY,XAUTHORITY,WAYLAND_DISPLAY vpnns browser ${first}\``,
    evidence: {
      apps: browserApps,
      confinedInside: ['server', 'terminal', 'tasks', 'node extension host'],
      inTheBrowser: ['workbench', 'webviews', 'web extensions'],
      confineWith: `vpnns browser ${first}`,
    },
  };
}
