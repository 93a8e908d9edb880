/**
 * ServerTLSSettings, shared by Gateway servers and Sidecar ingress listeners, after Istio's
 * validateTLSOptions (pkg/config/validation). Pure, no I/O.
 */
import { Issues, Obj, PathSegment, forEachItem, forEachObj, readBool, readEnum, readStr } from './validate-fields';

export const SERVER_TLS_MODES = ['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'] as const;
export type ServerTlsMode = (typeof SERVER_TLS_MODES)[number];

/** Returns the mode, defaulting to PASSTHROUGH (the proto enum's zero value) when unset. */
export function checkServerTls(iss: Issues, p: PathSegment[], tls: Obj): ServerTlsMode | undefined {
  readBool(iss, [...p, 'httpsRedirect'], tls.httpsRedirect);
  const modeSet = tls.mode !== undefined && tls.mode !== null;
  const mode = modeSet ? readEnum(iss, [...p, 'mode'], tls.mode, SERVER_TLS_MODES) : 'PASSTHROUGH';
  for (const f of ['serverCertificate', 'privateKey', 'caCertificates', 'caCrl', 'credentialName']) readStr(iss, [...p, f], tls[f]);
  const has = (f: string) => typeof tls[f] === 'string' && tls[f] !== '';
  const credentialNames = Array.isArray(tls.credentialNames) ? tls.credentialNames.length : 0;
  const tlsCertificates = Array.isArray(tls.tlsCertificates) ? tls.tlsCertificates.length : 0;

  const version = tls.minProtocolVersion;
  if ((version === 'TLSV1_0' || version === 'TLSV1_1') && !(Array.isArray(tls.cipherSuites) && tls.cipherSuites.length > 0)) {
    iss.warn([...p, 'minProtocolVersion'], 'TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers');
  }
  const ciphers = new Set<string>();
  forEachItem(iss, [...p, 'cipherSuites'], tls.cipherSuites, (c, cp) => {
    const cipher = readStr(iss, cp, c);
    if (cipher === undefined) return;
    if (ciphers.has(cipher)) iss.warn(cp, `ignoring duplicate cipher suite: ${cipher}`);
    ciphers.add(cipher);
  });

  if (mode === 'ISTIO_MUTUAL') {
    const forbidden = ['serverCertificate', 'privateKey', 'caCertificates', 'credentialName'].filter(has);
    if (credentialNames > 0) forbidden.push('credentialNames');
    if (tlsCertificates > 0) forbidden.push('tlsCertificates');
    for (const f of forbidden) iss.error([...p, f], `ISTIO_MUTUAL TLS cannot have associated ${f}`);
    return mode;
  }
  if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') {
    if (['caCrl', 'serverCertificate', 'privateKey', 'caCertificates', 'credentialName'].some(has) || credentialNames > 0 || tlsCertificates > 0) {
      iss.warn(p, `${mode} mode does not use certificates, they will be ignored`);
    }
  }
  const sources = [has('serverCertificate') && has('privateKey'), has('credentialName'), credentialNames > 0, tlsCertificates > 0].filter(Boolean).length;
  if (sources > 1) iss.error(p, 'only one of credentialName, credentialNames, serverCertificate/privateKey, tlsCertificates should be specified');

  const terminating = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  if (terminating && (has('credentialName') || credentialNames > 0)) {
    // Key material comes from the credential (a Kubernetes secret), nothing else is required.
    if (has('caCrl') && has('credentialName')) iss.error([...p, 'caCrl'], 'CRL is not supported with credentialName. CRL has to be specified in the credential');
    return mode;
  }
  if (terminating) {
    const prefix = mode === 'SIMPLE' ? 'SIMPLE TLS' : 'MUTUAL TLS';
    if (mode !== 'SIMPLE' && !has('caCertificates')) iss.error([...p, 'caCertificates'], `${prefix} requires a client CA bundle`);
    if (tlsCertificates > 2) iss.warn([...p, 'tlsCertificates'], `${prefix} can support up to 2 server certificates`);
    if (tlsCertificates > 0) {
      forEachObj(iss, [...p, 'tlsCertificates'], tls.tlsCertificates, (c, cp) => {
        if (!c.serverCertificate) iss.error([...cp, 'serverCertificate'], `${prefix} requires a server certificate`);
        if (!c.privateKey) iss.error([...cp, 'privateKey'], `${prefix} requires a private key`);
      });
    } else {
      if (!has('serverCertificate')) iss.error([...p, 'serverCertificate'], `${prefix} requires a server certificate (or a credentialName)`);
      if (!has('privateKey')) iss.error([...p, 'privateKey'], `${prefix} requires a private key (or a credentialName)`);
    }
  }
  if (has('caCrl') && mode === 'SIMPLE') iss.error([...p, 'caCrl'], 'CRL is not supported with SIMPLE TLS');
  return mode;
}
