import type { JSONValue } from "./types.js";

/**
 * A message that does not match the protocol. `path` names the offending field
 * (`runs[0].status`), so the message says what is wrong and where.
 */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  constructor(readonly path: string, readonly problem: string) {
    super(path ? `${path}: ${problem}` : problem);
  }
}

type JSONObject = { readonly [key: string]: JSONValue };

/**
 * Typed reads of one JSON object's fields. Guarantees: every getter either returns a value of
 * the promised type or throws a `ProtocolError` naming the field; only own properties count
 * (a field named `__proto__` or `toString` is just a missing field).
 */
export class Fields {
  private constructor(private readonly members: JSONObject, private readonly path: string) {}

  /** The object in `value` (a parsed message), or a `ProtocolError`. */
  static of(value: unknown, path = ""): Fields {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new ProtocolError(path, "expected a JSON object");
    }
    // A parsed JSON object (not null, not an array): its values are JSON values.
    return new Fields(value as JSONObject, path);
  }

  /** Parses `text` as JSON into `Fields`. */
  static parse(text: string): Fields {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ProtocolError("", `malformed JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    return Fields.of(value);
  }

  private name(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  /** The raw value, or undefined when absent. */
  raw(key: string): JSONValue | undefined {
    return Object.prototype.hasOwnProperty.call(this.members, key) ? this.members[key] : undefined;
  }

  has(key: string): boolean {
    return this.raw(key) !== undefined;
  }

  private required(key: string): JSONValue {
    const value = this.raw(key);
    if (value === undefined) throw new ProtocolError(this.name(key), "missing");
    return value;
  }

  string(key: string, minLength = 0): string {
    const value = this.required(key);
    if (typeof value !== "string") throw new ProtocolError(this.name(key), "expected a string");
    if (value.length < minLength) throw new ProtocolError(this.name(key), "must not be empty");
    return value;
  }

  optionalString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : undefined;
  }

  number(key: string): number {
    const value = this.required(key);
    if (typeof value !== "number") throw new ProtocolError(this.name(key), "expected a number");
    return value;
  }

  nullableNumber(key: string): number | null {
    const value = this.required(key);
    if (value === null) return null;
    return this.number(key);
  }

  /** An integer no smaller than `minimum` (and below 2^53, so exact). */
  integer(key: string, minimum = Number.MIN_SAFE_INTEGER): number {
    const value = this.number(key);
    if (!Number.isSafeInteger(value)) throw new ProtocolError(this.name(key), "expected an integer");
    if (value < minimum) throw new ProtocolError(this.name(key), `must be at least ${minimum}`);
    return value;
  }

  optionalInteger(key: string, minimum?: number): number | undefined {
    return this.has(key) ? this.integer(key, minimum) : undefined;
  }

  boolean(key: string): boolean {
    const value = this.required(key);
    if (typeof value !== "boolean") throw new ProtocolError(this.name(key), "expected true or false");
    return value;
  }

  /** One of `allowed` (a closed enum). */
  oneOf<T extends string>(key: string, allowed: readonly T[]): T {
    const value = this.string(key);
    const found = allowed.find((candidate) => candidate === value);
    if (found === undefined) {
      throw new ProtocolError(this.name(key), `${JSON.stringify(value)} is not one of ${allowed.join(", ")}`);
    }
    return found;
  }

  object(key: string): Fields {
    return Fields.of(this.required(key), this.name(key));
  }

  optionalObject(key: string): Fields | undefined {
    return this.has(key) ? this.object(key) : undefined;
  }

  /** The object itself, for free-form maps (`results`). */
  entries(): JSONObject {
    const copy: { [key: string]: JSONValue } = {};
    for (const key of Object.keys(this.members)) {
      // defineProperty, so that a key named `__proto__` stays a plain key.
      Object.defineProperty(copy, key, { value: this.members[key], enumerable: true, writable: true, configurable: true });
    }
    return copy;
  }

  array<T>(key: string, item: (value: JSONValue, path: string) => T): T[] {
    const value = this.required(key);
    if (!Array.isArray(value)) throw new ProtocolError(this.name(key), "expected an array");
    // Array.isArray narrows to any[]; the elements of a parsed JSON array are JSON values.
    return (value as readonly JSONValue[]).map((element, index) => item(element, `${this.name(key)}[${index}]`));
  }
}
