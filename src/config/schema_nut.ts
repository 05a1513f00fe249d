/**
 * The `[NUT]` and `[NIS]` keys of pcnsconfig.ini: the servers for stock NUT clients (RFC 9271: upsc,
 * upsmon secondaries, with up to 10 users and a NUT name per card) and for apcupsd's NIS clients
 * (apcaccess, Home Assistant). Per-value checks and the key list; spliced into the schema by `schema.ts`,
 * converted by `build.ts`; pure.
 *
 * @module
 */
import {
  boolDef,
  cardRefCheck,
  def,
  hostListCheck,
  intDef,
  type KeyDef,
  MAX_CARDS,
  normalizeList,
  passwordCheck,
} from "./keydefs.ts";
import type { SectionName } from "./schema.ts";

/** Number of `[NUT] user_N` / `password_N` pairs. */
export const MAX_NUT_USERS = 10;

/** A NUT name: 1-32 letters, digits, `_`, `-` or `.`. */
export function nutNameCheck(what: string, reserved?: RegExp): (value: string) => string[] {
  return (value: string): string[] => {
    if (value === "") return [];
    if (!/^[A-Za-z0-9_.-]{1,32}$/.test(value)) return [`must be 1-32 letters, digits, _, - or . (a ${what})`];
    return reserved?.test(value) ? ["nmc1 ... nmc9 are the default names: choose another"] : [];
  };
}

/** The `[NUT]` and `[NIS]` keys (the servers for stock NUT and apcupsd clients). */
export function networkServerDefs(): KeyDef[] {
  const listen = (section: SectionName) =>
    def({
      section,
      key: "listenAddress",
      type: "comma-separated addresses",
      default: "",
      description: "addresses to listen on (empty = every address, IPv4 and IPv6)",
      check: hostListCheck,
      normalize: normalizeList,
    });
  return [
    boolDef("NUT", "enabled", false, "serve NUT (RFC 9271) to stock NUT clients: upsc, upsmon secondaries"),
    intDef("NUT", "port", 3493, 1, 65535, "TCP port of the NUT server"),
    listen("NUT"),
    ...Array.from({ length: MAX_NUT_USERS }, (_, i) => [
      def({
        section: "NUT",
        key: `user_${i + 1}`,
        type: "NUT user name",
        default: "",
        description: `user name ${i + 1} a NUT secondary logs in with (empty = none)`,
        check: nutNameCheck("user name"),
      }),
      def({
        section: "NUT",
        key: `password_${i + 1}`,
        type: "scrypt hash",
        default: "",
        description: `password of user_${i + 1}; type it in clear text, it is hashed on load`,
        secret: true,
        hashOnLoad: true,
        check: passwordCheck,
      }),
    ]).flat(),
    ...Array.from({ length: MAX_CARDS }, (_, i) =>
      def({
        section: "NUT",
        key: `upsName_${i + 1}`,
        type: "NUT UPS name",
        default: "",
        description: `the NUT name of the UPS of ip_${i + 1} (empty = nmc${i + 1})`,
        check: nutNameCheck("UPS name", /^nmc[1-9]$/i),
      })),
    intDef(
      "NUT",
      "hostSyncTimeout",
      15,
      0,
      3600,
      "seconds the shutdown waits for logged-in NUT secondaries to log out before the OS step (as HOSTSYNC)",
    ),
    intDef("NUT", "maxConnections", 256, 8, 10000, "NUT connections open at once"),
    intDef("NUT", "maxConnectionsPerAddress", 32, 1, 10000, "NUT connections open at once from one address"),
    intDef("NUT", "idleTimeout", 60, 1, 3600, "seconds a NUT connection may stay silent (upsd: 60)"),
    boolDef("NIS", "enabled", false, "serve apcupsd's NIS (apcaccess, Home Assistant's apcupsd integration)"),
    intDef("NIS", "port", 3551, 1, 65535, "TCP port of the NIS server"),
    listen("NIS"),
    def({
      section: "NIS",
      key: "nmc",
      type: "NMC address or NUT UPS name",
      default: "",
      description: "the card whose UPS is served: an ip_N address or its NUT name (empty = the first)",
      check: cardRefCheck,
    }),
  ];
}
