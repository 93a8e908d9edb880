/**
 * The mesh CA on the main thread: owns the signing material (plug-in or self-signed root),
 * hands CSR jobs to the separate signing pool, and rotates the self-signed root (Istio's
 * SelfSignedCARootCertRotator): every CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL it checks
 * whether less than CITADEL_SELF_SIGNED_ROOT_CERT_GRACE_PERIOD_PERCENTILE % of the root's
 * lifetime is left and, if so, issues a new root. Like Istio, rotation keeps the key by
 * default (certificates issued under the old root then verify with the new one too); either way
 * the trust bundle carries the new root first and every unexpired old root after it, so
 * workloads holding certificates from the old root keep working.
 *
 * Single writer: only this class replaces `material`; listeners (serving certificate, TLS
 * credentials, metrics) are told after every change.
 */
import * as crypto from 'node:crypto';
import { CaConfig } from '../config';
import { CaToMain, SigningMaterial } from '../../shared/ca/messages';
import { CaPool } from './ca-pool';
import { KeyCertBundle, bundleExpiry, parseCertificates } from './key-cert-bundle';
import { loadPluginCa, loadSelfSigned, saveSelfSigned } from './root-store';
import { createSelfSignedRoot } from './self-signed-root';
import { scope } from '../log';

const log = scope('ca');

export interface SignRequest {
  readonly csrPem: string;
  /** validity_duration (seconds); <= 0 = DEFAULT_WORKLOAD_CERT_TTL */
  readonly ttlSeconds: number;
  readonly uris: readonly string[];
  readonly dnsNames?: readonly string[];
}

/**
 * Where a self-signed root lives between restarts and between replicas: --stateDir files in file
 * mode, the `istio-ca-secret` Secret in Kubernetes mode. Several replicas may share one store.
 */
export interface RootStore {
  /** for logs: "--stateDir ./.state", "Secret istio-system/istio-ca-secret" */
  readonly where: string;
  load(nowMs: number): Promise<KeyCertBundle | undefined>;
  /**
   * Persist `next` (a new or rotated root). `replaces` is the CA certificate of the root being
   * rotated (undefined for a new root): a store shared by replicas writes only if it still holds
   * that one. Resolves to the bundle now stored: `next`, or the one another replica stored first
   * (create race, concurrent rotation), which the caller adopts.
   */
  save(next: KeyCertBundle, nowMs: number, replaces?: string): Promise<KeyCertBundle>;
}

export function fileRootStore(stateDir: string): RootStore {
  return {
    where: `--stateDir ${stateDir}`,
    load: async (nowMs) => loadSelfSigned(stateDir, nowMs),
    save: async (next) => { saveSelfSigned(stateDir, next); return next; },
  };
}

export interface CertificateAuthorityOptions {
  readonly config: CaConfig;
  /** subject O= of a self-signed root */
  readonly trustDomain: string;
  readonly stateDir: string;
  readonly pool: CaPool;
  readonly now?: () => number;
  /** where the self-signed root persists (default: files in stateDir) */
  readonly rootStore?: RootStore;
}

let jobIds = 0;

export class CertificateAuthority {
  private bundleValue: KeyCertBundle;
  private materialValue: SigningMaterial;
  private readonly listeners: Array<(m: SigningMaterial) => void> = [];
  private timer?: NodeJS.Timeout;
  private rotating?: Promise<boolean>;
  readonly now: () => number;

  private constructor(private readonly opts: CertificateAuthorityOptions, bundle: KeyCertBundle) {
    this.now = opts.now ?? Date.now;
    this.bundleValue = bundle;
    this.materialValue = toMaterial(bundle, 1);
  }

  /** Load the plug-in CA, else load or create the self-signed root; start the rotation check. */
  static async start(opts: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const now = (opts.now ?? Date.now)();
    let bundle = loadPluginCa(opts.config.rootCaDir, now);
    if (bundle) {
      log.info('using the plug-in CA', { dir: opts.config.rootCaDir });
    } else {
      const store = opts.rootStore ?? fileRootStore(opts.stateDir);
      bundle = await store.load(now);
      if (bundle) {
        log.info('loaded the self-signed root', { from: store.where });
      } else {
        const root = await createSelfSignedRoot({ org: opts.trustDomain, ttlMs: opts.config.selfSignedCaCertTtlMs, rsaKeySize: opts.config.rsaKeySize, nowMs: now });
        const fresh: KeyCertBundle = { source: 'self-signed', caCertPem: root.certPem, caKeyPem: root.keyPem, certChainPem: '', rootBundlePem: root.certPem };
        bundle = await store.save(fresh, now);
        if (bundle.caCertPem === fresh.caCertPem) log.info('generated a self-signed root', { to: store.where, keyBits: opts.config.rsaKeySize, org: opts.trustDomain });
        else log.info('another replica created the self-signed root first; using it', { from: store.where });
      }
    }
    const ca = new CertificateAuthority(opts, bundle);
    if (bundle.source === 'self-signed') {
      await ca.checkRotation();
      if (opts.config.rootCheckIntervalMs > 0) {
        ca.timer = setInterval(() => { void ca.checkRotation().catch((e) => log.error('root rotation check failed', { error: (e as Error).message })); }, opts.config.rootCheckIntervalMs);
        ca.timer.unref();
      }
    }
    return ca;
  }

