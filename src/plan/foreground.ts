// `up --foreground`: the supervisor runs in this process; a signal stops it and tears everything down.
import { Supervisor } from '../supervisor/supervisor.js';
import { down } from './engine.js';
import { System } from '../sys/system.js';
import type { Context } from '../core/resource.js';

/** Runs the supervisor of what `up` made (`ctx`) here until a signal, then takes it all down: exit 0, or 1 when it failed (`err` hears why). */
export async function runForeground(ctx: Context, say: (line: string) => void, err: (line: string) => void): Promise<number> {
  const sup = new Supervisor(ctx.cfg, ctx.names, ctx.state, { logToStderr: true });
  sup.exitOnCrash();
  let signalled = false;
  const onSignal = () => {
    if (signalled) return;
    signalled = true;
    void sup.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let code = 0;
  try {
    await sup.run();
  } catch (e) {
    err(`vpnns: ${(e as Error).message}`);
    code = 1;
  }
  await sup.stop();
  await down(ctx.cfg, { sys: new System(false), say });
  return code;
}
