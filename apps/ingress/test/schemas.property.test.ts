/**
 * Property-based checks of the input schemas and the helpers that guard them (unit project: no
 * Redis, no sockets). Each property states the contract's rule independently of the code under test,
 * so a schema that drifts from the README's HTTP API (and so from the OpenAPI at /docs) fails here.
 */
import {
  buildDmsContactUrl,
  DmsContactEvent,
  DmsContactId,
  findForbiddenKey,
} from '@contact-linker/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../src/errors.ts';
import { parseJsonStrict } from '../src/json-input.ts';

const RUNS = { numRuns: 500 };

// --- the contract's rules, written out independently ---------------------------------------------

/** `id`: 1–128 chars of `[A-Za-z0-9._~:@-]` (not dots only), or a non-negative safe integer. */
function isContractId(id: unknown): boolean {
  if (typeof id === 'number') return Number.isSafeInteger(id) && id >= 0;
  return typeof id === 'string' && /^[A-Za-z0-9._~:@-]{1,128}$/.test(id) && !/^\.+$/.test(id);
}
const isContractOrganization = (org: unknown) =>
  typeof org === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(org);
/** A deliberately simple email shape: the schema may be stricter, never looser. */
const isPlausibleEmail = (email: string) =>
  email.length <= 254 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email);
const isPhoneShape = (phone: string) =>
  phone === phone.trim() &&
  phone.length >= 3 &&
  phone.length <= 40 &&
  /^\+?[0-9 ().\-/]+$/.test(phone) &&
  phone.replace(/\D/g, '').length >= 3;

function expectContractShape(data: Record<string, unknown>): void {
  expect(
    Object.keys(data).every((k) =>
      ['id', 'organization', 'email', 'telephone', 'phone'].includes(k),
    ),
  ).toBe(true);
  expect(isContractId(data.id), `id ${JSON.stringify(data.id)}`).toBe(true);
  expect(
    isContractOrganization(data.organization),
    `organization ${JSON.stringify(data.organization)}`,
  ).toBe(true);
  const methods = ['email', 'telephone', 'phone'].filter((k) => data[k] !== undefined);
  expect(methods.length, 'at least one contact method').toBeGreaterThan(0);
  if (data.email !== undefined) {
    expect(typeof data.email).toBe('string');
    const email = data.email as string;
    expect(email, 'email is trimmed').toBe(email.trim());
    expect(isPlausibleEmail(email), `email ${JSON.stringify(email)}`).toBe(true);
  }
  for (const key of ['telephone', 'phone'] as const) {
    if (data[key] !== undefined) {
      expect(typeof data[key]).toBe('string');
      expect(isPhoneShape(data[key] as string), `${key} ${JSON.stringify(data[key])}`).toBe(true);
    }
  }
}

// --- generators ------------------------------------------------------------------------------------

const goodId = fc.oneof(fc.stringMatching(/^[A-Za-z0-9._~:@-]{1,128}$/), fc.maxSafeNat());
const hostileId = fc.oneof(
  fc.string({ maxLength: 140 }),
  fc.string({ unit: 'binary', maxLength: 140 }),
  fc.constantFrom('', '.', '..', '...', '../x', 'a/b', 'javascript:alert(1)', '%2e%2e', ' a', 'a '),
  fc.constantFrom(-1, 1.5, 2 ** 53, Number.MAX_VALUE, -0),
  fc.jsonValue({ maxDepth: 2 }),
);
const goodEmail = fc.oneof(
  fc.constantFrom('jane@example.com', 'a.b+c@sub.example.nl', '  Jane.Doe@Example.COM\t'),
  fc.emailAddress(),
);
const hostileString = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  fc.constantFrom(
    '',
    ' ',
    'a@',
    '@b.nl',
    'a@b',
    'a @b.nl',
    `${'a'.repeat(250)}@b.nl`,
    'a@b.nl\r\nBcc: c@d.nl',
  ),
);
const goodPhone = fc.oneof(
  fc.constantFrom('06 12345678', '+31 20 123 4567', '(020) 123-4567', '  +31612345678 '),
  fc.stringMatching(/^\+?[0-9][0-9 ()-]{2,30}$/),
);

/** Mostly-good values with hostile ones mixed in, so both answers of the schema are reached. */
const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
  fc.oneof({ weight: 3, arbitrary: good as fc.Arbitrary<T | U> }, { weight: 1, arbitrary: bad });

