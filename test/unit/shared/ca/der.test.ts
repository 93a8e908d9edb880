import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DerError, TAG, children, decodeOid, oid, readOnly, readTlv, seq, time, tlv, unsignedInteger } from '../../../../src/shared/ca/der';

describe('DER reader and writer', () => {
  it('round-trips object identifiers, including multi-byte arcs', () => {
    for (const dotted of ['1.2.840.113549.1.1.11', '2.5.29.17', '1.3.6.1.5.5.7.3.2', '1.2.840.10045.3.1.7']) {
      const enc = oid(dotted);
      assert.equal(enc[0], TAG.OID);
      assert.equal(decodeOid(readOnly(enc, TAG.OID, 'oid').value), dotted);
    }
  });

  it('uses short and long length forms as DER requires', () => {
    assert.deepEqual([...tlv(0x04, new Uint8Array(3))].slice(0, 2), [0x04, 3]);
    assert.deepEqual([...tlv(0x04, new Uint8Array(200))].slice(0, 3), [0x04, 0x81, 200]);
    assert.deepEqual([...tlv(0x04, new Uint8Array(300))].slice(0, 4), [0x04, 0x82, 0x01, 0x2c]);
    assert.equal(readTlv(tlv(0x04, new Uint8Array(300))).value.length, 300);
  });

  it('walks nested sequences without copying', () => {
    const enc = seq(oid('2.5.29.17'), seq(tlv(0x86, Buffer.from('spiffe://x'))));
    const [a, b] = children(readOnly(enc, TAG.SEQUENCE, 'outer').value);
    assert.equal(decodeOid(a!.value), '2.5.29.17');
    assert.equal(Buffer.from(children(b!.value)[0]!.value).toString(), 'spiffe://x');
    assert.equal(a!.raw.buffer, enc.buffer, 'subarray of the input');
  });

  it('refuses indefinite, non-minimal and overrunning lengths', () => {
    assert.throws(() => readTlv(Uint8Array.of(0x30, 0x80, 0, 0)), DerError);
    assert.throws(() => readTlv(Uint8Array.of(0x04, 0x81, 0x05, 1, 2, 3, 4, 5)), /non-minimal/);
    assert.throws(() => readTlv(Uint8Array.of(0x04, 0x05, 1, 2)), /overruns/);
    assert.throws(() => readTlv(Uint8Array.of(0x04)), /truncated/);
    assert.throws(() => readOnly(Uint8Array.of(0x04, 0x00, 0x00), TAG.OCTET_STRING, 'x'), /trailing/);
  });

  it('encodes positive integers with a leading zero when the top bit is set', () => {
    assert.deepEqual([...unsignedInteger(Uint8Array.of(0x80, 1))], [0x02, 3, 0x00, 0x80, 1]);
    assert.deepEqual([...unsignedInteger(Uint8Array.of(0, 0, 0x7f))], [0x02, 1, 0x7f]);
  });

  it('writes UTCTime until 2049 and GeneralizedTime from 2050 (RFC 5280)', () => {
    const a = time(new Date(Date.UTC(2049, 11, 31, 23, 59, 59)));
    assert.equal(a[0], TAG.UTC_TIME);
    assert.equal(Buffer.from(readTlv(a).value).toString(), '491231235959Z');
    const b = time(new Date(Date.UTC(2050, 0, 1, 0, 0, 0)));
    assert.equal(b[0], TAG.GENERALIZED_TIME);
    assert.equal(Buffer.from(readTlv(b).value).toString(), '20500101000000Z');
  });
});
