/**
 * DestinationRule validation, after Istio's ValidateDestinationRule / validateTrafficPolicy
 * (pilot pkg/config/validation). Pure, no I/O.
 */
import {
  DuplicateCheck, Issues, Obj, PathSegment, checkExportTo, checkLabels, checkPort, forEachItem, forEachObj, readBool,
  readDuration, readEnum, readInt, readIstioSpec, readObj, readStr, requireStr,
} from './validate-fields';
import { isDns1123Label, wildcardDomainError } from './validate-names';

const DR_FIELDS = ['host', 'trafficPolicy', 'subsets', 'exportTo', 'workloadSelector'];
const POLICY_FIELDS = ['loadBalancer', 'connectionPool', 'outlierDetection', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol'];
const SIMPLE_LB = ['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'] as const;
const HASH_KEYS = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'];
const CLIENT_TLS_MODES = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] as const;
const MAX_INT32 = 2147483647;

export function validateDestinationRule(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, DR_FIELDS);
  const host = requireStr(iss, ['spec', 'host'], spec.host, 'host');
  if (host !== undefined) {
    const err = wildcardDomainError(host);
    if (err) iss.error(['spec', 'host'], err);
  }
  if (spec.trafficPolicy !== undefined) checkTrafficPolicy(iss, ['spec', 'trafficPolicy'], spec.trafficPolicy, true);

  const names = new DuplicateCheck<string>();
  forEachObj(iss, ['spec', 'subsets'], spec.subsets, (s, p) => {
    const name = requireStr(iss, [...p, 'name'], s.name, 'subset name');
    if (name !== undefined && !isDns1123Label(name, true)) iss.error([...p, 'name'], `subset name "${name}" is invalid`);
    names.check(iss, [...p, 'name'], name, (n) => `duplicate subset name "${n}"`);
    checkLabels(iss, [...p, 'labels'], s.labels);
    if (s.trafficPolicy !== undefined) checkTrafficPolicy(iss, [...p, 'trafficPolicy'], s.trafficPolicy, true);
  });

  const ws = readObj(iss, ['spec', 'workloadSelector'], spec.workloadSelector);
  if (ws) checkLabels(iss, ['spec', 'workloadSelector', 'matchLabels'], ws.matchLabels);
  checkExportTo(iss, ['spec', 'exportTo'], spec.exportTo);
}

function checkTrafficPolicy(iss: Issues, p: PathSegment[], v: unknown, allowPortLevel: boolean): void {
  const tp = readObj(iss, p, v);
  if (!tp) return;
  if (!POLICY_FIELDS.some((f) => tp[f] !== undefined && tp[f] !== null)) iss.error(p, 'traffic policy must have at least one field');
  checkLoadBalancer(iss, [...p, 'loadBalancer'], tp.loadBalancer);
  checkConnectionPool(iss, [...p, 'connectionPool'], tp.connectionPool);
  checkOutlierDetection(iss, [...p, 'outlierDetection'], tp.outlierDetection);
  checkClientTls(iss, [...p, 'tls'], tp.tls);
  if (tp.portLevelSettings === undefined) return;
  if (!allowPortLevel) { iss.error([...p, 'portLevelSettings'], 'portLevelSettings cannot be nested'); return; }
  const ports = new DuplicateCheck<number>();
  forEachObj(iss, [...p, 'portLevelSettings'], tp.portLevelSettings, (pl, pp) => {
    const port = readObj(iss, [...pp, 'port'], pl.port);
    if (!port) { iss.error([...pp, 'port'], 'port is required in portLevelSettings'); return; }
    const num = checkPort(iss, [...pp, 'port', 'number'], port.number, true);
    ports.check(iss, [...pp, 'port', 'number'], num, (n) => `duplicate portLevelSettings for port ${n}`);
    const { port: _port, ...rest } = pl;
    checkTrafficPolicy(iss, pp, rest, false);
  });
}

function checkLoadBalancer(iss: Issues, p: PathSegment[], v: unknown): void {
  const lb = readObj(iss, p, v);
  if (!lb) return;
  readEnum(iss, [...p, 'simple'], lb.simple, SIMPLE_LB);
  const ch = readObj(iss, [...p, 'consistentHash'], lb.consistentHash);
  if (lb.simple !== undefined && ch) iss.error(p, 'only one of simple or consistentHash may be set');
  if (ch) {
    const hp = [...p, 'consistentHash'];
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
      readStr(iss, [...hp, 'httpCookie', 'path'], cookie.path);
      readDuration(iss, [...hp, 'httpCookie', 'ttl'], cookie.ttl);
    }
    readInt(iss, [...hp, 'minimumRingSize'], ch.minimumRingSize, 0, Number.MAX_SAFE_INTEGER);
    const ring = readObj(iss, [...hp, 'ringHash'], ch.ringHash);
    readInt(iss, [...hp, 'ringHash', 'minimumRingSize'], ring?.minimumRingSize, 0, Number.MAX_SAFE_INTEGER);
    const maglev = readObj(iss, [...hp, 'maglev'], ch.maglev);
    readInt(iss, [...hp, 'maglev', 'tableSize'], maglev?.tableSize, 1, Number.MAX_SAFE_INTEGER);
  }
  readObj(iss, [...p, 'localityLbSetting'], lb.localityLbSetting);
  readDuration(iss, [...p, 'warmupDurationSecs'], lb.warmupDurationSecs);
}