const nearlyValid = fc.record(
  {
    id: mostly(goodId, hostileId),
    organization: mostly(
      fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
      fc.oneof(hostileString, fc.jsonValue({ maxDepth: 1 })),
    ),
    email: mostly(goodEmail, fc.oneof(hostileString, fc.jsonValue({ maxDepth: 1 }))),
    telephone: mostly(goodPhone, fc.oneof(hostileString, fc.integer())),
    phone: mostly(goodPhone, hostileString),
    extra: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);

// --- (a) DmsContactEvent ----------------------------------------------------------------------------

describe('DmsContactEvent.safeParse', () => {
  it('never throws on any value, JSON or not', () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withBoxedValues: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withNullPrototype: true,
          withObjectString: true,
          withSparseArray: true,
          withTypedArray: true,
        }),
        (value) => {
          expect(() => DmsContactEvent.safeParse(value)).not.toThrow();
        },
      ),
      RUNS,
    );
  });

  it('accepts only values of the documented shape (arbitrary JSON)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.object()), (value) => {
        const parsed = DmsContactEvent.safeParse(value);
        if (parsed.success) expectContractShape(parsed.data as Record<string, unknown>);
      }),
      RUNS,
    );
  });

  it('accepts exactly the bodies the contract allows (near-valid bodies, both answers reached)', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(nearlyValid, (body) => {
        // Through JSON, as the ingress receives it.
        const value = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
        const parsed = DmsContactEvent.safeParse(value);
        if (!parsed.success) {
          rejected += 1;
          // Whatever the reason, a body that breaks a rule of the contract is never accepted; the
          // converse is checked below for the fields the contract defines exactly.
          return;
        }
        accepted += 1;
        expectContractShape(parsed.data as Record<string, unknown>);
        // The input already followed the contract's id and organization rules verbatim.
        expect(parsed.data.id).toBe(value.id);
        expect(parsed.data.organization).toBe(value.organization);
        if (typeof value.email === 'string') expect(parsed.data.email).toBe(value.email.trim());
      }),
      { numRuns: 1000 },
    );
    expect(accepted).toBeGreaterThan(50);
    expect(rejected).toBeGreaterThan(50);
  });

  it('rejects every body whose id or organization breaks the contract', () => {
    fc.assert(
      fc.property(nearlyValid, (body) => {
        const value = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
        const parsed = DmsContactEvent.safeParse(value);
        if (!isContractId(value.id) || !isContractOrganization(value.organization)) {
          expect(parsed.success, JSON.stringify(value)).toBe(false);
        }
        if (
          value.email === undefined &&
          value.telephone === undefined &&
          value.phone === undefined
        ) {
          expect(parsed.success).toBe(false);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

// --- (b) buildDmsContactUrl --------------------------------------------------------------------------

const TEMPLATE = 'https://dms.example.com/customer/{id}/';

describe('buildDmsContactUrl for ids that pass the schema', () => {
  const anyId = fc.oneof(
    goodId,
    hostileId,
    fc.stringMatching(/^[.~:@-]{1,6}$/),
    fc.constantFrom('javascript:alert', 'JavaScript:x', 'a..b', '..a', '.a.', '~', '@', ':', '.-.'),
  );

  it('yields exactly one path segment under /customer/, never `..` and never `javascript:`', () => {
    let checked = 0;
    fc.assert(
      fc.property(anyId, (id) => {
        if (!DmsContactId.safeParse(id).success) return;
        checked += 1;
        const href = buildDmsContactUrl(TEMPLATE, id as string | number);
        const url = new URL(href);
        expect(url.origin).toBe('https://dms.example.com');
        expect(url.search).toBe('');
        expect(url.hash).toBe('');
        const match = /^\/customer\/([^/]+)\/$/.exec(url.pathname);
        expect(match, url.pathname).not.toBeNull();
        const segment = match?.[1] ?? '';
        expect(decodeURIComponent(segment)).toBe(String(id));
        expect(url.pathname.split('/')).not.toContain('..');
        expect(url.pathname.split('/')).not.toContain('.');
        expect(href.toLowerCase()).not.toContain('javascript:');
        // The URL parser did not rewrite the path: what was built is what a browser opens.
        expect(url.href).toBe(href);
      }),
      { numRuns: 2000 },
    );
    expect(checked).toBeGreaterThan(500);
  });
});

// --- (c) findForbiddenKey -------------------------------------------------------------------------------

const FORBIDDEN = ['__proto__', 'constructor', 'prototype'] as const;
type Forbidden = (typeof FORBIDDEN)[number];

/** Keys that look like the forbidden ones but are not (plus arbitrary strings). */
const cleanKey = fc
  .oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom(
      '__proto',
      'proto__',
      '__proto__ ',
      ' constructor',
      'Constructor',
      'PROTOTYPE',
      'prototypes',
      '_prototype',
      'constructor.prototype',
    ),
  )
  .filter((k) => !(FORBIDDEN as readonly string[]).includes(k));

/** JSON values without a forbidden key anywhere (forbidden words may appear as string values). */
const { json: cleanJson } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(
      fc.constantFrom(null, true, false, ...FORBIDDEN),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string(),
    ),
    fc.array(tie('json'), { maxLength: 4 }),
    fc.dictionary(cleanKey, tie('json'), { maxKeys: 4 }),
  ),
}));

function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  // A plain assignment of `__proto__` would set the prototype instead of creating a key.
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Plants `{key: payload}` in a copy of `base`, walking down by `steps` (each picks a child), as an own
 * key of the object reached or, in an array or at a scalar, inside a new object put there.
 */
function plant(
  base: unknown,
  key: Forbidden,
  payload: unknown,
  steps: number[],
  at: number,
): unknown {
  const root = structuredClone(base);
  const holder = (): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    defineOwn(o, key, payload);
    return o;
  };
  if (!isObject(root) && !Array.isArray(root)) return at % 2 === 0 ? holder() : [root, holder()];
  let node: Record<string, unknown> | unknown[] = root;
  for (const step of steps) {
    const children: Array<Record<string, unknown> | unknown[]> = (
      Array.isArray(node) ? node : Object.values(node)
    ).filter((c): c is Record<string, unknown> | unknown[] => isObject(c) || Array.isArray(c));
    if (children.length === 0) break;
    node = children[step % children.length]!;
  }
  if (Array.isArray(node)) node.splice(at % (node.length + 1), 0, holder());
  else defineOwn(node, key, payload);
  return root;
}

