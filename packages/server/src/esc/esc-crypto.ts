import type { Decrypter, Encrypter } from '@vigil/engine';
import type { SecretBox } from '../environments/secret-box.js';

/** Which environment a ciphertext belongs to (anonymous definitions: an empty project and `<yaml>`). */
export interface SecretScope {
  readonly org: string;
  readonly project: string;
  readonly name: string;
}

/**
 * The engine's encrypter/decrypter for `fn::secret` ciphertexts, over the server's SecretBox (AES-256-GCM with
 * the master key). The ciphertext is bound to its environment (associated data): anyone with `read` sees it,
 * so a ciphertext copied into another environment or an anonymous definition must not decrypt there — else
 * `read` plus `open` elsewhere would reveal it. (Pulumi likewise keys each environment separately.) A clone
 * re-seals its copy under its own name.
 */
export function secretCipher(box: SecretBox, scope: SecretScope): Encrypter & Decrypter {
  const aad = new TextEncoder().encode(
    JSON.stringify(['vigil/esc-secret', scope.org, scope.project, scope.name]),
  );
  return {
    async encrypt(plaintext) {
      return box.seal(plaintext, aad);
    },
    async decrypt(ciphertext) {
      return box.open(ciphertext, aad);
    },
  };
}
