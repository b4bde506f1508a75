import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startServer } from './support/server.js';

async function createEnvironmentFrom(url: string, forwardedFor: string, name: string): Promise<void> {
  const response = await fetch(`${url}/api/esc/environments/acme`, {
    method: 'POST',
    headers: { authorization: `token ${ADMIN_TOKEN}`, 'x-forwarded-for': forwardedFor },
    body: JSON.stringify({ project: 'app', name }),
  });
  expect(response.status).toBe(200);
}

describe('the source IP in audit records', () => {
  it('is the socket address; X-Forwarded-For from an untrusted peer is ignored', async () => {
    const running = await startServer('sqlite');
    try {
      await createEnvironmentFrom(running.url, '198.51.100.7', 'untrusted');
      const record = (await running.records()).at(-1)!;
      expect(record).toMatchObject({ event: 'environment-created', sourceIP: '127.0.0.1' });
    } finally {
      await running.stop();
    }
  });

  it('comes from X-Forwarded-For only through proxies in VIGIL_TRUSTED_PROXIES', async () => {
    const running = await startServer('sqlite', { VIGIL_TRUSTED_PROXIES: '127.0.0.1/32' });
    try {
      // The client claims 10.9.9.9, an untrusted hop says 203.0.113.5, the trusted proxy (the socket) adds nothing:
      // the rightmost address that is not a trusted proxy is the client.
      await createEnvironmentFrom(running.url, '10.9.9.9, 203.0.113.5', 'proxied');
      const record = (await running.records()).at(-1)!;
      expect(record).toMatchObject({ event: 'environment-created', sourceIP: '203.0.113.5' });
    } finally {
      await running.stop();
    }
  });
});
