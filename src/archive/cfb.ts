/**
 * OpenPGP ciphers in CFB mode (zero IV unless given), by RFC 9580 algorithm id: node:crypto where
 * Node's OpenSSL has the cipher, our own idea.ts for IDEA (OpenSSL 3 has it only in its legacy provider).
 */
import { createDecipheriv, getCiphers } from 'node:crypto';
import { IDEA_BLOCK_SIZE, IDEA_KEY_SIZE, IdeaCfbDecipher } from './idea';

/** OpenSSL names of OpenPGP ciphers in CFB mode; block and key size in bytes. */
export const NODE_CFB: Record<number, { name: string; blockSize: number; keySize?: number }> = {
  1: { name: 'idea-cfb', blockSize: IDEA_BLOCK_SIZE, keySize: IDEA_KEY_SIZE },
  2: { name: 'des-ede3-cfb', blockSize: 8 },
  3: { name: 'cast5-cfb', blockSize: 8 },
  4: { name: 'bf-cfb', blockSize: 8 },
  7: { name: 'aes-128-cfb', blockSize: 16 },
  8: { name: 'aes-192-cfb', blockSize: 16 },
  9: { name: 'aes-256-cfb', blockSize: 16 },
  11: { name: 'camellia-128-cfb', blockSize: 16, keySize: 16 },
  12: { name: 'camellia-192-cfb', blockSize: 16, keySize: 24 },
  13: { name: 'camellia-256-cfb', blockSize: 16, keySize: 32 },
};

/** Ciphers decrypted by our own code rather than OpenSSL. */
const OWN_CIPHERS = new Set([1]);

/** What node-seipd.ts and the quick check need of a decipher (a subset of node:crypto's Decipher). */
export interface CfbDecipher {
  update(data: Buffer): Buffer;
  final(): Buffer;
}

/** True when a CFB decipher can (probably) be made for the cipher: see createCfbDecipher. */
export function cfbAvailable(cipherAlgo: number): boolean {
  const cfb = NODE_CFB[cipherAlgo];
  return cfb !== undefined && (OWN_CIPHERS.has(cipherAlgo) || getCiphers().includes(cfb.name));
}

/**
 * A CFB decipher (full-block feedback) for the cipher. Throws for an unknown cipher, or when
 * OpenSSL lists a legacy cipher but cannot load it at run time.
 */
export function createCfbDecipher(cipherAlgo: number, key: Uint8Array, iv?: Uint8Array): CfbDecipher {
  const cfb = NODE_CFB[cipherAlgo];
  if (!cfb) throw new Error(`cipher #${cipherAlgo} has no CFB decipher here`);
  const start = iv ?? Buffer.alloc(cfb.blockSize);
  if (cipherAlgo === 1) return new IdeaCfbDecipher(key, start);
  return createDecipheriv(cfb.name, key, start);
}
