// The one entry to @peculiar/x509: it resolves its ASN.1 and algorithm providers through
// tsyringe, which needs the Reflect metadata polyfill loaded before it, and it signs
// with whatever WebCrypto it is given (Node's). Import x509 from here, never directly.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

export { x509 };
