/**
 * Instrumentation by decoration: wrap an adapter (the store, the presence client) so every method call that
 * returns a promise is timed and its outcome reported to a hook, without the adapter or the core knowing. The
 * wrapper is a Proxy: methods run with the original object as `this`, other properties read through unchanged,
 * and results and rejections pass through untouched.
 */

/** Settled is told about one call: the method's name, how long it took, and the error if it rejected. */
export type Settled = (method: string, seconds: number, error: unknown | null) => void;

/** instrument returns obj with every promise-returning method reported to settled. */
export function instrument<T extends object>(obj: T, settled: Settled): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(obj, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function' || typeof prop !== 'string' || prop === 'constructor') return v;
      let w = wrapped.get(prop);
      if (!w) {
        const fn = v as (...args: unknown[]) => unknown;
        w = (...args: unknown[]) => {
          const started = process.hrtime.bigint();
          const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
          const out = fn.apply(target, args);
          if (!(out instanceof Promise)) return out;
          return out.then(
            (value) => {
              settled(prop, seconds(), null);
              return value;
            },
            (e: unknown) => {
              settled(prop, seconds(), e);
              throw e;
            },
          );
        };
        wrapped.set(prop, w);
      }
      return w;
    },
  });
}
