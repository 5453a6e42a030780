/** The GRIN client: everything the pipeline uses to talk to Google's GRIN service. */
export * from './types';
export * from './errors';
export { GrinClient, DEFAULT_BASE_URL, MAX_SEARCH_URL_LENGTH, parseContentRange } from './client';
export type { GrinClientOptions, ListingFormat } from './client';
export type { HttpTimeouts } from './http';
export {
  StaticTokenSource,
  OAuthTokenSource,
  createTokenSource,
  readClientSecretFile,
  readCredentialsFile,
  writeCredentialsFile,
  GOOGLE_TOKEN_URI,
} from './auth';
export type { AccessTokenSource, StoredCredentials, OAuthClientInfo, OAuthTokenSourceOptions } from './auth';
export { runAuthSetup, buildConsentUrl, extractCode, GRIN_SCOPES } from './auth-setup';
export type { AuthSetupOptions } from './auth-setup';
export { ConversionListings } from './conversion-listings';
export type { ConversionState, ConversionListingsOptions } from './conversion-listings';
export { enrichBarcodes, packBarcodesIntoUrls } from './enrich';
export type { EnrichOptions, EnrichSummary } from './enrich';
export { mapConversionStatus, parseProcessResponse } from './process-status';
export {
  ALL_BOOKS_COLUMNS_GT,
  ALL_BOOKS_COLUMNS_PUL,
  DEFAULT_ALL_BOOKS_COLUMN_MAPS,
  barcodeFromFilename,
  parseAllBooksLine,
  parseConvertedLine,
} from './parse-text';
export type { AllBooksRecord, AllBooksColumnMap } from './parse-text';
export { parseListingPage, normaliseHeader } from './parse-html';
export type { HtmlListingRow, HtmlListingPage } from './parse-html';
