/**
 * Opening the cluster the load tester drives (`--kubeconfig FILE`). Load tests send their traffic
 * to 127.0.0.1 only, so by default the kubeconfig's current cluster must be a loopback API server;
 * `--allow-remote-cluster` lifts that on purpose.
 */
import { KubeClient, loadKubeConfig } from '../../src/main/kube/client';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Is `server` (a kubeconfig cluster URL) on this machine's loopback interface? */
export function isLoopbackServer(server: string): boolean {
  try {
    return LOOPBACK_HOSTS.has(new URL(server).hostname.toLowerCase());
  } catch {
    return false;
  }
}

/**
 * A KubeClient for the kubeconfig's current context. Throws (with the file, the cluster name and
 * its server, and the way out) for an unreadable kubeconfig or a non-loopback server.
 */
export function openCluster(kubeconfig: string, allowRemote: boolean): KubeClient {
  const kc = loadKubeConfig({ kubeconfig });
  const cluster = kc.getCurrentCluster()!;
  if (!allowRemote && !isLoopbackServer(cluster.server)) {
    throw new Error(
      `--kubeconfig ${kubeconfig}: the current context's cluster '${cluster.name}' is at ${cluster.server}, not a loopback API server ` +
      '(127.0.0.1, localhost or [::1]). The load tester creates, rewrites and deletes thousands of objects there and load tests ' +
      'stay on this machine by default; pass --allow-remote-cluster to drive that cluster anyway.',
    );
  }
  return new KubeClient(kc);
}
