import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CSR_PEM_BYTES, parseAndVerifyCsr } from '../../../../src/shared/ca/csr';
import { CsrKeyKind, corruptCsrSignature, makeCsr } from '../../../helpers/ca-client';

describe('CSR parsing and verification', () => {
  const csrs = new Map<CsrKeyKind, string>();
  before(async () => {
    for (const k of ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096', 'rsa-1024', 'ed25519'] as const) csrs.set(k, (await makeCsr(k)).csrPem);
  });

  it('accepts ECDSA P-256/P-384 and RSA 2048/3072/4096 and names the key', () => {
    const expect: Array<[CsrKeyKind, string]> = [['ec-p256', 'ECDSA P-256'], ['ec-p384', 'ECDSA P-384'], ['rsa-2048', 'RSA 2048'], ['rsa-3072', 'RSA 3072'], ['rsa-4096', 'RSA 4096']];
    for (const [kind, desc] of expect) {
      const r = parseAndVerifyCsr(csrs.get(kind)!);
      assert.ok(r.ok, `${kind}: ${JSON.stringify(r)}`);
      assert.equal(r.value.keyDescription, desc);
      assert.equal(r.value.spkiDer[0], 0x30);
    }
  });

  it('refuses RSA 1024 and Ed25519 keys as unsupported', () => {
    for (const kind of ['rsa-1024', 'ed25519'] as const) {
      const r = parseAndVerifyCsr(csrs.get(kind)!);
      assert.equal(r.ok, false);
      assert.equal((r as { reason: string }).reason, 'unsupported-key', kind);
    }
  });

  it('refuses a CSR whose own signature is wrong', () => {
    const r = parseAndVerifyCsr(corruptCsrSignature(csrs.get('ec-p256')!));
    assert.deepEqual(r, { ok: false, reason: 'bad-signature', message: 'CSR signature does not verify with the CSR public key' });
    assert.equal((parseAndVerifyCsr(corruptCsrSignature(csrs.get('rsa-2048')!)) as { reason: string }).reason, 'bad-signature');
  });

  it('refuses text that is not a PEM CSR, and garbage inside the armour', () => {
    for (const bad of ['', 'hello', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', '-----BEGIN CERTIFICATE REQUEST-----\nMIIBIjANBgkqhkiG9w0B\n-----END CERTIFICATE REQUEST-----\n']) {
      const r = parseAndVerifyCsr(bad);
      assert.equal(r.ok, false);
      assert.equal((r as { reason: string }).reason, 'malformed', bad);
    }
  });

  it('refuses two CSRs in one request', () => {
    const two = csrs.get('ec-p256')! + csrs.get('ec-p384')!;
    assert.match((parseAndVerifyCsr(two) as { message: string }).message, /more than one/);
  });

  it('refuses an oversized CSR before parsing it', () => {
    const big = csrs.get('ec-p256')! + ' '.repeat(MAX_CSR_PEM_BYTES);
    assert.equal((parseAndVerifyCsr(big) as { reason: string }).reason, 'too-large');
  });
});
