/**
 * gRPC server credentials for the secure port (15012) whose certificate and trust bundle can be
 * replaced while the server runs (serving-certificate renewal, root rotation), through grpc-js's
 * secure-context watcher (the server calls setSecureContext on every bound listener).
 *
 * The server asks for a client certificate but does not require one (requestCert without
 * rejectUnauthorized): workloads that hold a mesh certificate authenticate with it (mTLS), and
 * those bootstrapping their first certificate come with a bearer token instead. grpc-js exposes
 * the peer certificate to handlers only when the handshake verified it against `ca`.
 */
import * as grpc from '@grpc/grpc-js';
import { SecureContextOptions } from 'node:tls';

export interface ServingIdentity {
  /** PEM private key of the serving certificate */
  readonly keyPem: string;
  /** PEM: the serving certificate, then the CA chain up to (not including) the root */
  readonly certChainPem: string;
  /** PEM: certificates that client certificates must chain to (the roots, plus intermediates) */
  readonly clientCaPem: string;
}

function contextOf(id: ServingIdentity): SecureContextOptions {
  return { key: Buffer.from(id.keyPem), cert: Buffer.from(id.certChainPem), ca: Buffer.from(id.clientCaPem) };
}

export class RotatingServerCredentials extends grpc.ServerCredentials {
  constructor(identity: ServingIdentity) {
    super({ requestCert: true, rejectUnauthorized: false }, contextOf(identity));
  }

  /** Swap the certificate and trust bundle; existing connections keep theirs, new ones get these. */
  update(identity: ServingIdentity): void {
    this.updateSecureContextOptions(contextOf(identity));
  }

  override _equals(other: grpc.ServerCredentials): boolean { return other === this; }
}
