#!/usr/bin/env node
import { ConfigError, loadConfig } from './config/config.js';
import { createServer } from './server.js';

/** `npm start`: configuration from the environment (README "Configuration"), then serve until SIGINT/SIGTERM. */
async function main(): Promise<void> {
  const config = loadConfig();
  const server = await createServer(config, { logger: true });
  const address = await server.app.fastify.listen({ port: config.port, host: config.host });
  const database = config.databaseUrl ? 'PostgreSQL' : `SQLite in ${config.dataDir}`;
  console.log(`\nVigil is listening on ${address} (${database}).`);
  console.log(`Checkpoint verifier key: ${server.signer.verifierKey}`);
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
