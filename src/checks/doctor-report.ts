// Everything `vpnns doctor` shows, gathered in one place: the programs this config needs (looked up
// in the invoking user's home too, where `npm install -g` or code-server's installer may have put
// them), whether NetworkManager runs, and AdGuard's login when the config uses it.
import type { Config } from '../config/types.js';
import { lookupUser } from '../services/apps.js';
import { invokingUser } from '../members/invoker.js';
import { networkManagerRunning } from '../net/network-manager.js';
import { doctorChecks, type ToolCheck } from './doctor.js';
import { adguardDoctor, type AdguardDoctor } from './adguard-doctor.js';

export interface DoctorReport {
  checks: ToolCheck[];
  /** Not a program to install: whether `up` has NetworkManager to keep away from its veths. */
  networkManager: boolean;
  adguard?: AdguardDoctor;
}

export async function doctorReport(cfg: Config): Promise<DoctorReport> {
  const home = lookupUser(invokingUser().user)?.home;
  const checks = await doctorChecks(cfg, { home });
  const networkManager = await networkManagerRunning();
  const adguard = cfg.vpn.type === 'adguard' ? await adguardDoctor(cfg, checks.find((c) => c.tool === (cfg.vpn as { binary: string }).binary)?.path) : undefined;
  return { checks, networkManager, ...(adguard && { adguard }) };
}