/** A chain `{"a":[{"a":[ … ]}]}` of `depth` containers with `leaf` at the bottom, built iteratively. */
function deepChain(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i += 1) value = i % 2 === 0 ? [value] : { a: value };
  return value;
}

describe('findForbiddenKey', () => {
  it('never reports a key in JSON without forbidden keys (words as values are fine)', () => {
    fc.assert(
      fc.property(cleanJson, (value) => {
        expect(findForbiddenKey(value)).toBeUndefined();
        const text = JSON.stringify(value);
        expect(findForbiddenKey(JSON.parse(text))).toBeUndefined();
        expect(() => parseJsonStrict(text)).not.toThrow();
      }),
      RUNS,
    );
  });

  it('finds a forbidden key planted at a random depth and position', () => {
    fc.assert(
      fc.property(
        cleanJson,
        fc.constantFrom(...FORBIDDEN),
        cleanJson,
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.nat(),
        (base, key, payload, steps, at) => {
          const planted = plant(base, key, payload, steps, at);
          expect(findForbiddenKey(planted)).toBe(key);
          // The same through JSON text, as the ingress sees it, plain and unicode-escaped.
          const text = JSON.stringify(planted);
          expect(text).toContain(`"${key}":`);
          expect(findForbiddenKey(JSON.parse(text))).toBe(key);
          const escaped = text.replaceAll(
            `"${key}":`,
            `"\\u${key.charCodeAt(0).toString(16).padStart(4, '0')}${key.slice(1)}":`,
          );
          expect(escaped).not.toContain(`"${key}":`);
          let thrown: unknown;
          try {
            parseJsonStrict(escaped);
          } catch (error) {
            thrown = error;
          }
          expect(thrown).toBeInstanceOf(ApiError);
          expect((thrown as ApiError).code).toBe('forbidden_key');
        },
      ),
      RUNS,
    );
  });

  it('walks very deep JSON without overflowing the stack', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20_000 }),
        fc.constantFrom(...FORBIDDEN),
        (depth, key) => {
          const leaf: Record<string, unknown> = {};
          defineOwn(leaf, key, 1);
          expect(findForbiddenKey(deepChain(depth, leaf))).toBe(key);
          expect(findForbiddenKey(deepChain(depth, { fine: key }))).toBeUndefined();
        },
      ),
      { numRuns: 30 },
    );
  });
});
