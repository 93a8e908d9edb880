import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { CA_KNOBS, helpText, loadConfig } from '../../../../src/main/config';
import { ConfigError } from '../../../../src/shared/errors';

const H = 3600_000;

describe('CA configuration (Istio knob names and defaults)', () => {
  it('defaults as istiod does', () => {
    const c = loadConfig([], {}).ca;
    assert.equal(c.enabled, true);
    assert.equal(c.defaultCertTtlMs, 24 * H);
    assert.equal(c.maxCertTtlMs, 90 * 24 * H);
    assert.equal(c.selfSignedCaCertTtlMs, 3650 * 24 * H);
    assert.equal(c.rootCheckIntervalMs, H);
    assert.equal(c.rootGracePercentile, 20);
    assert.equal(c.rsaKeySize, 2048);
    assert.equal(c.rootCaDir, './etc/cacerts');
    assert.equal(c.xdsAuth, true);
    assert.equal(c.xdsIdentityCheck, true);
    assert.deepEqual(c.tokenAudiences, ['istio-ca']);
    assert.deepEqual(c.customHosts, []);
    assert.equal(c.podNamespace, 'istio-system');
    assert.equal(c.jwksFile, '');
    assert.equal(c.jwtIssuer, '');
    assert.equal(c.workers, Math.max(1, Math.floor(os.availableParallelism() / 2)));
    assert.equal(c.plaintextCa, false);
  });

  it('reads the knobs and the --jwksFile / --jwtIssuer flags', () => {
    const c = loadConfig(['--jwksFile', '/k.json', '--jwtIssuer=https://issuer'], {
      DEFAULT_WORKLOAD_CERT_TTL: '12h', MAX_WORKLOAD_CERT_TTL: '48h', TOKEN_AUDIENCES: 'istio-ca, api', ISTIOD_CUSTOM_HOST: 'a.example.com,b.example.com',
      POD_NAMESPACE: 'mesh', CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE: '4096', XDS_AUTH: 'false', ISTIOD_CA_WORKERS: '3',
    }).ca;
    assert.equal(c.defaultCertTtlMs, 12 * H);
    assert.equal(c.maxCertTtlMs, 48 * H);
    assert.deepEqual(c.tokenAudiences, ['istio-ca', 'api']);
    assert.deepEqual(c.customHosts, ['a.example.com', 'b.example.com']);
    assert.equal(c.podNamespace, 'mesh');
    assert.equal(c.rsaKeySize, 4096);
    assert.equal(c.xdsAuth, false);
    assert.equal(c.workers, 3);
    assert.equal(c.jwksFile, '/k.json');
    assert.equal(c.jwtIssuer, 'https://issuer');
  });

  it('names the knob and the value on a bad setting', () => {
    assert.throws(() => loadConfig([], { CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE: '1024' }), (e: unknown) => e instanceof ConfigError && /CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE: expected 2048, 3072 or 4096, got '1024'/.test(e.message));
    assert.throws(() => loadConfig([], { MAX_WORKLOAD_CERT_TTL: '90d' }), /MAX_WORKLOAD_CERT_TTL: expected a duration/);
    assert.throws(() => loadConfig([], { CITADEL_SELF_SIGNED_ROOT_CERT_GRACE_PERIOD_PERCENTILE: '150' }), /expected 0..100/);
  });

  it('lists every CA knob and flag in --help', () => {
    const text = helpText();
    for (const k of Object.values(CA_KNOBS)) assert.ok(text.includes(k.name), k.name);
    assert.ok(text.includes('--jwksFile') && text.includes('--jwtIssuer'));
  });
});
