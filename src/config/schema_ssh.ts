/**
 * The `[SSHAction0]` ... `[SSHAction9]` sections of pcnsconfig.ini, numbered as PowerChute numbers them:
 * one SSH action each (a command file run on another host over SSH at a phase of the shutdown). Per-value
 * checks, the checks across values ({@link sshCrossProblems}: a duplicate name, an enabled action without
 * host, user, credentials or command file), the conversion into {@link SshActionSettings} and its masked
 * copy. Spliced into the schema by `schema.ts`; pure.
 *
 * `password` and `keyPassphrase` are secrets: `***` wherever values are shown, never logged. They stay in
 * clear text in the file (they are needed as such), which the agent keeps at mode 0600.
 *
 * @module
 */
import {
  absolutePathCheck,
  boolDef,
  CONTROL,
  def as key,
  hostCheck,
  intDef,
  type KeyDef,
  type SectionProblem,
} from "./keydefs.ts";

// No value imports from schema.ts: it imports this module, and its constants are not set yet when
// sshDefs() runs. The shared helpers come from keydefs.ts.

/** The section names, `[SSHAction0]` to `[SSHAction9]`. */
export const SSH_SECTIONS = [
  "SSHAction0",
  "SSHAction1",
  "SSHAction2",
  "SSHAction3",
  "SSHAction4",
  "SSHAction5",
  "SSHAction6",
  "SSHAction7",
  "SSHAction8",
  "SSHAction9",
] as const;

/** A section of one SSH action. */
export type SshSection = typeof SSH_SECTIONS[number];

/** When an action runs: before or after this host's shutdown command file, or at start-up. */
export type SshPhase = "beforeShutdown" | "afterShutdown" | "onStartup";

/** The `phase` words. */
export const SSH_PHASES: readonly SshPhase[] = ["beforeShutdown", "afterShutdown", "onStartup"];

/** Longest `delay` and `duration`, seconds. */
export const MAX_SSH_SECONDS = 3600;

/** One `[SSHActionN]` section, typed. */
export interface SshActionSettings {
  /** The section it comes from (`SSHAction0`). */
  readonly section: SshSection;
  /** Unique name (`ssh test NAME`, the events); the section name when `name` is empty. */
  readonly name: string;
  /** Run it at its phase (false: only `ssh test` runs it). */
  readonly enabled: boolean;
  /** Remote host. */
  readonly host: string;
  /** Remote SSH port. */
  readonly port: number;
  /** Remote user. */
  readonly user: string;
  /** Private key file (OpenSSH or PEM; "" = none). */
  readonly keyFile: string;
  /** Passphrase of the key ("" = none). Secret. */
  readonly keyPassphrase: string;
  /** Password ("" = none). Secret. */
  readonly password: string;
  /** File with the remote commands, one per line. */
  readonly commandFile: string;
  /** Seconds after its phase starts before it runs. */
  readonly delay: number;
  /** Seconds it may take (connection and commands); counted in the registered shutdown time. */
  readonly duration: number;
  /** When it runs. */
  readonly phase: SshPhase;
  /** Pinned host key (`SHA256:...`, as `ssh-keygen -lf` prints), "" = pinned on first contact. */
  readonly hostKeyFingerprint: string;
}

/** Problems with an action name ("" = the section name is used). */
export function sshNameProblems(value: string): string[] {
  if (value === "") return [];
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(value) ? [] : [
    "must be 1-64 letters, digits, _, . or -, starting with a letter or digit (it is typed in `ssh test NAME`)",
  ];
}

/** Problems with a remote user name. */
export function sshUserProblems(value: string): string[] {
  if (value === "") return [];
  if (!/^[\x21-\x7e]+$/.test(value)) return ["must be printable ASCII without blanks"];
  if (value.startsWith("-")) return ['must not start with "-"'];
  return value.length > 64 ? ["must be at most 64 characters"] : [];
}

