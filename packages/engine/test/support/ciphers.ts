// Test-only ciphers. Never used by src/: the server injects its own key management.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Decrypter, Encrypter } from '../../src/index.js';

/** AES-256-GCM with a random 96-bit nonce: nonce || ciphertext || tag. */
export function aesGcm(key: Uint8Array = randomBytes(32)): Encrypter & Decrypter {
  return {
    async encrypt(plaintext) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([c.update(plaintext), c.final()]);
      return new Uint8Array(Buffer.concat([iv, body, c.getAuthTag()]));
    },
    async decrypt(ciphertext) {
      if (ciphertext.length < 28) throw new Error('ciphertext too short');
      const buf = Buffer.from(ciphertext);
      const d = createDecipheriv('aes-256-gcm', key, buf.subarray(0, 12));
      d.setAuthTag(buf.subarray(buf.length - 16));
      return new Uint8Array(Buffer.concat([d.update(buf.subarray(12, buf.length - 16)), d.final()]));
    },
  };
}

/** ESC's test cipher (eval tests' rot128): adds 128 to every byte; its own inverse. */
export const rot128: Encrypter & Decrypter = {
  async encrypt(b) {
    return b.map((x) => (x + 128) & 0xff);
  },
  async decrypt(b) {
    return b.map((x) => (x + 128) & 0xff);
  },
};
