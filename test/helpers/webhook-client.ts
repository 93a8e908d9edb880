/**
 * One HTTPS request to istiod-ts's webhook server on a fresh connection, verified against `ca`
 * for istiod.istio-system.svc (the name our serving certificate carries).
 */
import * as https from 'node:https';
import type { TLSSocket } from 'node:tls';

export const WEBHOOK_SERVER_NAME = 'istiod.istio-system.svc';

export interface WebhookAnswer { status: number; contentType: string; body: string; json?: any; serial: string }

export function webhookRequest(port: number, ca: string, urlPath: string, body: string | Buffer,
  headers: Record<string, string> = { 'Content-Type': 'application/json' }, method = 'POST'): Promise<WebhookAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: urlPath, method, servername: WEBHOOK_SERVER_NAME, ca, rejectUnauthorized: true, agent: false, headers }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        const contentType = String(res.headers['content-type'] ?? '');
        resolve({ status: res.statusCode ?? 0, contentType, body: text, json: contentType === 'application/json' ? JSON.parse(text) : undefined, serial });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
