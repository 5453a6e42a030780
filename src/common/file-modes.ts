/**
 * Modes for what the pipeline creates: decrypted books, extracted pages, tokens, credentials and logs
 * are the library's and the operator's only, so files are 0600 and folders 0700 (the process umask
 * can only narrow them further). Existing files and folders keep whatever mode they have.
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;
