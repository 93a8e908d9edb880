/**
 * The validation webhook's metrics, with Istio's names, labels and reasons
 * (pkg/webhooks/validation/server/monitoring.go): counters without a `_total` suffix, labelled
 * with the AdmissionRequest's *resource* (group, version, plural), not the object's apiVersion.
 */
import * as client from 'prom-client';

/** Istio's `reason` label values of galley_validation_failed. */
export const REASON = {
  unsupportedOperation: 'unsupported_operation',
  yamlDecodeError: 'yaml_decode_error',
  unknownType: 'unknown_type',
  crdConversionError: 'crd_conversion_error',
  invalidConfig: 'invalid_resource',
} as const;
export type FailureReason = typeof REASON[keyof typeof REASON];

/** AdmissionRequest.resource */
export interface ResourceLabels { group: string; version: string; resource: string }

export class WebhookMetrics {
  private readonly passed: client.Counter<'group' | 'version' | 'resource'>;
  private readonly failed: client.Counter<'group' | 'version' | 'resource' | 'reason'>;
  private readonly httpError: client.Counter<'status'>;
  private readonly conversions: client.Counter<'result'>;

  /** Registers the counters in `registry`, or reuses them when it already has them (a second server on one registry). */
  constructor(registry: client.Registry) {
    const counter = <L extends string>(name: string, help: string, labelNames: L[]): client.Counter<L> =>
      (registry.getSingleMetric(name) as client.Counter<L> | undefined) ?? new client.Counter<L>({ name, help, labelNames, registers: [registry] });
    this.passed = counter('galley_validation_passed', 'Resource is valid', ['group', 'version', 'resource']);
    this.failed = counter('galley_validation_failed', 'Resource validation failed', ['group', 'version', 'resource', 'reason']);
    this.httpError = counter('galley_validation_http_error', 'Resource validation http serve errors', ['status']);
    this.conversions = counter('istiod_ts_conversion_reviews', '(istiod-ts) ConversionReview requests answered, by result (Success or Failure).', ['result']);
  }

  validationPassed(r: ResourceLabels): void { this.passed.inc({ ...r }); }
  validationFailed(r: ResourceLabels, reason: FailureReason): void { this.failed.inc({ ...r, reason }); }
  httpErrorStatus(status: number): void { this.httpError.inc({ status: String(status) }); }
  conversion(result: 'Success' | 'Failure'): void { this.conversions.inc({ result }); }
}
