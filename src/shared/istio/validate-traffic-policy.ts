/**
 * DestinationRule traffic policies, after Istio's validateTrafficPolicy and its helpers
 * (pkg/config/validation: validateLoadBalancer, validateConnectionPool, validateOutlierDetection,
 * validateTunnelSettings; agent: ValidateTLS, ValidateLocalityLbSetting). Connection pools are
 * also used by Sidecar ingress listeners. Pure, no I/O.
 */
import {
  DuplicateCheck, Issues, Obj, PathSegment, checkPort, forEachItem, forEachObj, readBool, readDuration, readEnum, readInt, readObj,
  readStr, requireStr,
} from './validate-fields';
import { fqdnError, isIP } from './validate-names';

const SIMPLE_LB = ['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'] as const;
const HASH_KEYS = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'];
const CLIENT_TLS_MODES = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] as const;
const MAX_INT32 = 2147483647;
/** Envoy's maglev table size limit (exclusive). */
const MAGLEV_MAX = 5000011;
const TOPOLOGY_LABELS = ['topology.kubernetes.io/region', 'topology.kubernetes.io/zone', 'topology.istio.io/subzone'];
const POLICY_FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget'];

export function checkTrafficPolicy(iss: Issues, p: PathSegment[], v: unknown, namespace: string): void {
  const tp = readObj(iss, p, v);
  if (!tp) return;
  if (!POLICY_FIELDS.some((f) => tp[f] !== undefined && tp[f] !== null)) { iss.error(p, 'traffic policy must have at least one field'); return; }
  if (tp.tunnel && tp.proxyProtocol) iss.error(p, 'tunnel and proxyProtocol must not be set together');
  checkPolicyBody(iss, p, tp, namespace);
  checkTunnel(iss, [...p, 'tunnel'], tp.tunnel);
  const ports = new DuplicateCheck<number>();
  forEachObj(iss, [...p, 'portLevelSettings'], tp.portLevelSettings, (pl, pp) => {
    const port = readObj(iss, [...pp, 'port'], pl.port);
    if (!port) iss.error([...pp, 'port'], 'portTrafficPolicy must have valid port');
    else ports.check(iss, [...pp, 'port', 'number'], checkPort(iss, [...pp, 'port', 'number'], port.number, true), (n) => `duplicate portLevelSettings for port ${n}`);
    if (!['loadBalancer', 'connectionPool', 'outlierDetection', 'tls'].some((f) => pl[f] !== undefined && pl[f] !== null)) {
      iss.error(pp, 'port traffic policy must have at least one field');
    }
    checkPolicyBody(iss, pp, pl, namespace);
  });
}

/** The fields a policy and a port-level policy share. */
function checkPolicyBody(iss: Issues, p: PathSegment[], tp: Obj, namespace: string): void {
  const outlier = readObj(iss, [...p, 'outlierDetection'], tp.outlierDetection);
  checkLoadBalancer(iss, [...p, 'loadBalancer'], tp.loadBalancer, outlier !== undefined);
  checkConnectionPool(iss, [...p, 'connectionPool'], tp.connectionPool);
  if (outlier) checkOutlierDetection(iss, [...p, 'outlierDetection'], outlier);
  checkClientTls(iss, [...p, 'tls'], tp.tls, namespace);
}

function checkLoadBalancer(iss: Issues, p: PathSegment[], v: unknown, hasOutlierDetection: boolean): void {
  const lb = readObj(iss, p, v);
  if (!lb) return;
  readEnum(iss, [...p, 'simple'], lb.simple, SIMPLE_LB);
  const ch = readObj(iss, [...p, 'consistentHash'], lb.consistentHash);
  if (lb.simple !== undefined && lb.simple !== null && ch) iss.error(p, 'only one of simple or consistentHash may be set');
  if (ch) checkConsistentHash(iss, [...p, 'consistentHash'], ch);
  checkLocalityLb(iss, [...p, 'localityLbSetting'], lb.localityLbSetting, hasOutlierDetection);
  readDuration(iss, [...p, 'warmupDurationSecs'], lb.warmupDurationSecs, 1);
  const warmup = readObj(iss, [...p, 'warmup'], lb.warmup);
  if (warmup) {
    if (warmup.duration === undefined || warmup.duration === null) iss.error([...p, 'warmup', 'duration'], 'duration is required');
    readDuration(iss, [...p, 'warmup', 'duration'], warmup.duration, 1);
    if (typeof warmup.minimumPercent === 'number' && warmup.minimumPercent > 100) {
      iss.error([...p, 'warmup', 'minimumPercent'], 'minimumPercent value should be less than or equal to 100');
    }
    if (typeof warmup.aggression === 'number' && warmup.aggression < 1) iss.error([...p, 'warmup', 'aggression'], 'aggression should be greater than or equal to 1');
  }
}