  get bundle(): KeyCertBundle { return this.bundleValue; }
  get material(): SigningMaterial { return this.materialValue; }

  /** Called after every change of signing material (rotation). */
  onChange(fn: (m: SigningMaterial) => void): void { this.listeners.push(fn); }

  /** Expiry of the first root and of the signing certificate (ms since the epoch). */
  expiry(): { rootMs: number; caCertMs: number } { return bundleExpiry(this.bundleValue); }

  /** Sign a CSR in the pool for `uris` (the authenticated caller). Never throws for a bad CSR. */
  sign(req: SignRequest): Promise<CaToMain> {
    return this.opts.pool.run({
      id: ++jobIds,
      material: this.materialValue,
      csrPem: req.csrPem,
      requestedTtlSeconds: req.ttlSeconds,
      defaultTtlMs: this.opts.config.defaultCertTtlMs,
      maxTtlMs: this.opts.config.maxCertTtlMs,
      uris: req.uris,
      dnsNames: req.dnsNames,
      nowMs: this.now(),
    });
  }

  /** True when less than the grace percentile of the root's lifetime is left. */
  needsRotation(nowMs = this.now()): boolean {
    const cert = new crypto.X509Certificate(this.bundleValue.caCertPem);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    return to - nowMs < ((to - from) * this.opts.config.rootGracePercentile) / 100;
  }

  /** Rotate the self-signed root if it is within its grace period. Resolves to whether it rotated. */
  async checkRotation(): Promise<boolean> {
    if (this.bundleValue.source !== 'self-signed') return false;
    // Another replica sharing the store may have rotated: adopt its root before deciding.
    const stored = await this.store().load(this.now()).catch((e: Error) => { log.warn('cannot read the stored root', { from: this.store().where, error: e.message }); return undefined; });
    if (stored && stored.caCertPem !== this.bundleValue.caCertPem) this.adopt(stored, 'the stored root changed (another replica rotated it)');
    if (!this.needsRotation()) return false;
    log.info('self-signed root is within its grace period; rotating');
    await this.rotateRoot();
    return true;
  }

  /**
   * Issue a new self-signed root now (forced rotation, or the grace period reached). `newKey`
   * also replaces the key; by default the key is kept, as Istio does. Concurrent calls share one
   * rotation.
   */
  rotateRoot(opts: { newKey?: boolean } = {}): Promise<boolean> {
    if (this.bundleValue.source !== 'self-signed') return Promise.reject(new Error('only a self-signed root can be rotated; a plug-in CA is rotated by replacing ROOT_CA_DIR'));
    this.rotating ??= this.doRotate(opts.newKey ?? false).finally(() => { this.rotating = undefined; });
    return this.rotating;
  }

  private async doRotate(newKey: boolean): Promise<boolean> {
    const now = this.now();
    const old = this.bundleValue;
    const root = await createSelfSignedRoot({
      org: this.opts.trustDomain, ttlMs: this.opts.config.selfSignedCaCertTtlMs, rsaKeySize: this.opts.config.rsaKeySize, nowMs: now,
      keyPem: newKey ? undefined : old.caKeyPem,
    });
    const fresh = new crypto.X509Certificate(root.certPem);
    // Trust bundle: the new root first, then every old root that is still valid.
    const kept = parseCertificates(old.rootBundlePem).filter((c) => Date.parse(c.validTo) > now && c.fingerprint256 !== fresh.fingerprint256);
    const next: KeyCertBundle = { source: 'self-signed', caCertPem: root.certPem, caKeyPem: root.keyPem, certChainPem: '', rootBundlePem: [root.certPem, ...kept.map((c) => c.toString())].join('') };
    const stored = await this.store().save(next, now, old.caCertPem);
    if (stored.caCertPem !== next.caCertPem) {
      this.adopt(stored, 'another replica rotated the root first');
      return true;
    }
    log.info('rotated the self-signed root', { newKey, rootsInBundle: kept.length + 1, notAfter: fresh.validTo });
    this.adopt(next);
    return true;
  }

  private store(): RootStore { return this.opts.rootStore ?? fileRootStore(this.opts.stateDir); }

  /** Replace the signing material and tell the listeners (single writer: only this class). */
  private adopt(next: KeyCertBundle, why?: string): void {
    if (why) log.info('adopting the stored root', { reason: why });
    this.bundleValue = next;
    this.materialValue = toMaterial(next, this.materialValue.version + 1);
    for (const fn of this.listeners) {
      try { fn(this.materialValue); } catch (e) { log.error('CA change listener failed', { error: (e as Error).message }); }
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

function toMaterial(b: KeyCertBundle, version: number): SigningMaterial {
  return Object.freeze({ version, caCertPem: b.caCertPem, caKeyPem: b.caKeyPem, certChainPem: b.certChainPem, rootBundlePem: b.rootBundlePem });
}
