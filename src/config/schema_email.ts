/**
 * The `[Email]` keys of pcnsconfig.ini (SMTP server, credentials, sender,
 * up to 10 recipients) with their per-value checks, and the conversion of
 * checked values into {@link EmailSettings}. Spliced into the schema by
 * `schema.ts`; pure.
 *
 * @module
 */
import { isHostName, isIPv4, isIPv6 } from "./hosts.ts";
import { boolDef, CONTROL, type Def, def as baseDef, enumDef, intDef, type KeyDef } from "./keydefs.ts";
import type { EmailSecurity, EmailSettings } from "./types.ts";

/** Number of `[Email] to_N` keys. */
export const MAX_EMAIL_RECIPIENTS = 10;

/** The `security` words. */
export const EMAIL_SECURITIES: readonly EmailSecurity[] = ["starttls", "tls", "none"];

/** The SMTP port used when `smtpPort` is empty, by `security`. */
export const DEFAULT_SMTP_PORTS: Readonly<Record<EmailSecurity, number>> = {
  starttls: 587,
  tls: 465,
  none: 25,
};

/** Default `subjectPrefix`. */
export const DEFAULT_SUBJECT_PREFIX = "[pcns-agent]";

const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const ADDRESS_HINT = "an e-mail address such as ups@example.com";

/**
 * Problems with an e-mail address (`local@domain`, the domain a host name or `[IP]`), as short phrases;
 * empty = valid. Display names (`Name <a@b>`) and quoted local parts are not accepted.
 */
export function emailAddressProblems(value: string): string[] {
  if (CONTROL.test(value) || /\s/.test(value)) {
    return [`must be ${ADDRESS_HINT} (no blanks or control characters)`];
  }
  const at = value.lastIndexOf("@");
  if (at < 0) return [`must be ${ADDRESS_HINT} (no "@")`];
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (local === "" || local.length > 64 || !LOCAL_PART.test(local)) {
    return [`must be ${ADDRESS_HINT} (the part before "@" is not valid)`];
  }
  const literal = /^\[(?:IPv6:(.+)|(.+))\]$/i.exec(domain);
  const domainOk = literal ? (literal[1] ? isIPv6(literal[1]) : isIPv4(literal[2])) : isHostName(domain);
  if (!domainOk) return [`must be ${ADDRESS_HINT} (the domain after "@" is not a host name)`];
  if (value.length > 254) return ["must be at most 254 characters"];
  return [];
}

/** True for an e-mail address {@link emailAddressProblems} accepts. */
export function isEmailAddress(value: string): boolean {
  return emailAddressProblems(value).length === 0;
}

function optionalAddress(value: string): string[] {
  return value === "" ? [] : emailAddressProblems(value);
}

function textCheck(max: number) {
  return (value: string): string[] => {
    if (CONTROL.test(value)) return ["must not contain control characters"];
    return value.length > max ? [`must be at most ${max} characters`] : [];
  };
}

function smtpHostCheck(value: string): string[] {
  if (value === "") return [];
  return isIPv4(value) || isIPv6(value) || isHostName(value)
    ? []
    : ["must be an IPv4 address, an IPv6 address or a host name (empty = no e-mail)"];
}

function portCheck(value: string): string[] {
  if (value === "") return [];
  if (!/^\+?[0-9]+$/.test(value)) return ["must be a whole number 1-65535 (or empty for the default)"];
  const n = Number(value);
  return n >= 1 && n <= 65535
    ? []
    : ["must be 1-65535 (or empty: 587 for starttls, 465 for tls, 25 for none)"];
}

/** An `[Email]` key (the section is implied). */
function def(d: Omit<Def, "section">): KeyDef {
  return baseDef({ ...d, section: "Email" });
}

