/**
 * What an enabled SSH action needs from this host, checked before a change is accepted (called by
 * src/config/requirements.ts, loaded only when an action is enabled): its key file exists, is readable,
 * holds a private key ssh2 can use (with its passphrase); its command file exists and holds 1-100
 * commands. A change is refused with an error on the key; at start the problem is a warning and the
 * action fails (SshActionFailed) when it runs.
 *
 * @module
 */
import { SSH_SECTIONS } from "../config/schema_ssh.ts";
import { commandFileCommands, keyFileText } from "./actions.ts";

/** Keys whose change triggers the checks of their section. */
const WATCHED = ["enabled", "keyFile", "keyPassphrase", "commandFile"];

/** True when a value of `[SSHActionN] enabled` is true (the checks are worth loading). */
export function anySshActionEnabled(values: ReadonlyMap<string, string>): boolean {
  return SSH_SECTIONS.some((s) => values.get(`${s}.enabled`) === "true");
}

/**
 * One problem per key (`SSHActionN.keyFile` or `.commandFile`) of the enabled actions whose files cannot
 * be used; only the sections with a key in `changed` (undefined: every section).
 */
export async function sshStartNeeds(
  values: ReadonlyMap<string, string>,
  changed: ReadonlySet<string> | undefined,
): Promise<{ key: string; text: string }[]> {
  const out: { key: string; text: string }[] = [];
  for (const section of SSH_SECTIONS) {
    const v = (k: string) => values.get(`${section}.${k}`) ?? "";
    if (v("enabled") !== "true") continue;
    if (changed && !WATCHED.some((k) => changed.has(`${section}.${k}`))) continue;
    if (v("keyFile") !== "") {
      const key = await keyFileText(v("keyFile"), v("keyPassphrase"));
      if ("error" in key) out.push({ key: `${section}.keyFile`, text: `the key file ${key.error}` });
    }
    if (v("commandFile") !== "") {
      const commands = await commandFileCommands(v("commandFile"));
      if ("error" in commands) {
        out.push({ key: `${section}.commandFile`, text: `the command file ${commands.error}` });
      }
    }
  }
  return out;
}
