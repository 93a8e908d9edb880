/**
 * Hooks into the xDS server (go-control-plane `Callbacks`): metrics, debug views and tests attach
 * here instead of being called from inside the protocol code.
 */
import { ProxyView } from '../../shared/model/proxy';
import { XdsTypeUrl } from '../../shared/resources';

export interface StreamInfo {
  readonly conId: string;
  readonly kind: 'sotw' | 'delta';
  readonly proxy: ProxyView;
}

export interface XdsCallbacks {
  onStreamOpen?(s: StreamInfo): void;
  onStreamClosed?(s: StreamInfo): void;
  onResponse?(s: StreamInfo, typeUrl: XdsTypeUrl, resources: number, bytes: number, reason: 'request' | 'push'): void;
  onAck?(s: StreamInfo, typeUrl: XdsTypeUrl, version: string): void;
  onNack?(s: StreamInfo, typeUrl: XdsTypeUrl, error: string): void;
  onExpiredNonce?(s: StreamInfo, typeUrl: XdsTypeUrl): void;
  /** all watched types were pushed for a push whose batch started at `startMs` */
  onPushComplete?(s: StreamInfo, startMs: number): void;
  onPushError?(s: StreamInfo, typeUrl: XdsTypeUrl, error: string): void;
  /** a queued push started after waiting `queuedMs` (pilot_proxy_queue_time) */
  onPushDequeued?(s: StreamInfo, queuedMs: number): void;
  /** one type was built and written in `ms` (pilot_xds_push_time) */
  onTypePushed?(s: StreamInfo, typeUrl: XdsTypeUrl, ms: number): void;
  /** one response was handed to the stream in `ms`, drain wait included (pilot_xds_send_time) */
  onWrite?(s: StreamInfo, ms: number): void;
  /** a stream was disconnected because it did not drain within the limit (pilot_xds_write_timeout) */
  onWriteTimeout?(s: StreamInfo): void;
  /** a new stream waited `waitMs` for admission; `admitted` false = refused */
  onAdmission?(waitMs: number, admitted: boolean): void;
}

/** Fan one event out to several callback sets. */
export function combineCallbacks(list: XdsCallbacks[]): XdsCallbacks {
  const out: XdsCallbacks = {};
  const keys: Array<keyof XdsCallbacks> = ['onStreamOpen', 'onStreamClosed', 'onResponse', 'onAck', 'onNack', 'onExpiredNonce', 'onPushComplete', 'onPushError', 'onPushDequeued', 'onTypePushed', 'onWrite', 'onWriteTimeout', 'onAdmission'];
  for (const k of keys) {
    const fns = list.map((c) => c[k]).filter(Boolean) as Array<(...a: unknown[]) => void>;
    if (fns.length > 0) (out as any)[k] = (...args: unknown[]) => { for (const f of fns) f(...args); };
  }
  return out;
}
