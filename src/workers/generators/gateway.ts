/**
 * Gateway generator for router proxies (`router~…` node IDs): listeners per Gateway server port,
 * routes per port from VirtualServices bound to the gateway, outbound clusters.
 * Context: ctx.gateways lists the Gateway resources selecting this proxy.
 * (First cut: empty; the traffic-management work fills it in.)
 */
import { Generator } from './types';

export const gatewayListeners: Generator = () => [];
export const gatewayRoutes: Generator = () => [];
export const gatewayClusters: Generator = () => [];
