/**
 * The extra rules for a change that comes from outside the host (the web UI and the API), on top of the
 * checks every change gets:
 *
 * - `NetworkManagementCard.password` must be a new clear-text password that meets the policy: never
 *   empty (that would silently return the agent to first-run setup) and never a ready-made hash;
 * - `[WebUI] allowCommandEdits` is never changed from outside: it decides what outside may change;
 * - with `allowCommandEdits = false`, the keys that name a command the agent runs as its user (event
 *   command files and their switches, the shutdown command file, the OS shutdown command, and the SSH
 *   actions' switch, host, port, user, key file, command file and host key) can only be
 *   changed in the file (a value equal to the current one is no change and passes).
 *
 * - a stored secret that the agent sends somewhere (the SMTP password, the SNMP trap community, an SSH
 *   action's password) follows its destination only when it is typed again: a change of the destination
 *   (`Email.smtpHost`, `smtpPort`, `security = none`, `acceptCerts = true`; `SNMP.trapReceiver_N`, `trapVersion`;
 *   `SSHActionN.host`, `port`, `hostKeyFingerprint`) without a new value of the secret in the same change is
 *   refused, so an outside admin cannot redirect the stored secret to a server of theirs.
 *
 * `config set` and `passwd` on the host are local changes and skip these rules. Pure.
 *
 * @module
 */
import { checkRemotePassword } from "./credentials.ts";
import { type ConfigProblem, problem } from "./problems.ts";
import { type ConfigValues, keyDef } from "./schema.ts";

const PASSWORD = "NetworkManagementCard.password";
const USERNAME = "NetworkManagementCard.username";
/** The switch itself. */
export const ALLOW_COMMAND_EDITS = "WebUI.allowCommandEdits";

/** True for a key naming a command the agent runs (or switching one on). */
export function isCommandKey(name: string): boolean {
  return /^Events\.event_[A-Za-z]+_(commandFilePath|enableCommandFile)$/.test(name) ||
    name === "Shutdown.shutdownCommandFile" || name === "Shutdown.osShutdownCommand" ||
    // SSH actions: what runs, where, as whom, and which host key is trusted.
    /^SSHAction[0-9]\.(enabled|host|port|user|keyFile|commandFile|hostKeyFingerprint)$/.test(name);
}

/**
 * The stored secret that setting `name` to `value` would send somewhere new or less protected (e.g.
 * `Email.password` for a new `Email.smtpHost`, or for `Email.security = none`), if any.
 */
export function secretSentTo(name: string, value: string): string | undefined {
  if (/^Email\.(smtpHost|smtpPort)$/.test(name)) return "Email.password";
  if (name === "Email.security" && value === "none") return "Email.password"; // sent in clear from now on
  if (name === "Email.acceptCerts" && value === "true") return "Email.password"; // any certificate will do
  if (name === "SNMP.trapVersion" || /^SNMP\.trapReceiver_[0-9]+$/.test(name)) return "SNMP.trapCommunity";
  const ssh = /^(SSHAction[0-9])\.(host|port|hostKeyFingerprint)$/.exec(name);
  return ssh ? `${ssh[1]}.password` : undefined;
}

/** True when the web UI and the API may change the command keys (`[WebUI] allowCommandEdits`). */
export function commandEditsAllowed(values: ConfigValues): boolean {
  return (values.get(ALLOW_COMMAND_EDITS) ?? "true") === "true";
}

/** One error per update the web UI or the API may not make (see the module documentation). */
export function remoteUpdateProblems(
  updates: Readonly<Record<string, string>>,
  current: ConfigValues,
  file: string,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const username = (updates[USERNAME] ?? current.get(USERNAME) ?? "").trim();
  const refuse = (key: string, text: string, value?: string) =>
    problems.push(
      problem("error", file, undefined, text, { key, ...(value !== undefined ? { value } : {}) }),
    );
  for (const [name, raw] of Object.entries(updates)) {
    const d = keyDef(name);
    if (!d) continue; // reported as an unknown key by the common checks
    if (name === PASSWORD) {
      const rules = checkRemotePassword(raw, username);
      if (rules.length > 0) refuse(name, `${name} ${rules.join("; ")}`, "***");
      continue;
    }
    if (name === ALLOW_COMMAND_EDITS) {
      refuse(
        name,
        `${name} can only be changed in ${file}: it decides what the web UI and the API may change`,
      );
      continue;
    }
    const value = raw.trim();
    const normalized = d.check(value).length === 0 ? d.normalize(value) : value;
    const valid = d.check(value).length === 0; // an invalid value gets its own message from the common checks
    const changed = normalized !== (current.get(name) ?? d.default);
    const secret = valid && changed ? secretSentTo(name, normalized) : undefined;
    if (secret && (current.get(secret) ?? "") !== "" && (updates[secret] ?? "").trim() === "") {
      refuse(
        name,
        `${name}: changing where the stored ${secret} is sent needs ${secret} typed again in the same ` +
          "change (otherwise the stored one would go to the new destination)",
      );
      continue;
    }
    if (!isCommandKey(name) || commandEditsAllowed(current)) continue;
    if (!changed) continue;
    refuse(
      name,
      `${name} can only be changed in ${file} ([WebUI] allowCommandEdits = false): it names a command ` +
        "the agent runs as its user",
    );
  }
  return problems;
}