/** Every `[Email]` key, in file order. */
export function emailDefs(): KeyDef[] {
  return [
    def({
      key: "smtpHost",
      type: "IPv4, IPv6 or host name",
      default: "",
      description: "SMTP server that sends the notification e-mails (empty = no e-mail)",
      check: smtpHostCheck,
    }),
    def({
      key: "smtpPort",
      type: "empty or 1-65535",
      default: "",
      description: "SMTP port (empty = by security: 587 for starttls, 465 for tls, 25 for none)",
      check: portCheck,
      normalize: (v) => (v === "" ? "" : String(Number(v))),
    }),
    enumDef(
      "Email",
      "security",
      EMAIL_SECURITIES,
      "starttls",
      "starttls (plain connection upgraded to TLS; refused if the server does not offer it), tls (TLS from " +
        "the first byte) or none (no encryption: only on a trusted network)",
    ),
    boolDef(
      "Email",
      "acceptCerts",
      false,
      "accept an untrusted (e.g. self-signed) certificate of the SMTP server",
    ),
    def({
      key: "user",
      type: "text",
      default: "",
      description: "user name for SMTP AUTH (empty = no login)",
      check: textCheck(256),
    }),
    def({
      key: "password",
      type: "text",
      default: "",
      description: "password for SMTP AUTH (kept in clear text: the server needs it; never shown or logged)",
      secret: true,
      check: textCheck(256),
    }),
    def({
      key: "from",
      type: "e-mail address",
      default: "",
      description: "sender address of the notification e-mails (required when smtpHost is set)",
      check: optionalAddress,
    }),
    ...Array.from({ length: MAX_EMAIL_RECIPIENTS }, (_, i) =>
      def({
        key: `to_${i + 1}`,
        type: "e-mail address",
        default: "",
        description: `recipient ${i + 1} of the notification e-mails (empty = none)`,
        check: optionalAddress,
      })),
    def({
      key: "subjectPrefix",
      type: "text",
      default: DEFAULT_SUBJECT_PREFIX,
      description: "text put before the subject of every notification e-mail",
      check: textCheck(100),
    }),
    intDef(
      "Email",
      "timeout",
      30,
      1,
      300,
      "seconds one attempt to hand an e-mail to the SMTP server may take",
    ),
    intDef(
      "Email",
      "retries",
      3,
      0,
      10,
      "retries after a failed attempt (waiting 5 s, 10 s, 20 s, ... between them)",
    ),
  ];
}

/** The typed `[Email]` settings from checked, canonical values (`str` reads `Section.key`). */
export function buildEmailSettings(str: (name: string) => string): EmailSettings {
  const security = str("Email.security") as EmailSecurity;
  const port = str("Email.smtpPort");
  return {
    smtpHost: str("Email.smtpHost"),
    smtpPort: port === "" ? DEFAULT_SMTP_PORTS[security] : Number(port),
    security,
    acceptCerts: str("Email.acceptCerts") === "true",
    user: str("Email.user"),
    password: str("Email.password"),
    from: str("Email.from"),
    to: Array.from({ length: MAX_EMAIL_RECIPIENTS }, (_, i) => str(`Email.to_${i + 1}`)).filter((t) =>
      t !== ""
    ),
    subjectPrefix: str("Email.subjectPrefix"),
    timeout: Number(str("Email.timeout")),
    retries: Number(str("Email.retries")),
  };
}

/** A problem with a combination of `[Email]` values. */
export interface EmailProblem {
  /** The key to fix, `Email.<key>`. */
  readonly key: string;
  /** What is wrong, for people. */
  readonly message: string;
}

/**
 * What keeps configured e-mail from being sent (empty when e-mail is off or complete): a host without a
 * sender or without any recipient, or a user without a password.
 */
export function emailProblems(email: EmailSettings | undefined): EmailProblem[] {
  if (!email || email.smtpHost === "") return [];
  const problems: EmailProblem[] = [];
  if (email.from === "") {
    problems.push({ key: "Email.from", message: "Email.from must be set when smtpHost is set (the sender)" });
  }
  if (email.to.length === 0) {
    problems.push({
      key: "Email.to_1",
      message: "Email.smtpHost is set but no recipient is: set to_1 (up to to_10)",
    });
  }
  if (email.user !== "" && email.password === "") {
    problems.push({
      key: "Email.password",
      message: "Email.user is set but password is empty: SMTP AUTH needs both",
    });
  }
  return problems;
}

/** A copy with the password masked (`***`), for `config show --json`, the API and logs. */
export function maskEmailSettings(email: EmailSettings): EmailSettings {
  return { ...email, password: email.password === "" ? "" : "***" };
}