/** ConsistentHashLB: one hash key (a proto oneof), one hash algorithm, a prime maglev table. */
function checkConsistentHash(iss: Issues, hp: PathSegment[], ch: Obj): void {
  const keys = HASH_KEYS.filter((k) => ch[k] !== undefined && ch[k] !== null);
  if (keys.length !== 1) iss.error(hp, `consistentHash must set exactly one of ${HASH_KEYS.join(', ')}`);
  const header = readStr(iss, [...hp, 'httpHeaderName'], ch.httpHeaderName);
  if (header === '') iss.error([...hp, 'httpHeaderName'], 'httpHeaderName must not be empty');
  const query = readStr(iss, [...hp, 'httpQueryParameterName'], ch.httpQueryParameterName);
  if (query === '') iss.error([...hp, 'httpQueryParameterName'], 'httpQueryParameterName must not be empty');
  readBool(iss, [...hp, 'useSourceIp'], ch.useSourceIp);
  const cookie = readObj(iss, [...hp, 'httpCookie'], ch.httpCookie);
  if (cookie) {
    requireStr(iss, [...hp, 'httpCookie', 'name'], cookie.name, 'cookie name');
    readDuration(iss, [...hp, 'httpCookie', 'ttl'], cookie.ttl);
  }
  const ring = readObj(iss, [...hp, 'ringHash'], ch.ringHash);
  const maglev = readObj(iss, [...hp, 'maglev'], ch.maglev);
  if (ring && maglev) iss.error(hp, 'only one of ringHash or maglev can be specified');
  if (ch.minimumRingSize !== undefined && ch.minimumRingSize !== null) {
    iss.warn([...hp, 'minimumRingSize'], 'consistent hash minimumRingSize is deprecated, use ringHash.minimumRingSize instead');
    if (ring || maglev) iss.error([...hp, 'minimumRingSize'], 'only one of minimumRingSize or maglev/ringHash can be specified');
  }
  readInt(iss, [...hp, 'ringHash', 'minimumRingSize'], ring?.minimumRingSize, 0, Number.MAX_SAFE_INTEGER);
  if (maglev) {
    const size = maglev.tableSize;
    const tp = [...hp, 'maglev', 'tableSize'];
    if (size === undefined || size === null || size === 0) iss.error(tp, 'tableSize must be set for maglev');
    else if (readInt(iss, tp, size, 1, Number.MAX_SAFE_INTEGER) !== undefined) {
      if ((size as number) >= MAGLEV_MAX) iss.error(tp, `tableSize must be less than ${MAGLEV_MAX} for maglev`);
      else if (!isPrime(size as number)) iss.error(tp, 'tableSize must be a prime number for maglev');
    }
  }
}

function isPrime(n: number): boolean {
  if (n < 4) return n > 0;
  if (n % 2 === 0) return false;
  for (let f = 3; f * f <= n; f += 2) if (n % f === 0) return false;
  return true;
}

/** LocalityLoadBalancerSetting: distribute or failover, weights summing to 100, well-formed localities. */
function checkLocalityLb(iss: Issues, p: PathSegment[], v: unknown, hasOutlierDetection: boolean): void {
  const lb = readObj(iss, p, v);
  if (!lb) return;
  const distribute = Array.isArray(lb.distribute) ? lb.distribute : [];
  const failover = Array.isArray(lb.failover) ? lb.failover : [];
  const priority = Array.isArray(lb.failoverPriority) ? lb.failoverPriority : [];
  if (distribute.length > 0 && failover.length > 0) { iss.error(p, "can not simultaneously specify 'distribute' and 'failover'"); return; }
  const topology = priority.find((l) => typeof l === 'string' && TOPOLOGY_LABELS.includes(l));
  if (failover.length > 0 && topology !== undefined) {
    iss.error([...p, 'failoverPriority'], `can not simultaneously set 'failover' and topology label '${String(topology)}' in 'failoverPriority'`);
  }
  const sources: Array<{ locality: string; path: PathSegment[] }> = [];
  forEachObj(iss, [...p, 'distribute'], lb.distribute, (d, dp) => {
    const from = readStr(iss, [...dp, 'from'], d.from);
    if (from !== undefined) sources.push({ locality: from, path: [...dp, 'from'] });
    const to = readObj(iss, [...dp, 'to'], d.to) ?? {};
    let total = 0;
    let weightsOk = true;
    for (const [loc, w] of Object.entries(to)) {
      if (typeof w !== 'number' || !Number.isInteger(w) || w <= 0 || w > 100) {
        iss.error([...dp, 'to', loc], 'locality weight must be in range [1, 100]');
        weightsOk = false;
      } else total += w;
    }
    if (weightsOk && total !== 100) iss.error([...dp, 'to'], `total locality weight ${total} != 100`);
    checkLocalities(iss, Object.keys(to).map((locality) => ({ locality, path: [...dp, 'to', locality] })));
  });
  checkLocalities(iss, sources);
  if ((failover.length > 0 || priority.length > 0) && !hasOutlierDetection) {
    iss.warn(p, 'outlier detection policy must be provided for failover');
  }
  forEachObj(iss, [...p, 'failover'], lb.failover, (f, fp) => {
    const from = readStr(iss, [...fp, 'from'], f.from) ?? '';
    const to = readStr(iss, [...fp, 'to'], f.to) ?? '';
    if (from === to) iss.error(fp, 'locality lb failover settings must specify different regions');
    if (from.includes('/') || to.includes('/')) iss.error(fp, 'locality lb failover only specify region');
    if (from.includes('*') || to.includes('*')) iss.error(fp, "locality lb failover region should not contain '*' wildcard");
  });
  forEachItem(iss, [...p, 'failoverPriority'], lb.failoverPriority, (l, lp) => readStr(iss, lp, l));
  readBool(iss, [...p, 'enabled'], lb.enabled);
}

