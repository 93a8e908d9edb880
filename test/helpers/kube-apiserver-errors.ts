/** metav1.Status errors of the Kubernetes API test server, with the API server's reasons and messages. */
import type { ResourceDef } from './kube-apiserver-resources';
import { qualifiedResource } from './kube-apiserver-resources';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: Array<{ reason?: string; message: string; field?: string }>;
}

export class ApiError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: StatusDetails) {
    super(message);
  }

  /** The metav1.Status body the API server sends. */
  status(): object {
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, ...(this.reason ? { reason: this.reason } : {}), ...(this.details ? { details: this.details } : {}), code: this.code };
  }

  static notFound(d: ResourceDef, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${qualifiedResource(d)} "${name}" not found`, { name, group: d.group || undefined, kind: d.resource });
  }

  static namespaceNotFound(ns: string): ApiError {
    return new ApiError(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
  }

  static noResource(): ApiError {
    return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
  }

  static alreadyExists(d: ResourceDef, name: string): ApiError {
    return new ApiError(409, 'AlreadyExists', `${qualifiedResource(d)} "${name}" already exists`, { name, group: d.group || undefined, kind: d.resource });
  }

  static conflict(d: ResourceDef, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): ApiError {
    return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(d)} "${name}": ${why}`, { name, group: d.group || undefined, kind: d.resource });
  }

  static invalid(d: ResourceDef, name: string, field: string, message: string): ApiError {
    return new ApiError(422, 'Invalid', `${d.kind} "${name}" is invalid: ${field}: ${message}`, {
      name, group: d.group || undefined, kind: d.kind, causes: [{ reason: 'FieldValueRequired', message, field }],
    });
  }

  static badRequest(message: string): ApiError {
    return new ApiError(400, 'BadRequest', message);
  }

  static methodNotAllowed(method: string, what: string): ApiError {
    return new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method} ${what})`, {});
  }

  static unsupportedMediaType(contentType: string, accepted: string[]): ApiError {
    return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format (${contentType || 'no Content-Type'}) - accepted media types include: ${accepted.join(', ')}`);
  }

  static unauthorized(): ApiError {
    return new ApiError(401, 'Unauthorized', 'Unauthorized');
  }

  static expired(message: string): ApiError {
    return new ApiError(410, 'Expired', message);
  }
}
