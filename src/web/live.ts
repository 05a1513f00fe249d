/**
 * Server-sent events (text/event-stream) that keep a page live: every second
 * and right after each agent event the named parts are rendered again, and
 * only the parts whose text changed are sent (`event: parts`, a JSON object
 * name -> { h: hash, html: text }). The stream ends by itself when its session ends; the
 * transport cuts it when its listener closes (certificate swap, stop), and
 * EventSource reconnects.
 *
 * @module
 */

/** How a stream renders and what it follows. */
export interface LiveStreamOptions {
  /** The parts now, by name (JSX elements or strings). */
  render(): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Calls `listener` after each agent event; returns the unsubscribe function. */
  subscribe?(listener: () => void): () => void;
  /** False once the stream must end (session expired or logged out); checked every `aliveCheckMs`. */
  alive(): boolean;
  /** The stream ends after this long (the client reconnects and authenticates again); default: never. */
  readonly maxAgeMs?: number;
  /** Render interval, ms (default 1000). */
  readonly intervalMs?: number;
  /** Session check interval, ms (default 5000). */
  readonly aliveCheckMs?: number;
  /** A comment line is sent after this much silence so proxies keep the stream (default 15 000 ms). */
  readonly keepAliveMs?: number;
  /** The event name (default "parts": a JSON object of the changed parts; another name: each part as is). */
  readonly event?: string;
}

const encoder = new TextEncoder();

/** The text of a rendered part (hono JSX elements render to strings, possibly asynchronously). */
async function text(part: unknown): Promise<string> {
  if (typeof part === "string") return part;
  if (part === null || part === undefined) return "";
  return String(await (part as { toString(): string | Promise<string> }).toString());
}

/** A short hash of a part's text (FNV-1a, 32 bits, hex): the page marks its parts with it. */
export function partHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** One server-sent event message; `data` lines never contain a raw newline. */
export function sseMessage(event: string, data: string): string {
  return `event: ${event}\n${data.split(/\r?\n/).map((l) => `data: ${l}`).join("\n")}\n\n`;
}

/** A streaming response that sends the changed parts; see the module documentation. */
export function liveStream(options: LiveStreamOptions): Response {
  const interval = options.intervalMs ?? 1000;
  const aliveEvery = options.aliveCheckMs ?? 5000;
  const keepAlive = options.keepAliveMs ?? 15_000;
  const event = options.event ?? "parts";
  const sent = new Map<string, string>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let soon: ReturnType<typeof setTimeout> | undefined;
  let unsubscribe: (() => void) | undefined;
  let closed = false;
  let rendering = false;
  let lastWrite = Date.now();
  let lastAliveCheck = Date.now();
  const openedAt = Date.now();

  const stop = () => {
    closed = true;
    if (timer !== undefined) clearInterval(timer);
    if (soon !== undefined) clearTimeout(soon);
    unsubscribe?.();
  };
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (chunk: string) => {
        if (closed) return;
        try {
          controller.enqueue(encoder.encode(chunk));
          lastWrite = Date.now();
        } catch {
          stop();
        }
      };
      const end = (why: string) => {
        write(sseMessage("end", why));
        stop();
        try {
          controller.close();
        } catch { /* already closed */ }
      };
      const tick = async () => {
        if (closed || rendering) return;
        if (Date.now() - lastAliveCheck >= aliveEvery) {
          lastAliveCheck = Date.now();
          if (!options.alive()) return end("session ended");
        }
        if (options.maxAgeMs !== undefined && Date.now() - openedAt >= options.maxAgeMs) {
          return end("reconnect to go on");
        }
        rendering = true;
        try {
          const parts = await options.render();
          // Each changed part with its hash: the page skips a part it already shows (the first message).
          const changed: Record<string, { h: string; html: string }> = {};
          for (const [name, part] of Object.entries(parts)) {
            const html = await text(part);
            if (sent.get(name) !== html) changed[name] = { h: partHash(html), html };
            sent.set(name, html);
          }
          if (Object.keys(changed).length === 0) {
            if (Date.now() - lastWrite >= keepAlive) write(": keep-alive\n\n");
          } else if (event === "parts") {
            write(sseMessage(event, JSON.stringify(changed)));
          } else {
            for (const part of Object.values(changed)) write(sseMessage(event, part.html)); // as rendered
          }
        } catch (error) {
          write(sseMessage("error", (error as Error).message));
        } finally {
          rendering = false;
        }
      };
      write("retry: 2000\n\n");
      timer = setInterval(() => void tick(), interval);
      unsubscribe = options.subscribe?.(() => {
        // Several events of one packet come together: render once, right after them.
        if (soon === undefined && !closed) {
          soon = setTimeout(() => {
            soon = undefined;
            void tick();
          }, 50);
        }
      });
      void tick();
    },
    cancel() {
      stop();
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store",
      "X-Accel-Buffering": "no",
    },
  });
}
