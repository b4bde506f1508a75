import { isMap, isPair, isScalar, parseDocument, Scalar, visit, YAMLMap } from 'yaml';
import type { Document } from 'yaml';
import { decodeCiphertext, encodeCiphertext } from './crypt/envelope.js';
import { error, hasErrors } from './diagnostics.js';
import type { Diagnostic } from './diagnostics.js';
import type { Decrypter, Encrypter } from './eval/interfaces.js';
import { decodeYAML } from './syntax/yaml.js';

export interface SealResult {
  /** The rewritten definition; absent when diagnostics contain errors. */
  yaml?: string;
  diagnostics: Diagnostic[];
  /** Number of secrets rewritten. */
  count: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface SecretSite {
  map: YAMLMap;
  scalar: Scalar;
  underValues: boolean;
}

/** Finds `fn::secret` calls: single-key maps whose argument is a string or `{ciphertext: string}`. */
function findSecrets(doc: Document, want: 'plaintext' | 'ciphertext'): SecretSite[] {
  const sites: SecretSite[] = [];
  visit(doc, {
    Map(_key, node, path) {
      if (node.items.length !== 1) return;
      const pair = node.items[0]!;
      if (!isScalar(pair.key) || pair.key.value !== 'fn::secret') return;
      const underValues = path.some((p) => isPair(p) && isScalar(p.key) && p.key.value === 'values');
      const arg = pair.value;
      if (want === 'plaintext' && isScalar(arg) && typeof arg.value === 'string') {
        sites.push({ map: node, scalar: arg, underValues });
      } else if (want === 'ciphertext' && isMap(arg) && arg.items.length === 1) {
        const inner = arg.items[0]!;
        if (isScalar(inner.key) && inner.key.value === 'ciphertext' && isScalar(inner.value)) {
          if (typeof inner.value.value === 'string')
            sites.push({ map: node, scalar: inner.value, underValues });
        }
      }
    },
  });
  return sites;
}

function load(name: string, source: Uint8Array | string): { doc?: Document; diagnostics: Diagnostic[] } {
  // Decode with the engine's hostile-input checks first; only a clean document is rewritten.
  const decoded = decodeYAML(name, source);
  if (hasErrors(decoded.diags)) return { diagnostics: decoded.diags };
  return { doc: parseDocument(decoded.text, { uniqueKeys: false }), diagnostics: decoded.diags };
}

const render = (doc: Document) => doc.toString({ lineWidth: 0, indent: 2 });

/**
 * Replaces every plaintext `fn::secret: <string>` with `fn::secret: {ciphertext: <escx envelope>}` so that stored
 * definitions never hold plaintext. The rest of the document (comments, order, styles) is kept as far as the YAML
 * library allows.
 */
export async function sealEnvironment(
  name: string,
  source: Uint8Array | string,
  encrypter: Encrypter,
): Promise<SealResult> {
  const { doc, diagnostics } = load(name, source);
  if (!doc) return { diagnostics, count: 0 };
  const sites = findSecrets(doc, 'plaintext');
  for (const site of sites) {
    let ciphertext: Uint8Array;
    try {
      ciphertext = await encrypter.encrypt(encoder.encode(site.scalar.value as string));
    } catch (e) {
      diagnostics.push(error(`encrypting: ${e instanceof Error ? e.message : String(e)}`));
      return { diagnostics, count: 0 };
    }
    const arg = new YAMLMap();
    const scalar = new Scalar(encodeCiphertext(ciphertext));
    scalar.comment = site.scalar.comment;
    arg.set(new Scalar('ciphertext'), scalar);
    site.map.items[0]!.value = arg;
  }
  return { yaml: render(doc), diagnostics, count: sites.length };
}

/**
 * The inverse of {@link sealEnvironment} for secrets under `values` (as ESC's DecryptSecrets): ciphertext becomes
 * plaintext again. The result holds secrets in the clear; callers decide who may see it.
 */
export async function unsealEnvironment(
  name: string,
  source: Uint8Array | string,
  decrypter: Decrypter,
): Promise<SealResult> {
  const { doc, diagnostics } = load(name, source);
  if (!doc) return { diagnostics, count: 0 };
  const sites = findSecrets(doc, 'ciphertext').filter((s) => s.underValues);
  for (const site of sites) {
    let plaintext: string;
    try {
      plaintext = decoder.decode(await decrypter.decrypt(decodeCiphertext(site.scalar.value as string)));
    } catch (e) {
      diagnostics.push(error(`invalid ciphertext: ${e instanceof Error ? e.message : String(e)}`));
      return { diagnostics, count: 0 };
    }
    const scalar = new Scalar(plaintext);
    scalar.comment = site.scalar.comment;
    site.map.items[0]!.value = scalar;
  }
  return { yaml: render(doc), diagnostics, count: sites.length };
}
