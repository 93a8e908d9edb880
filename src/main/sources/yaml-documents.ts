/**
 * Config file text → documents that remember where they came from. Each document keeps its YAML
 * syntax tree so a path inside it (a ValidationIssue path such as ['spec','http',0,'route']) maps
 * back to a 1-based line. JSON goes through the same parser (JSON is YAML 1.2 flow syntax), so
 * `.json` files get line numbers too. A `kind: List` document (what `kubectl get -o yaml` prints
 * for several objects) is expanded into one document per item.
 *
 * Main thread only by placement, but pure: no I/O, and it never throws (syntax problems come back
 * as a result).
 */
import { Document, LineCounter, isAlias, isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';

export type PathSegment = string | number;

export interface SourceDocument {
  /** Plain JSON-compatible value, freshly built (the caller owns it and may mutate it). */
  readonly value: unknown;
  /** 1-based line where this document (or List item) starts. */
  readonly line: number;
  /** 1-based line of the field at `path`, or of its closest ancestor present in the text. */
  lineOf(path: readonly PathSegment[]): number;
}

/** Position and reason of the first syntax error; the file as a whole is unusable. */
export interface SyntaxProblem {
  line: number;
  column: number;
  reason: string;
}

export type ParseResult = { ok: true; documents: SourceDocument[] } | { ok: false; error: SyntaxProblem };

/** Aliases are expanded by toJS; cap them so a "billion laughs" file cannot blow up memory. */
const MAX_ALIAS_COUNT = 100;

/** Parses every `---` document of `text`. Empty documents and null values are dropped. */
export function parseDocuments(text: string): ParseResult {
  const lc = new LineCounter();
  let docs: Document.Parsed[];
  try {
    // merge: `<<` keys, which Kubernetes' YAML reader (go-yaml) also honours.
    docs = parseAllDocuments(text, { lineCounter: lc, merge: true, prettyErrors: true }) as Document.Parsed[];
  } catch (e) {
    return { ok: false, error: { line: 1, column: 1, reason: errorText(e) } };
  }
  const out: SourceDocument[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0] ?? lc.linePos(err.pos[0]);
      return { ok: false, error: { line: pos.line, column: pos.col, reason: firstLine(err.message) } };
    }
    if (doc.contents === null) continue;
    let value: unknown;
    try {
      // The JSON round trip turns YAML-only values into plain data and rejects alias cycles.
      value = JSON.parse(JSON.stringify(doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })));
    } catch (e) {
      return { ok: false, error: { ...lineCol(lc, doc.contents.range?.[0] ?? 0), reason: errorText(e) } };
    }
    if (value === null || value === undefined) continue;
    out.push(...expandList(value, doc, lc));
  }
  return { ok: true, documents: out };
}

function expandList(value: unknown, doc: Document.Parsed, lc: LineCounter): SourceDocument[] {
  const whole = sourceDocument(value, doc, lc, []);
  if (!isPlainObject(value) || value.kind !== 'List' || !Array.isArray(value.items)) return [whole];
  return value.items
    .map((item, i) => sourceDocument(item, doc, lc, ['items', i]))
    .filter((d) => d.value !== null && d.value !== undefined);
}

function sourceDocument(value: unknown, doc: Document.Parsed, lc: LineCounter, prefix: PathSegment[]): SourceDocument {
  const lineOf = (path: readonly PathSegment[]) => locate(doc, lc, [...prefix, ...path]);
  return { value, line: lineOf([]), lineOf };
}

/**
 * Walks the syntax tree along `path`. Map segments resolve to the line of the key (where the
 * reader's eye goes: `weight: 120`), sequence segments to the item's first line. Stops at the
 * deepest node that exists, so a missing required field points at its parent.
 */
function locate(doc: Document.Parsed, lc: LineCounter, path: readonly PathSegment[]): number {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p.key) === String(seg));
      if (!pair) break;
      offset = rangeStart(pair.key) ?? rangeStart(pair.value) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return lc.linePos(offset).line;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' || typeof key === 'number' ? String(key) : undefined;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range ? range[0] : undefined;
}

function lineCol(lc: LineCounter, offset: number): { line: number; column: number } {
  const p = lc.linePos(offset);
  return { line: p.line, column: p.col };
}

/** yaml's pretty messages are "<reason> at line 7, column 3:\n\n<excerpt>"; keep the reason. */
function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function errorText(e: unknown): string {
  return e instanceof Error ? firstLine(e.message) : String(e);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
