/**
 * A TCP proxy that can hold back what the server sends: a slow presence server for presencelb, made from a real
 * Kamailio. Bytes from the client pass at once; bytes from the server are delivered `delayMs` after they arrived
 * (the value when they arrived), in order. Setting delayMs to 0 makes it transparent again.
 */
import net from 'node:net';

/** DelayProxy is a running proxy on 127.0.0.1. */
export interface DelayProxy {
  readonly port: number;
  /** delayMs is how long the server's bytes are held back from now on. */
  delayMs: number;
  close(): Promise<void>;
}

/** startDelayProxy listens on a free port and forwards every connection to 127.0.0.1:targetPort. */
export async function startDelayProxy(targetPort: number): Promise<DelayProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: DelayProxy = { port: 0, delayMs: 0, close: async () => undefined };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    // Delivery times only grow, so a chunk never overtakes an earlier one when the delay shrinks.
    let lastDue = 0;
    upstream.on('data', (d) => {
      const due = Math.max(Date.now() + proxy.delayMs, lastDue);
      lastDue = due;
      setTimeout(() => client.writable && client.write(d), due - Date.now());
    });
    client.on('data', (d) => upstream.writable && upstream.write(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', () => setTimeout(end, Math.max(0, lastDue - Date.now()))).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(proxy, {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}