function checkConnectionPool(iss: Issues, p: PathSegment[], v: unknown): void {
  const cp = readObj(iss, p, v);
  if (!cp) return;
  const tcp = readObj(iss, [...p, 'tcp'], cp.tcp);
  if (tcp) {
    readInt(iss, [...p, 'tcp', 'maxConnections'], tcp.maxConnections, 0, MAX_INT32);
    readDuration(iss, [...p, 'tcp', 'connectTimeout'], tcp.connectTimeout, 1);
    readDuration(iss, [...p, 'tcp', 'maxConnectionDuration'], tcp.maxConnectionDuration, 1);
    readDuration(iss, [...p, 'tcp', 'idleTimeout'], tcp.idleTimeout);
    const ka = readObj(iss, [...p, 'tcp', 'tcpKeepalive'], tcp.tcpKeepalive);
    readInt(iss, [...p, 'tcp', 'tcpKeepalive', 'probes'], ka?.probes, 0, MAX_INT32);
    readDuration(iss, [...p, 'tcp', 'tcpKeepalive', 'time'], ka?.time, 1);
    readDuration(iss, [...p, 'tcp', 'tcpKeepalive', 'interval'], ka?.interval, 1);
  }
  const http = readObj(iss, [...p, 'http'], cp.http);
  if (http) {
    for (const f of ['http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries', 'maxConcurrentStreams']) {
      readInt(iss, [...p, 'http', f], http[f], 0, MAX_INT32);
    }
    readDuration(iss, [...p, 'http', 'idleTimeout'], http.idleTimeout, 1);
    readEnum(iss, [...p, 'http', 'h2UpgradePolicy'], http.h2UpgradePolicy, ['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']);
    readBool(iss, [...p, 'http', 'useClientProtocol'], http.useClientProtocol);
  }
}

function checkOutlierDetection(iss: Issues, p: PathSegment[], v: unknown): void {
  const od = readObj(iss, p, v);
  if (!od) return;
  for (const f of ['consecutiveErrors', 'consecutive5xxErrors', 'consecutiveGatewayErrors', 'consecutiveLocalOriginFailures']) {
    readInt(iss, [...p, f], od[f], 0, MAX_INT32);
  }
  readDuration(iss, [...p, 'interval'], od.interval, 1);
  readDuration(iss, [...p, 'baseEjectionTime'], od.baseEjectionTime, 1);
  readInt(iss, [...p, 'maxEjectionPercent'], od.maxEjectionPercent, 0, 100);
  readInt(iss, [...p, 'minHealthPercent'], od.minHealthPercent, 0, 100);
  readBool(iss, [...p, 'splitExternalLocalOriginErrors'], od.splitExternalLocalOriginErrors);
}

/** ClientTLSSettings (Istio validateTLS): MUTUAL needs a key pair unless it comes from a credential. */
function checkClientTls(iss: Issues, p: PathSegment[], v: unknown): void {
  const tls = readObj(iss, p, v);
  if (!tls) return;
  const mode = readEnum(iss, [...p, 'mode'], tls.mode, CLIENT_TLS_MODES);
  for (const f of ['clientCertificate', 'privateKey', 'caCertificates', 'credentialName', 'sni']) readStr(iss, [...p, f], tls[f]);
  forEachItem(iss, [...p, 'subjectAltNames'], tls.subjectAltNames, (s, sp) => readStr(iss, sp, s));
  readBool(iss, [...p, 'insecureSkipVerify'], tls.insecureSkipVerify);
  if (mode === 'MUTUAL' && !tls.credentialName) {
    if (!tls.clientCertificate) iss.error([...p, 'clientCertificate'], 'client certificate required for mutual tls');
    if (!tls.privateKey) iss.error([...p, 'privateKey'], 'private key required for mutual tls');
  }
  if (mode === 'ISTIO_MUTUAL' && (tls.clientCertificate || tls.privateKey || tls.caCertificates || tls.credentialName)) {
    iss.error([...p, 'mode'], 'cannot specify client certificates, CA certificate or credentialName for ISTIO_MUTUAL mode');
  }
}
