/**
 * What a configuration needs from this host at start, checked on the file system before a change is
 * accepted: the one check shared by the web UI, the API, `config set`, hot reload, `config check` and
 * the start itself (src/config/store.ts), so a value that would stop the next start is refused when it is
 * made, not discovered at the next boot.
 *
 * - `[WebUI] certificateFile` / `keyFile`: both or neither; readable regular files of at most 1 MiB
 *   (never a device such as /dev/zero); a parsable certificate and matching key the TLS stack and
 *   browsers accept (see src/web/certificate.ts, which also serves the Certificate page's upload);
 * - `[EventLog] fileName`: its directory exists and is writable; an existing log is a plain file
 *   (not a directory, a device or a symbolic link);
 * - `[Networking] udpListenAddresses` and `uiListenAddress`: addresses of this host (a UDP or TCP listener
 *   on port 0 opens);
 * - `[SSHActionN] keyFile` / `commandFile` of an enabled action: a usable key, 1-100 commands.
 *
 * At start a problem is not fatal: {@link START_FALLBACKS} says what replaces the value so that monitoring
 * (the UDP path) always starts; the rest only warns (the web UI then fails to listen, with an event).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { checkCertificateFiles } from "../web/certificate.ts";
import type { Evaluation } from "./evaluate.ts";
import { describeNonRegular } from "./fs.ts";
import { parseIni, setIniValues, stringifyIni } from "./ini.ts";
import { type ConfigProblem, problem } from "./problems.ts";
import { buildConfig } from "./build.ts";
import { splitList } from "./keydefs.ts";
import { type ConfigValues, keyDef } from "./schema.ts";
import { SSH_SECTIONS } from "./schema_ssh.ts";

const CERT = "WebUI.certificateFile";
const KEY = "WebUI.keyFile";
const EVENT_LOG = "EventLog.fileName";
const UDP_ADDRESSES = "Networking.udpListenAddresses";
const UI_ADDRESS = "Networking.uiListenAddress";

/** Every key checked here. */
export const START_NEED_KEYS: readonly string[] = [CERT, KEY, EVENT_LOG, UDP_ADDRESSES, UI_ADDRESS];

/**
 * What replaces a value that fails its check at start, and what that means, for the warning: the
 * generated certificate, the default event log, every address. Keys not listed keep their value.
 */
export const START_FALLBACKS: Readonly<Record<string, { readonly value: string; readonly means: string }>> = {
  [CERT]: {
    value: "",
    means: "the web UI serves the generated certificate (ui-cert.pem in the data directory)",
  },
  [KEY]: {
    value: "",
    means: "the web UI serves the generated certificate (ui-cert.pem in the data directory)",
  },
  [EVENT_LOG]: {
    value: "EventLog.jsonl",
    means: "events go to the default EventLog.jsonl in the data directory",
  },
  [UDP_ADDRESSES]: { value: "", means: "the UDP listener binds every address" },
};

/** Where the checks look, and which keys to check. */
export interface StartNeedsOptions {
  /** The data directory (the event log is relative to it). */
  readonly dataDir: string;
  /** The configuration file, for messages. */
  readonly file: string;
  /** Only the checks these keys take part in (default: every check). */
  readonly keys?: Iterable<string>;
}

/**
 * Problems (errors, one per key, naming the key, the value and what is wrong) with what the start will
 * need; empty when the next start can use every checked value.
 */
