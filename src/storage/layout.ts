/**
 * Naming rules for stored objects: turning a layout template and a barcode into a key, and refusing
 * keys that could escape the storage root (local) or prefix (S3).
 */
import { validateBarcode } from '../buckets/barcode';
import type { StorageLayout } from '../config/types';
import { StorageConfigError, StorageRefusedError } from './errors';

export type ArtifactKind = keyof StorageLayout;

/** The storage key of one artifact of one book, e.g. `raw/32101/32101.tar.gz`. */
export function storageKey(layout: StorageLayout, artifact: ArtifactKind, barcode: string): string {
  validateBarcode(barcode);
  const template = layout[artifact];
  if (typeof template !== 'string' || template.length === 0) {
    throw new StorageConfigError(`Storage layout has no template for '${artifact}'; set storage.layout.${artifact} in the config`);
  }
  const key = template.split('{barcode}').join(barcode);
  assertSafeKey(key, `storage.layout.${artifact}`);
  return key;
}

/**
 * Refuse keys that are empty, absolute, contain `..`, backslashes or control characters: such a key
 * could write outside the storage root, or mean different things on different servers.
 */
export function assertSafeKey(key: string, origin = 'storage key'): void {
  const problem =
    typeof key !== 'string' || key.length === 0
      ? 'it is empty'
      : key.startsWith('/')
        ? "it starts with '/'"
        : key.includes('..')
          ? "it contains '..'"
          : key.includes('\\')
            ? 'it contains a backslash'
            : // eslint-disable-next-line no-control-regex
              /[\u0000-\u001f\u007f]/.test(key)
              ? 'it contains a control character'
              : key.endsWith('/')
                ? "it ends with '/' (a folder, not an object)"
                : key.length > 1024
                  ? 'it is longer than 1024 characters'
                  : null;
  if (problem) throw new StorageRefusedError(`Refusing ${origin} ${JSON.stringify(key)}: ${problem}`);
}

/**
 * Metadata names are stored lower-case with '_' as separator ('-' becomes '_'), so callers compare
 * them alike on both storages. (S3 lower-cases names itself; S3Storage sends '_' as '-' on the
 * wire because proxies such as nginx and moto's server drop headers containing '_'.)
 */
export function normalizeMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata ?? {})) {
    const normal = name.toLowerCase().replace(/-/g, '_');
    if (!/^[a-z0-9_]+$/.test(normal)) {
      throw new StorageRefusedError(`Refusing metadata name ${JSON.stringify(name)}: use only letters, digits, '_' and '-'`);
    }
    // Header values must be printable ASCII, otherwise S3 stores them mangled (RFC 2047) or rejects them.
    if (typeof value !== 'string' || !/^[\x20-\x7e]*$/.test(value)) {
      throw new StorageRefusedError(`Refusing metadata ${normal}=${JSON.stringify(value)}: values must be printable ASCII text`);
    }
    out[normal] = value;
  }
  return out;
}
