import type { Decrypter, Encrypter } from '@vigil/engine';
import type { SecretBox } from '../environments/secret-box.js';

/**
 * The engine's encrypter/decrypter for `fn::secret` ciphertexts, over the server's SecretBox (AES-256-GCM with
 * the master key). The ciphertext is bound to its organization (associated data), so a ciphertext copied into
 * another organization's environment does not decrypt there.
 */
export function secretCipher(box: SecretBox, org: string): Encrypter & Decrypter {
  const aad = new TextEncoder().encode(`vigil/esc-secret/${org}`);
  return {
    async encrypt(plaintext) {
      return box.seal(plaintext, aad);
    },
    async decrypt(ciphertext) {
      return box.open(ciphertext, aad);
    },
  };
}