/** The canonical form of a SHA-256 host key fingerprint (`SHA256:` + 43 base64 characters), or undefined. */
export function canonicalFingerprint(value: string): string | undefined {
  const m = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(value);
  return m ? `SHA256:${m[1]}` : undefined;
}

/** Problems with a `hostKeyFingerprint` value ("" = pin on first contact). */
export function fingerprintProblems(value: string): string[] {
  if (value === "" || canonicalFingerprint(value) !== undefined) return [];
  if (/^MD5:|^([0-9a-f]{2}:){15}[0-9a-f]{2}$/i.test(value)) {
    return ["MD5 fingerprints are not accepted: use the SHA256 one (ssh-keygen -lf KEY.pub -E sha256)"];
  }
  return [
    "must be SHA256: followed by 43 base64 characters, as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` " +
    "prints it (or empty: pinned on first contact)",
  ];
}

function secretProblems(value: string): string[] {
  if (CONTROL.test(value)) return ["must not contain control characters"];
  return value.length > 1024 ? ["must be at most 1024 characters"] : [];
}

/** The keys of one `[SSHActionN]` section, in file order. */
function sectionDefs(section: SshSection): KeyDef[] {
  return [
    key({
      section,
      key: "name",
      type: "1-64 letters, digits, _ . -",
      default: "",
      description:
        "unique name of the action, for `pcns-agent ssh test NAME` and the events (empty = the section name)",
      check: sshNameProblems,
    }),
    boolDef(
      section,
      "enabled",
      false,
      "run the action at its phase (false: only `pcns-agent ssh test` runs it)",
    ),
    key({
      section,
      key: "host",
      type: "IPv4, IPv6 or host name",
      default: "",
      description: "the host to run the commands on",
      check: hostCheck(true),
    }),
    intDef(section, "port", 22, 1, 65535, "its SSH port"),
    key({
      section,
      key: "user",
      type: "user name",
      default: "",
      description: "the remote user (best a dedicated one with a forced command, see the README)",
      check: sshUserProblems,
    }),
    key({
      section,
      key: "keyFile",
      type: "absolute path",
      default: "",
      description: "private key file (OpenSSH format; Ed25519, ECDSA or RSA), readable by the agent only",
      check: absolutePathCheck,
    }),
    key({
      section,
      key: "keyPassphrase",
      type: "text",
      default: "",
      description: "passphrase of keyFile (empty = none)",
      secret: true,
      check: secretProblems,
    }),
    key({
      section,
      key: "password",
      type: "text",
      default: "",
      description: "password of the remote user, when no key is used (empty = none)",
      secret: true,
      check: secretProblems,
    }),
    key({
      section,
      key: "commandFile",
      type: "absolute path",
      default: "",
      description: "file with the remote commands, one per line, each run with its own exec request, " +
        "in order, stopping at the first that fails (blank lines and # comments are skipped)",
      check: absolutePathCheck,
    }),
    intDef(
      section,
      "delay",
      0,
      0,
      MAX_SSH_SECONDS,
      "seconds after its phase starts before the action runs",
    ),
    intDef(
      section,
      "duration",
      30,
      1,
      MAX_SSH_SECONDS,
      "seconds the action may take, connection included (cut off then); counted in the shutdown time " +
        "registered with the NMC",
    ),
    key({
      section,
      key: "phase",
      type: SSH_PHASES.join("|"),
      default: "beforeShutdown",
      description: "beforeShutdown / afterShutdown: before / after this host's shutdown command file; " +
        "onStartup: when the agent starts and when power returns after a shutdown sequence",
      check: (v) =>
        SSH_PHASES.some((p) => p.toLowerCase() === v.toLowerCase())
          ? []
          : [`must be one of ${SSH_PHASES.join(", ")}`],
      normalize: (v) => SSH_PHASES.find((p) => p.toLowerCase() === v.toLowerCase()) ?? v,
    }),
    key({
      section,
      key: "hostKeyFingerprint",
      type: "SHA256:<base64>",
      default: "",
      description:
        "the host key's SHA256 fingerprint, as `ssh-keygen -lf` prints it; empty = pinned on first " +
        "contact (written here); a different key is refused",
      check: fingerprintProblems,
      normalize: (v) => canonicalFingerprint(v) ?? v,
    }),
  ];
}

