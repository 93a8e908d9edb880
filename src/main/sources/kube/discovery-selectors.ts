/**
 * Mesh config `discoverySelectors`: Kubernetes label selectors on Namespaces that limit what the
 * control plane takes in (Istio's discoveryNamespacesFilter). Semantics as Istio (with
 * ENABLE_ENHANCED_RESOURCE_SCOPING, on by default since Istio 1.22):
 *
 * - no selectors (absent or an empty list): every namespace is selected;
 * - otherwise a namespace is selected when its labels match at least one selector (OR); within a
 *   selector, matchLabels and matchExpressions must all hold (AND); an empty selector `{}` matches
 *   every namespace;
 * - cluster-scoped objects (Namespaces, Nodes) are always kept;
 * - namespaced objects — Services, EndpointSlices, Pods, Secrets and the Istio kinds — are kept only
 *   in selected namespaces.
 *
 * Our choice beyond Istio: the control plane's own namespace and the mesh root namespace are always
 * selected. They hold the mesh-wide config (root-namespace Sidecar, PeerAuthentication, ...) and
 * istiod's own Services; losing them to a selector typo would take the whole mesh's defaults away.
 */
export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement { key: string; operator: SelectorOperator; values: string[] }

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
}

export type ParsedSelectors = { ok: true; selectors: LabelSelector[] } | { ok: false; reason: string };

const OPERATORS: ReadonlySet<string> = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/** Parses mesh config `discoverySelectors` (undefined/null = none). Errors name the offending path. */
export function parseDiscoverySelectors(value: unknown): ParsedSelectors {
  if (value === undefined || value === null) return { ok: true, selectors: [] };
  if (!Array.isArray(value)) return { ok: false, reason: 'discoverySelectors: expected a list of label selectors' };
  const selectors: LabelSelector[] = [];
  for (let i = 0; i < value.length; i++) {
    const where = `discoverySelectors[${i}]`;
    const s = value[i] as Record<string, unknown> | null;
    if (s === null || typeof s !== 'object' || Array.isArray(s)) return { ok: false, reason: `${where}: expected a label selector (matchLabels, matchExpressions)` };
    const unknown = Object.keys(s).filter((k) => k !== 'matchLabels' && k !== 'matchExpressions');
    if (unknown.length > 0) return { ok: false, reason: `${where}: unknown field "${unknown[0]}"` };
    const matchLabels: Record<string, string> = {};
    if (s.matchLabels !== undefined && s.matchLabels !== null) {
      if (typeof s.matchLabels !== 'object' || Array.isArray(s.matchLabels)) return { ok: false, reason: `${where}.matchLabels: expected a map of label values` };
      for (const [k, v] of Object.entries(s.matchLabels as Record<string, unknown>)) {
        if (typeof v !== 'string') return { ok: false, reason: `${where}.matchLabels["${k}"]: expected a string value` };
        matchLabels[k] = v;
      }
    }
    const matchExpressions: LabelSelectorRequirement[] = [];
    if (s.matchExpressions !== undefined && s.matchExpressions !== null) {
      if (!Array.isArray(s.matchExpressions)) return { ok: false, reason: `${where}.matchExpressions: expected a list` };
      for (let j = 0; j < s.matchExpressions.length; j++) {
        const ew = `${where}.matchExpressions[${j}]`;
        const e = s.matchExpressions[j] as Record<string, unknown> | null;
        if (e === null || typeof e !== 'object' || Array.isArray(e)) return { ok: false, reason: `${ew}: expected {key, operator, values}` };
        if (typeof e.key !== 'string' || e.key === '') return { ok: false, reason: `${ew}.key: required` };
        if (typeof e.operator !== 'string' || !OPERATORS.has(e.operator)) {
          return { ok: false, reason: `${ew}.operator: "${String(e.operator)}" is not a valid label selector operator` };
        }
        const values = e.values ?? [];
        if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) return { ok: false, reason: `${ew}.values: expected a list of strings` };
        const op = e.operator as SelectorOperator;
        if ((op === 'In' || op === 'NotIn') && values.length === 0) return { ok: false, reason: `${ew}.values: for 'in', 'notin' operators, values set can't be empty` };
        if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) return { ok: false, reason: `${ew}.values: values set must be empty for exists and does not exist` };
        matchExpressions.push({ key: e.key, operator: op, values: values as string[] });
      }
    }
    selectors.push({ matchLabels, matchExpressions });
  }
  return { ok: true, selectors };
}

export function selectorMatches(s: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(s.matchLabels)) if (labels[k] !== v) return false;
  for (const e of s.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case 'In': if (!has || !e.values.includes(labels[e.key]!)) return false; break;
      case 'NotIn': if (has && e.values.includes(labels[e.key]!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
    }
  }
  return true;
}

/**
 * The set of namespaces selected for discovery, kept current from Namespace events and selector
 * changes. Each update returns the namespaces whose membership changed.
 */
export class DiscoveryNamespaces {
  private selectors: LabelSelector[] = [];
  private readonly labels = new Map<string, Readonly<Record<string, string>>>();

  constructor(private readonly alwaysSelected: ReadonlySet<string>) {}

  /** True when selectors restrict discovery. */
  get active(): boolean { return this.selectors.length > 0; }

  selects(namespace: string): boolean {
    if (this.selectors.length === 0 || this.alwaysSelected.has(namespace)) return true;
    const labels = this.labels.get(namespace);
    return labels !== undefined && this.selectors.some((s) => selectorMatches(s, labels));
  }

  /** A Namespace was added or changed (labels) or deleted (undefined). */
  setNamespace(name: string, labels: Readonly<Record<string, string>> | undefined): boolean {
    const before = this.selects(name);
    if (labels === undefined) this.labels.delete(name); else this.labels.set(name, labels);
    return this.selects(name) !== before;
  }

  /** New selectors; returns the known namespaces whose membership changed. */
  setSelectors(selectors: LabelSelector[]): string[] {
    const before = new Map([...this.labels.keys()].map((n) => [n, this.selects(n)]));
    this.selectors = selectors;
    return [...before].filter(([n, was]) => this.selects(n) !== was).map(([n]) => n);
  }
}
