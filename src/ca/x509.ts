/**
 * The X.509 library tsmesh uses (@peculiar/x509 over WebCrypto), loaded through this one module:
 * the library's dependency injection (tsyringe) needs the reflect-metadata polyfill imported first,
 * and the library needs to be told which WebCrypto to use.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