/** Every `[SSHActionN]` key, section by section. */
export function sshDefs(): KeyDef[] {
  return SSH_SECTIONS.flatMap(sectionDefs);
}

/** True for the sections the fresh file and the README table leave out (`[SSHAction1]` ... `[SSHAction9]`). */
export function isRepeatedSshSection(section: string): boolean {
  return /^SSHAction[1-9]$/.test(section);
}

type Get = (name: string) => string | undefined;

/** A section that says something (a host or a name): only those are actions. */
function configured(get: Get, section: SshSection): boolean {
  return (get(`${section}.host`) ?? "") !== "" || (get(`${section}.name`) ?? "") !== "";
}

/**
 * Problems across the values of the SSH actions: a name used twice (the later section is fatal), an
 * enabled action without host, user, key file or password, or command file (fatal); a passphrase
 * without a key file (warning).
 */
export function sshCrossProblems(get: Get): SectionProblem[] {
  const v = (section: string, k: string) => get(`${section}.${k}`) ?? "";
  const out: SectionProblem[] = [];
  const names = new Map<string, string>();
  for (const section of SSH_SECTIONS) {
    if (!configured(get, section)) continue;
    const name = v(section, "name") || section;
    const first = names.get(name.toLowerCase());
    if (first !== undefined) {
      out.push({
        key: `${section}.name`,
        message: `${section}.name = ${name} is already the name of [${first}]: names must be unique`,
        fatal: true,
      });
    } else names.set(name.toLowerCase(), section);
    if (v(section, "keyPassphrase") !== "" && v(section, "keyFile") === "") {
      out.push({
        key: `${section}.keyPassphrase`,
        message: `${section}.keyPassphrase is set but keyFile is empty: the passphrase is not used`,
        fatal: false,
      });
    }
    if (v(section, "enabled") !== "true") continue;
    const missing = (k: string, what: string) =>
      out.push({ key: `${section}.${k}`, message: `${section}.enabled = true but ${what}`, fatal: true });
    if (v(section, "host") === "") missing("host", "host is empty");
    if (v(section, "user") === "") missing("user", "user is empty");
    if (v(section, "keyFile") === "" && v(section, "password") === "") {
      missing("keyFile", "neither keyFile nor password is set");
    }
    if (v(section, "commandFile") === "") {
      missing("commandFile", "commandFile is empty: there is nothing to run");
    }
  }
  return out;
}

/**
 * The typed actions of the sections that name a host or a name. An action with a fatal problem
 * ({@link sshCrossProblems}) is built disabled, so nothing runs it.
 */
export function buildSshActions(get: (name: string) => string): SshActionSettings[] {
  const broken = new Set(
    sshCrossProblems(get).filter((p) => p.fatal).map((p) => p.key.slice(0, p.key.indexOf("."))),
  );
  return SSH_SECTIONS.filter((s) => configured(get, s)).map((section) => {
    const v = (k: string) => get(`${section}.${k}`);
    return {
      section,
      name: v("name") || section,
      enabled: v("enabled") === "true" && !broken.has(section),
      host: v("host"),
      port: Number(v("port")),
      user: v("user"),
      keyFile: v("keyFile"),
      keyPassphrase: v("keyPassphrase"),
      password: v("password"),
      commandFile: v("commandFile"),
      delay: Number(v("delay")),
      duration: Number(v("duration")),
      phase: v("phase") as SshPhase,
      hostKeyFingerprint: v("hostKeyFingerprint"),
    };
  });
}

/** A copy with the password and the key passphrase as `***`. */
export function maskSshActions(actions: readonly SshActionSettings[]): SshActionSettings[] {
  const mask = (v: string) => (v === "" ? "" : "***");
  return actions.map((a) => ({ ...a, password: mask(a.password), keyPassphrase: mask(a.keyPassphrase) }));
}