/** "region[/zone[/subzone]]" with at most one trailing "*", no empty parts, no overlapping entries. */
function checkLocalities(iss: Issues, entries: ReadonlyArray<{ locality: string; path: PathSegment[] }>): void {
  const seen: string[][] = [];
  for (const { locality, path } of entries) {
    const stars = locality.split('*').length - 1;
    if (stars > 1 || (stars === 1 && !locality.endsWith('*'))) {
      iss.error(path, `locality ${locality} wildcard '*' number can not exceed 1 and must be in the end`);
      return;
    }
    const parts = locality.split('/').slice(0, 3);
    if (locality.split('/').length > 3 || parts.some((x) => x === '')) { iss.error(path, `locality ${locality} must not contain empty region/zone/subzone info`); return; }
    // Two entries overlap when one is a prefix of the other, a "*" segment covering anything.
    const covers = (a: string[], b: string[]) => a.every((x, i) => x === '*' || (i < b.length && b[i] === x)) || b.every((x, i) => x === '*' || (i < a.length && a[i] === x));
    if (seen.some((s) => covers(s, parts))) { iss.error(path, `locality ${locality} overlap with previous specified ones`); return; }
    seen.push(parts);
  }
}

export function checkConnectionPool(iss: Issues, p: PathSegment[], v: unknown): void {
  const cp = readObj(iss, p, v);
  if (!cp) return;
  const tcp = readObj(iss, [...p, 'tcp'], cp.tcp);
  const http = readObj(iss, [...p, 'http'], cp.http);
  if (!tcp && !http) iss.error(p, 'connection pool must have at least one field');
  if (tcp) {
    readInt(iss, [...p, 'tcp', 'maxConnections'], tcp.maxConnections, 0, MAX_INT32);
    readDuration(iss, [...p, 'tcp', 'connectTimeout'], tcp.connectTimeout, 1);
    readDuration(iss, [...p, 'tcp', 'maxConnectionDuration'], tcp.maxConnectionDuration, 1);
    readDuration(iss, [...p, 'tcp', 'idleTimeout'], tcp.idleTimeout); // 0s disables it
    const ka = readObj(iss, [...p, 'tcp', 'tcpKeepalive'], tcp.tcpKeepalive);
    readInt(iss, [...p, 'tcp', 'tcpKeepalive', 'probes'], ka?.probes, 0, 4294967295);
    readDuration(iss, [...p, 'tcp', 'tcpKeepalive', 'time'], ka?.time, 1);
    readDuration(iss, [...p, 'tcp', 'tcpKeepalive', 'interval'], ka?.interval, 1);
  }
  if (http) {
    for (const f of ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'maxConcurrentStreams']) {
      if (typeof http[f] === 'number' && (http[f] as number) < 0) iss.error([...p, 'http', f], `${f} must be non-negative`);
      else readInt(iss, [...p, 'http', f], http[f], 0, MAX_INT32);
    }
    readDuration(iss, [...p, 'http', 'idleTimeout'], http.idleTimeout, 1);
    const upgrade = readEnum(iss, [...p, 'http', 'h2UpgradePolicy'], http.h2UpgradePolicy, ['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']);
    const clientProtocol = readBool(iss, [...p, 'http', 'useClientProtocol'], http.useClientProtocol);
    if (upgrade === 'UPGRADE' && clientProtocol) iss.error([...p, 'http'], 'useClientProtocol must not be true when h2UpgradePolicy is UPGRADE');
  }
}

