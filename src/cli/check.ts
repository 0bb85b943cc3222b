import { configFrom, requireRoot, type Command } from './command.js';
import { exitCodeFor, renderChecks } from '../checks/evaluate.js';
import { buildContext, runChecks } from '../checks/run-checks.js';

export const checkCommand: Command = {
  name: 'check',
  dryRun: true,
  usage: `vpnns check [--config FILE] [--json] [--drill] [--brief]

Measures, from inside the namespace and from the host, and reports each check as
PASS, FAIL, SKIP or LEAK with its evidence:
  namespace    the namespace exists and the kill switch table is loaded
  tunnel       the VPN client is connected and its interface exists
  egress       the address the echo URLs (check.echoUrl) see from inside differs from the host's
  dns          the resolvers reached from inside are not the host's (check.dnsWhoami asked
               of each namespace nameserver and through getent, and of check.hostDns on the host)
  ipv6         nothing leaves over IPv6 (check.echoUrl6) unless the tunnel carries IPv6
  drill        with --drill: the client is killed, traffic is generated inside, the host end of
               the veth is captured; nothing may leave. The tunnel is then restored and re-checked.
  proxy-socks, proxy-http   the proxies answer from the host and leave through the tunnel
  published    published ports answer on the host
  apps         apps are running
  exceptions   names the holes the config opens on purpose (allow, hostServices), so a PASS is
               never read as "nothing leaves around the VPN"; fails when a host-service forwarder is down
  browser-half with a code-server app: SKIP, said plainly: its workbench, webviews and web
               extensions run in your browser, not checkable from here; \`vpnns browser\` confines them

--json prints an array of {name, result, reason, evidence}. --brief leaves the evidence out of the
table. HTTPS echo URLs use curl's CA bundle (CURL_CA_BUNDLE overrides it).

Exit code 0 when every check passes (skips allowed), 3 when a leak is found, 1 otherwise.`,
  options: { json: {}, drill: {}, brief: {}, namespace: { value: true } },
  async run(args, io) {
    requireRoot('check');
    const cfg = await configFrom(args);
    const ctx = await buildContext(cfg);
    const checks = await runChecks(ctx, { drill: args.opts.drill === true, dryRun: args.opts['dry-run'] === true });
    if (args.opts.json === true) io.out(JSON.stringify(checks, null, 2));
    else io.out(renderChecks(checks, { evidence: args.opts.brief !== true }));
    return exitCodeFor(checks);
  },
};
