/** Before every test file: decryption threads as the tests run them (decrypt-thread-under-test.ts). */
import { useDecryptWorkerUnderTest } from './decrypt-thread-under-test';

useDecryptWorkerUnderTest();
