/**
 * Sending SNMP notifications (v2c traps, or v3 traps signed and encrypted as one v3User_N) to the
 * configured receivers through npm net-snmp sessions, one per receiver. A failure is reported (never
 * thrown): a trap is fire-and-forget, and the next repeat is the retry.
 *
 * net-snmp writes snmpEngineBoots and snmpEngineTime 0 into every v3 trap (Session.prototype.trap);
 * snmptrapd accepts them (tested). The receiver is configured with the agent's engine ID, which the agent
 * logs at start and keeps in `snmp-engine.json`.
 *
 * @module
 */
import { join } from "node:path";
import { parseTrapReceiver } from "../config/schema_snmp.ts";
import type { SnmpSettings, SnmpUser } from "../config/types.ts";
import type { Notification } from "./alarms.ts";
import { ENGINE_FILE, parseEngineFile, startEngine } from "./engine.ts";
import { type NetSnmp, snmp as netSnmp, snmpUser } from "./netsnmp.ts";
import { VarType } from "./varbind.ts";

/** The trap half of the settings. */
export type TrapSettings = Pick<
  SnmpSettings,
  "trapReceivers" | "trapVersion" | "trapCommunity" | "trapUser" | "users"
>;

interface Session {
  trap(oid: string, varbinds: unknown[], options: { upTime: number }, done: (error: unknown) => void): void;
  close(): void;
  on(event: string, listener: (error: unknown) => void): void;
}

/** Why no trap can be sent with these settings (pure), or undefined. */
export function trapProblem(settings: TrapSettings): string | undefined {
  if (settings.trapReceivers.length === 0) return "no trapReceiver_N is set";
  if (settings.trapVersion === "v3" && !settings.users.some((u) => u.name === settings.trapUser)) {
    return `trapUser = ${settings.trapUser || "(empty)"} is not a complete v3User_N`;
  }
  return undefined;
}

/** The text of a trap failure (never a secret: net-snmp's errors name addresses, not credentials). */
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Sessions to every receiver; {@link TrapSender.close} ends them. */
export class TrapSender {
  readonly #sessions: { receiver: string; session: Session }[] = [];
  readonly #report: (receiver: string, text: string) => void;

  /** Sessions for `settings` (none when {@link trapProblem} finds one), engine ID hex for v3. */
  constructor(
    snmp: NetSnmp,
    settings: TrapSettings,
    engineId: string,
    report: (receiver: string, text: string) => void,
  ) {
    this.#report = report;
    if (trapProblem(settings)) return;
    const user: SnmpUser | undefined = settings.users.find((u) => u.name === settings.trapUser);
    for (const receiver of settings.trapReceivers) {
      const target = parseTrapReceiver(receiver);
      if (!target) continue;
      const options = {
        trapPort: target.port,
        transport: target.host.includes(":") ? "udp6" : "udp4",
        version: settings.trapVersion === "v3" ? snmp.Version3 : snmp.Version2c,
        engineID: engineId,
      };
      const session = (settings.trapVersion === "v3" && user
        ? snmp.createV3Session(target.host, snmpUser(snmp, user), options)
        : snmp.createSession(target.host, settings.trapCommunity, options)) as Session;
      session.on("error", (error) =>
        report(receiver, errorText(error)));
      this.#sessions.push({ receiver, session });
    }
  }

  /** How many receivers get traps. */
  get receivers(): number {
    return this.#sessions.length;
  }

  /** Sends one notification to every receiver; resolves with each receiver's outcome. */
  send(notification: Notification, upTime: number): Promise<{ receiver: string; error?: string }[]> {
    const varbinds = notification.varbinds.map((v) => ({ oid: v.oid, type: v.type, value: v.value }));
    return Promise.all(
      this.#sessions.map(({ receiver, session }) =>
        new Promise<{ receiver: string; error?: string }>((resolve) => {
          try {
            session.trap(notification.trapOid, varbinds, { upTime: Math.max(1, upTime) }, (error) => {
              if (error) this.#report(receiver, errorText(error));
              resolve(error ? { receiver, error: errorText(error) } : { receiver });
            });
          } catch (error) {
            this.#report(receiver, errorText(error));
            resolve({ receiver, error: errorText(error) });
          }
        })
      ),
    );
  }

  /** Closes every session. */
  close(): void {
    for (const { session } of this.#sessions.splice(0)) {
      try {
        session.close();
      } catch { /* already closed */ }
    }
  }
}

/** upsTrapTestCompleted (1.3.6.1.2.1.33.2.2) with a detail saying it is a notification test. */
export function testNotification(): Notification {
  return {
    trapOid: "1.3.6.1.2.1.33.2.2",
    varbinds: [
      { oid: "1.3.6.1.2.1.33.1.7.3.0", type: VarType.Integer, value: 6 },
      { oid: "1.3.6.1.2.1.33.1.7.4.0", type: VarType.OctetString, value: "pcns-agent notification test" },
    ],
    alarm: "test",
  };
}

/**
 * Sends the notification test to every `[SNMP]` trap receiver now, from any process (for
 * `pcns-agent notify test --channel snmp`): v3 traps carry the engine ID saved in the data directory, the
 * one the running agent uses (created when there is none yet). Resolves with each receiver's outcome;
 * rejects only when {@link trapProblem} finds the settings cannot send at all.
 */
export async function sendTestTrap(
  settings: TrapSettings,
  dataDir: string,
  upTime = 1,
): Promise<{ receiver: string; error?: string }[]> {
  const problem = trapProblem(settings);
  if (problem) throw new Error(`[SNMP] no test trap sent: ${problem}`);
  let engineId: string | undefined;
  try {
    engineId = parseEngineFile(await Deno.readTextFile(join(dataDir, ENGINE_FILE)))?.engineId;
  } catch { /* none yet */ }
  engineId ??= (await startEngine(dataDir, () => {})).engineId;
  const sender = new TrapSender(netSnmp, settings, engineId, () => {});
  try {
    return await sender.send(testNotification(), upTime);
  } finally {
    sender.close();
  }
}
