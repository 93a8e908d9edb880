import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseGoDuration } from '../../../src/shared/duration';

describe('parseGoDuration', () => {
  it('parses single-unit durations into milliseconds', () => {
    assert.equal(parseGoDuration('300ms'), 300);
    assert.equal(parseGoDuration('10s'), 10_000);
    assert.equal(parseGoDuration('1.5h'), 5_400_000);
    assert.equal(parseGoDuration('2m'), 120_000);
    assert.equal(parseGoDuration('1us'), 0.001);
    assert.equal(parseGoDuration('1µs'), 0.001);
    assert.equal(parseGoDuration('1μs'), 0.001);
    assert.equal(parseGoDuration('5ns'), 5e-6);
  });

  it('sums multi-unit durations', () => {
    assert.equal(parseGoDuration('2h45m'), 2 * 3_600_000 + 45 * 60_000);
    assert.equal(parseGoDuration('1m30.5s'), 90_500);
    assert.equal(parseGoDuration('1h1m1s1ms'), 3_661_001);
  });

  it('accepts a bare zero, signs and fractions without a leading or trailing digit', () => {
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('-0'), 0);
    assert.equal(parseGoDuration('0s'), 0);
    assert.equal(parseGoDuration('+5s'), 5000);
    assert.equal(parseGoDuration('-1.5s'), -1500);
    assert.equal(parseGoDuration('.5s'), 500);
    assert.equal(parseGoDuration('5.s'), 5000);
  });

  it('rejects what Go rejects', () => {
    for (const bad of ['', '1', '10', 's', '.s', '1.2.3s', '1d', '1 s', ' 1s', '1s ', '1S', '-', '+', '1sm', 'ms', '1e3s', 'abc']) {
      assert.equal(parseGoDuration(bad), undefined, `expected ${JSON.stringify(bad)} to be rejected`);
    }
  });
});
