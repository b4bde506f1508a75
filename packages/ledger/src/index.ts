// @vigil/ledger: a pure, isomorphic RFC 6962 Merkle log library. See README.md.

export * from './bytes.js';
export * from './canonical-json.js';
export * from './checkpoint.js';
export * from './compact-range.js';
export * from './errors.js';
export * from './hash.js';
export * from './note.js';
export * from './proof.js';
export * from './tree.js';
export * from './verify.js';
