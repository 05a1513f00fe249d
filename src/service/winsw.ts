/**
 * The Windows service definition (pure text generation). A compiled Deno
 * program does not speak the Service Control Manager protocol, so the agent
 * runs under WinSW (https://github.com/winsw/winsw, MIT): `WinSW-x64.exe`
 * renamed to `pcns-agent-service.exe` beside `pcns-agent.exe`, with the
 * definition `pcns-agent-service.xml` next to it. WinSW stops the agent with
 * Ctrl+C (SIGINT for the agent), waits `stoptimeout`, then kills it.
 *
 * @module
 */

/** Service id (also the name of the WinSW wrapper and its XML, without extension). */
export const WINSW_ID = "pcns-agent";
/** File name of the renamed WinSW executable. */
export const WINSW_EXE = "pcns-agent-service.exe";
/** File name of the service definition (WinSW finds it by the wrapper's name). */
export const WINSW_XML = "pcns-agent-service.xml";

/** What the service definition is made of. */
export interface WinswOptions {
  /** The executable to run (absolute Windows path). */
  readonly executable: string;
  /** Its arguments, one per element (WinSW quotes each as needed). */
  readonly arguments: readonly string[];
  /** Directory of the wrapper's own logs (the agent's stdout/stderr). */
  readonly logDir: string;
}

/** Escapes text for an XML element or attribute (pure). */
export function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** The WinSW XML (pure). */
export function winswXml(options: WinswOptions): string {
  const e = xmlEscape;
  return [
    "<!-- pcns-agent Windows service (WinSW). Written by `pcns-agent service install`. -->",
    "<service>",
    `  <id>${WINSW_ID}</id>`,
    "  <name>pcns-agent</name>",
    "  <description>PowerChute Network Shutdown compatible UPS shutdown agent</description>",
    `  <executable>${e(options.executable)}</executable>`,
    ...options.arguments.map((a) => `  <argument>${e(a)}</argument>`),
    "  <startmode>Automatic</startmode>",
    "  <depend>Tcpip</depend>",
    '  <onfailure action="restart" delay="10 sec"/>',
    "  <resetfailure>1 hour</resetfailure>",
    // The agent stops within 2 s of Ctrl+C; WinSW kills it after this.
    "  <stoptimeout>15 sec</stoptimeout>",
    `  <logpath>${e(options.logDir)}</logpath>`,
    '  <log mode="roll-by-size">',
    "    <sizeThreshold>10240</sizeThreshold>",
    "    <keepFiles>8</keepFiles>",
    "  </log>",
    "</service>",
    "",
  ].join("\r\n");
}
