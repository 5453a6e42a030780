/** The archive module: streaming decrypt, safe extraction, checksum verification, derivatives, unpack. */
export * from './types';
export * from './errors';
export { decryptFile, openDecryptedStream, type DecryptOptions, type DecryptedStream } from './decrypt';
export { decryptThreadStats } from './decrypt-thread';
export {
  extractTarGz,
  extractTarGzWithDigests,
  decryptAndExtract,
  derivativeInputsOnly,
  type ExtractOptions,
  type ExtractResultWithDigests,
} from './extract';
export { verifyChecksums, CHECKSUM_FILE, type VerifyOptions } from './verify';
export { writeOcrJsonl } from './ocr';
export { extractMarc, marcFromXml } from './marc';
export { makeDerivatives, ocrFileName, marcFileName, assertSafeBarcode, type MarcJson } from './derivatives';
export { unpackArchive, barcodeFromArchiveName, DEFAULT_EXTRACT_LIMITS, type UnpackSummary } from './unpack';
