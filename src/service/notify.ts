/**
 * sd_notify for systemd `Type=notify` services: READY=1 once the agent
 * listens, STATUS= lines, STOPPING=1, RELOADING=1, and WATCHDOG=1 pings at
 * half of `WatchdogSec=`. Messages are datagrams to the unix socket named by
 * `NOTIFY_SOCKET` (`@name` is an abstract socket, sent to as `"\0name"`).
 * Without NOTIFY_SOCKET everything is a no-op.
 *
 * The sending socket is bound to a random abstract name, so nothing is
 * created on disk (the unit's file system is read-only). Needs
 * `--unstable-net` (deno.json enables it).
 *
 * @module
 */

/** Environment variables systemd sets for a notify service. */
export const NOTIFY_ENV = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] as const;

/**
 * Formats a notification (pure): `KEY=value` lines joined by `\n`, in the
 * given order. A line break inside a value would start a new assignment, so
 * it becomes a space.
 */
export function notifyMessage(fields: Readonly<Record<string, string | number>>): string {
  return Object.entries(fields)
    .map(([key, value]) => `${key}=${String(value).replace(/[\r\n]+/g, " ")}`)
    .join("\n");
}

/**
 * The socket address to send to (pure): an absolute path as is, `@name` as
 * the abstract address `"\0name"`; undefined when unset or not a unix socket
 * address (e.g. `vsock:`), in which case notifications are skipped.
 */
export function notifySocketAddress(value: string | undefined): string | undefined {
  if (!value) return undefined;
  if (value.startsWith("@") && value.length > 1) return "\0" + value.slice(1);
  if (value.startsWith("/")) return value;
  return undefined;
}

/**
 * The watchdog ping interval in ms (pure): half of `WATCHDOG_USEC`, or
 * undefined when the watchdog is off, the value is not a positive integer, or
 * `WATCHDOG_PID` names another process.
 */
export function watchdogIntervalMs(
  usec: string | undefined,
  watchdogPid: string | undefined,
  pid: number,
): number | undefined {
  if (!usec || !/^\d+$/.test(usec) || Number(usec) <= 0) return undefined;
  if (watchdogPid && watchdogPid.trim() !== String(pid)) return undefined;
  return Math.max(1, Math.floor(Number(usec) / 2000));
}

/** Sends datagrams to an address (replaceable in tests). */
export type DatagramSender = (message: Uint8Array, path: string) => Promise<void>;

/** What {@link SystemdNotifier.fromEnv} reads. */
export interface NotifyEnvironment {
  /** NOTIFY_SOCKET. */
  readonly socket?: string;
  /** WATCHDOG_USEC. */
  readonly watchdogUsec?: string;
  /** WATCHDOG_PID. */
  readonly watchdogPid?: string;
}

/** Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (empty without the env permission). */
export function readNotifyEnvironment(): NotifyEnvironment {
  try {
    return {
      socket: Deno.env.get("NOTIFY_SOCKET"),
      watchdogUsec: Deno.env.get("WATCHDOG_USEC"),
      watchdogPid: Deno.env.get("WATCHDOG_PID"),
    };
  } catch {
    return {};
  }
}

/** Removes the notify variables from this process's environment, so command files do not inherit them. */
export function clearNotifyEnvironment(): void {
  try {
    for (const name of NOTIFY_ENV) Deno.env.delete(name);
  } catch {
    // no env permission: nothing was read either
  }
}

/** A datagram sender over one unix datagram socket bound to a random abstract name (Linux). */
function unixSender(): { send: DatagramSender; close(): void } {
  let socket: Deno.DatagramConn | undefined;
  return {
    async send(message, path) {
      socket ??= Deno.listenDatagram({
        transport: "unixpacket",
        path: `\0pcns-agent-notify-${Deno.pid}-${crypto.randomUUID()}`,
      });
      await socket.send(message, { transport: "unixpacket", path });
    },
    close() {
      socket?.close();
      socket = undefined;
    },
  };
}

/** Talks to systemd's notify socket; every method is a no-op when the agent is not a notify service. */
export class SystemdNotifier {
  readonly #path: string | undefined;
  readonly #watchdogMs: number | undefined;
  readonly #send: DatagramSender;
  readonly #closeSocket: () => void;
  readonly #onError: (message: string) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #failed = false;

  /** Creates a notifier for a socket address (see {@link notifySocketAddress}) and watchdog interval. */
  constructor(options: {
    socket?: string;
    watchdogMs?: number;
    send?: DatagramSender;
    onError?: (message: string) => void;
  }) {
    this.#path = notifySocketAddress(options.socket);
    this.#watchdogMs = this.#path ? options.watchdogMs : undefined;
    const sender = options.send ? { send: options.send, close() {} } : unixSender();
    this.#send = sender.send;
    this.#closeSocket = () => sender.close();
    this.#onError = options.onError ?? (() => {});
  }

  /**
   * A notifier from NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID, which are then
   * removed from the environment (command files must not inherit them).
   */
  static fromEnv(onError?: (message: string) => void): SystemdNotifier {
    const env = readNotifyEnvironment();
    if (env.socket) clearNotifyEnvironment();
    return new SystemdNotifier({
      socket: env.socket,
      watchdogMs: watchdogIntervalMs(env.watchdogUsec, env.watchdogPid, Deno.pid),
      onError,
    });
  }

  /** True when NOTIFY_SOCKET named a usable socket. */
  get enabled(): boolean {
    return this.#path !== undefined;
  }

  /** The watchdog ping interval (ms), when systemd asked for one. */
  get watchdogMs(): number | undefined {
    return this.#watchdogMs;
  }

  /** Sends one notification; false (and one reported error) if it could not be sent. */
  async notify(fields: Readonly<Record<string, string | number>>): Promise<boolean> {
    if (!this.#path) return false;
    try {
      await this.#send(new TextEncoder().encode(notifyMessage(fields)), this.#path);
      return true;
    } catch (error) {
      if (!this.#failed) {
        this.#failed = true; // report once: a broken socket would otherwise repeat on every watchdog ping
        this.#onError(`sd_notify to ${this.#path.replace("\0", "@")} failed: ${(error as Error).message}`);
      }
      return false;
    }
  }

  /** READY=1 with a status line; starts the watchdog pings when systemd asked for them. */
  async ready(status: string): Promise<boolean> {
    const sent = await this.notify({ READY: 1, STATUS: status });
    this.#startWatchdog();
    return sent;
  }

  /** STATUS= only. */
  status(status: string): Promise<boolean> {
    return this.notify({ STATUS: status });
  }

  /** RELOADING=1 (a configuration reload starts). */
  reloading(status = "reloading the configuration"): Promise<boolean> {
    return this.notify({ RELOADING: 1, STATUS: status });
  }

  /** STOPPING=1; stops the watchdog pings. */
  stopping(status = "stopping"): Promise<boolean> {
    this.#stopWatchdog();
    return this.notify({ STOPPING: 1, STATUS: status });
  }

  /** Stops the pings and closes the socket. */
  close(): void {
    this.#stopWatchdog();
    this.#closeSocket();
  }

  #startWatchdog(): void {
    if (!this.#watchdogMs || this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.notify({ WATCHDOG: 1 }), this.#watchdogMs);
  }

  #stopWatchdog(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
