/**
 * Loading the configuration: read the YAML file, apply PRESENCELB_* environment overrides, validate with the
 * schema, deep-freeze. Errors name the field that is wrong. Nothing else in presencelb reads process.env, but for
 * bin/presencelb.mjs (PRESENCELB_SOURCE_MAPS=1 keeps source-mapped stack traces).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.ts';
import { fail, ok, type FieldError, type Result } from '../core/result.ts';

/** parseConfig validates an already-parsed object (the YAML document) and returns a frozen Config. */
export function parseConfig(input: unknown): Result<Config> {
  const parsed = configSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const errors: FieldError[] = parsed.error.issues.map((i) => ({
      code: 'CONFIG_INVALID',
      path: i.path.join('.'),
      message: i.message,
    }));
    return fail(...errors);
  }
  return ok(deepFreeze(parsed.data));
}

/**
 * loadConfig reads a YAML file (or none) and validates it. env may carry PRESENCELB_LOG_LEVEL and
 * PRESENCELB_STORE_URL (postgres:// URL) overrides, for deployments that template only the environment.
 */
export function loadConfig(file: string | undefined, env: Readonly<Record<string, string | undefined>> = {}): Result<Config> {
  let doc: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      return fail({ code: 'CONFIG_INVALID', path: '', message: `cannot read ${file}: ${(e as Error).message}` });
    }
    try {
      doc = parseYaml(text) ?? {};
    } catch (e) {
      return fail({ code: 'CONFIG_INVALID', path: '', message: `${file} is not valid YAML: ${(e as Error).message}` });
    }
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      return fail({ code: 'CONFIG_INVALID', path: '', message: `${file} must hold a YAML mapping` });
    }
  }
  const merged = structuredClone(doc) as Record<string, any>;
  if (env.PRESENCELB_LOG_LEVEL) merged.log = { ...(merged.log ?? {}), level: env.PRESENCELB_LOG_LEVEL };
  if (env.PRESENCELB_STORE_URL) merged.store = { client: 'pg', connection: env.PRESENCELB_STORE_URL };
  return parseConfig(merged);
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}