export async function checkStartNeeds(
  values: ConfigValues,
  options: StartNeedsOptions,
): Promise<ConfigProblem[]> {
  const wanted = options.keys === undefined ? new Set(START_NEED_KEYS) : new Set(options.keys);
  const value = (key: string) => values.get(key) ?? "";
  const problems: ConfigProblem[] = [];
  const report = (key: string, text: string) =>
    problems.push(problem("error", options.file, undefined, `${key} = ${value(key)}: ${text}`, {
      key,
      value: value(key),
    }));
  if (wanted.has(CERT) || wanted.has(KEY)) {
    const found = await checkCertificateFiles({ certificateFile: value(CERT), keyFile: value(KEY) });
    if (found) report(`WebUI.${found.key}`, found.problem);
  }
  if (wanted.has(EVENT_LOG)) {
    const found = await eventLogProblem(options.dataDir, value(EVENT_LOG));
    if (found) report(EVENT_LOG, found);
  }
  if (wanted.has(UDP_ADDRESSES)) {
    const bad = splitList(value(UDP_ADDRESSES)).map((a) => listenProblem(a, "udp")).filter((p) =>
      p !== undefined
    );
    if (bad.length > 0) report(UDP_ADDRESSES, bad.join("; "));
  }
  if (wanted.has(UI_ADDRESS) && value(UI_ADDRESS) !== "") {
    const found = listenProblem(value(UI_ADDRESS), "tcp");
    if (found) report(UI_ADDRESS, found);
  }
  // [SSHActionN]: the key and command files of the enabled actions (src/ssh/requirements.ts, which loads ssh2).
  if (SSH_SECTIONS.some((s) => value(`${s}.enabled`) === "true")) {
    const { sshStartNeeds } = await import("../ssh/requirements.ts");
    const changed = options.keys === undefined ? undefined : wanted;
    for (const p of await sshStartNeeds(values, changed)) report(p.key, p.text);
  }
  return problems;
}

/**
 * The start's answer to problems found by {@link checkStartNeeds}: each value with a start fallback is
 * replaced (in the typed config and in the backup; the certificate and its key together), the others are
 * kept; every problem becomes a warning saying what happens instead. Pure.
 */
export function applyStartFallbacks(
  ev: Evaluation,
  found: readonly ConfigProblem[],
  file: string,
): Evaluation {
  const values = new Map(ev.values);
  const problems = [...ev.problems];
  const replacements: Array<[string, string, string]> = [];
  for (const p of found) {
    const key = p.key!;
    const text = p.message.startsWith(`${file}: `) ? p.message.slice(file.length + 2) : p.message;
    const fallback = START_FALLBACKS[key];
    const extra = { key, value: p.value ?? "" };
    if (!fallback) {
      problems.push(problem("warning", file, undefined, text, extra));
      continue;
    }
    for (const name of key.startsWith("WebUI.") ? [CERT, KEY] : [key]) {
      values.set(name, fallback.value);
      const d = keyDef(name)!;
      replacements.push([d.section, d.key, fallback.value]);
    }
    problems.push(
      problem("warning", file, undefined, `${text}; ${fallback.means} until this is fixed`, extra),
    );
  }
  return {
    ...ev,
    values,
    config: buildConfig(values),
    problems,
    backupText: stringifyIni(setIniValues(parseIni(ev.backupText), replacements)),
  };
}

/** Why the event log `fileName` (relative to `dataDir`) cannot be written, or undefined. */
export async function eventLogProblem(dataDir: string, fileName: string): Promise<string | undefined> {
  const path = join(dataDir, fileName);
  const dir = dirname(path);
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) return `${dir} is not a directory`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return `the directory ${dir} does not exist`;
    return `the directory ${dir} cannot be used: ${errorText(error)}`;
  }
  let existing: Deno.FileInfo | undefined;
  try {
    existing = await Deno.lstat(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return `${path} cannot be used: ${errorText(error)}`;
  }
  if (existing?.isSymlink) {
    return `${path} is a symbolic link; the event log must be a plain file (events are never appended through a link)`;
  }
  if (existing && !existing.isFile) return `${path} ${describeNonRegular(existing)}`;
  try {
    if (existing) {
      (await Deno.open(path, { append: true })).close();
    } else {
      const probe = join(dir, `.pcns-agent-write-test-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
      (await Deno.open(probe, { write: true, createNew: true, mode: 0o600 })).close();
      await Deno.remove(probe);
    }
  } catch (error) {
    return `${existing ? path : `the directory ${dir}`} is not writable: ${errorText(error)}`;
  }
  return undefined;
}

/** Why nothing can listen on `address` here (port 0, closed at once), or undefined. */
function listenProblem(address: string, transport: "udp" | "tcp"): string | undefined {
  const hostname = address.replace(/^\[(.*)\]$/, "$1");
  try {
    if (transport === "udp") Deno.listenDatagram({ hostname, port: 0, transport: "udp" }).close();
    else Deno.listen({ hostname, port: 0 }).close();
    return undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    return `cannot listen on ${address} (${errorText(error)}): not an address of this host`;
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
