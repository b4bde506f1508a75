#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { ConfigError, loadConfig } from './config/config.js';
import { createServer } from './server.js';

/**
 * V8's allocation-site pretenuring, off for the server process (docs/operations.md, "Garbage collection"), unless
 * Node's command line names it (NODE_OPTIONS cannot carry it). A server's objects live for one request, but once
 * an allocation site in the PostgreSQL driver's row parsing was judged long-lived, every row it parsed went to the
 * old generation and each scavenge took 7–14 ms instead of about 1 ms.
 */
function tuneGarbageCollection(): void {
  // V8 takes a flag's words joined by `-` or by `_`.
  const named = process.execArgv.some((arg) => /allocation[-_]site[-_]pretenuring/.test(arg));
  if (!named) setFlagsFromString('--no-allocation-site-pretenuring');
}

/** `npm start`: configuration from the environment (README "Configuration"), then serve until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  tuneGarbageCollection();
  const config = loadConfig();
  const server = await createServer(config, { logger: config.logLevel !== 'silent' });
  const address = await server.app.fastify.listen({ port: config.port, host: config.host });
  const database = config.databaseUrl ? 'PostgreSQL' : `SQLite in ${config.dataDir}`;
  console.log(`\nVigil is listening on ${address} (${database}).`);
  console.log(`Checkpoint verifier key: ${server.signer.verifierKey}`);
  const first = server.bootstrap;
  if (first.created) {
    // Shown once, here only: neither is stored in a form that can be shown again.
    console.log(`\nFirst start: created organization "${first.org}" and its admin "${first.adminLogin}".`);
    console.log(`  password:     ${first.password}`);
    if (first.token) console.log(`  access token: ${first.token}`);
    else console.log('  access token: the one given in VIGIL_BOOTSTRAP_TOKEN');
    console.log(`Sign in: export PULUMI_ACCESS_TOKEN=<access token>; the ESC API is ${address}/api/esc`);
  } else {
    if (config.bootstrapToken) {
      console.log(
        'VIGIL_BOOTSTRAP_TOKEN is ignored: the database was set up already (it applies to a first start only).',
      );
    }
    console.log(
      `Sign in with an access token (Authorization: token <token>); the ESC API is ${address}/api/esc`,
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: draining the audit ledger and stopping…`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(`vigil: ${error.message}`);
  } else {
    console.error('vigil: failed to start:', error instanceof Error ? error.message : error);
  }
  process.exit(1);
});