function checkOutlierDetection(iss: Issues, p: PathSegment[], od: Obj): void {
  for (const f of ['consecutive5xxErrors', 'consecutiveGatewayErrors', 'consecutiveLocalOriginFailures']) readInt(iss, [...p, f], od[f], 0, 4294967295);
  if (od.consecutiveErrors !== undefined && od.consecutiveErrors !== null) {
    readInt(iss, [...p, 'consecutiveErrors'], od.consecutiveErrors, 0, MAX_INT32);
    iss.warn([...p, 'consecutiveErrors'], 'outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead');
  }
  const split = readBool(iss, [...p, 'splitExternalLocalOriginErrors'], od.splitExternalLocalOriginErrors);
  if (!split && typeof od.consecutiveLocalOriginFailures === 'number' && od.consecutiveLocalOriginFailures > 0) {
    iss.error([...p, 'consecutiveLocalOriginFailures'], 'outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false');
  }
  readDuration(iss, [...p, 'interval'], od.interval, 1);
  readDuration(iss, [...p, 'baseEjectionTime'], od.baseEjectionTime, 1);
  readInt(iss, [...p, 'maxEjectionPercent'], od.maxEjectionPercent, 0, 100);
  readInt(iss, [...p, 'minHealthPercent'], od.minHealthPercent, 0, 100);
}

/**
 * ClientTLSSettings (Istio agent.ValidateTLS): a credentialName replaces file-based material,
 * insecureSkipVerify excludes CA verification settings, MUTUAL needs a key pair.
 */
function checkClientTls(iss: Issues, p: PathSegment[], v: unknown, namespace: string): void {
  const tls = readObj(iss, p, v);
  if (!tls) return;
  const mode = readEnum(iss, [...p, 'mode'], tls.mode, CLIENT_TLS_MODES);
  for (const f of ['clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'sni', 'caCrl']) readStr(iss, [...p, f], tls[f]);
  forEachItem(iss, [...p, 'subjectAltNames'], tls.subjectAltNames, (s, sp) => readStr(iss, sp, s));
  const credential = typeof tls.credentialName === 'string' ? tls.credentialName : '';
  if (credential.startsWith('configmap://')) {
    const ref = credential.slice('configmap://'.length).split('/');
    if (ref.length === 2 && ref[0] !== namespace) {
      iss.error([...p, 'credentialName'], `invalid configmap:// credentialName: namespace must match the configuration namespace "${namespace}"`);
    }
  }
  const hasSans = Array.isArray(tls.subjectAltNames);
  if (readBool(iss, [...p, 'insecureSkipVerify'], tls.insecureSkipVerify)) {
    if (mode === 'SIMPLE' && (tls.caCertificates || credential || hasSans)) {
      iss.error([...p, 'insecureSkipVerify'], 'cannot specify caCertificates or credentialName or subjectAltNames when insecureSkipVerify is set true');
    }
    if (mode === 'MUTUAL' && (tls.caCertificates || hasSans)) {
      iss.error([...p, 'insecureSkipVerify'], 'cannot specify caCertificates or subjectAltNames when insecureSkipVerify is set true');
    }
  }
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && credential) {
    if (tls.clientCertificate || tls.caCertificates || tls.privateKey || tls.caCrl) {
      iss.error([...p, 'credentialName'], 'cannot specify client certificates or CA certificate or CA CRL if credentialName is set');
    }
    return;
  }
  if (mode === 'MUTUAL') {
    if (!tls.clientCertificate) iss.error([...p, 'clientCertificate'], 'client certificate required for mutual tls');
    if (!tls.privateKey) iss.error([...p, 'privateKey'], 'private key required for mutual tls');
  }
  if (mode === 'ISTIO_MUTUAL' && (tls.clientCertificate || tls.privateKey || tls.caCertificates || credential)) {
    iss.error([...p, 'mode'], 'cannot specify client certificates, CA certificate or credentialName for ISTIO_MUTUAL mode');
  }
}

function checkTunnel(iss: Issues, p: PathSegment[], v: unknown): void {
  const tunnel = readObj(iss, p, v);
  if (!tunnel) return;
  const protocol = readStr(iss, [...p, 'protocol'], tunnel.protocol);
  if (protocol && protocol !== 'CONNECT' && protocol !== 'POST') iss.error([...p, 'protocol'], 'tunnel protocol must be "CONNECT" or "POST"');
  const host = readStr(iss, [...p, 'targetHost'], tunnel.targetHost) ?? '';
  if (!isIP(host) && fqdnError(host)) iss.error([...p, 'targetHost'], `tunnel target host must be valid FQDN or IP address: ${fqdnError(host)}`);
  checkPort(iss, [...p, 'targetPort'], tunnel.targetPort, true);
}
