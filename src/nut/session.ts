/**
 * One NUT client connection's commands, answered as upsd 2.8 answers them (server/netcmds.h, netget.c,
 * netlist.c, netuser.c, netmisc.c in NUT), over the agent's state. Transport-free: the TCP shell
 * (server.ts) feeds it lines and writes what it returns.
 *
 * What a client may do:
 * - read without logging in (`VER`, `NETVER`, `HELP`, `LIST`, `GET`), as with upsd;
 * - `USERNAME` + `PASSWORD` + `LOGIN <ups>`: count as a secondary drawing power from that UPS (the
 *   agent waits for it to log out before its own OS shutdown); the password is checked at LOGIN;
 * - never more: `PRIMARY`/`MASTER`, `FSD`, `SET` and `INSTCMD` are refused with `ERR ACCESS-DENIED` (after
 *   the USERNAME-REQUIRED / PASSWORD-REQUIRED checks upsd makes first): the agent is the only primary.
 *
 * @module
 */
import type { UpsState } from "../ups/state.ts";
import {
  errorLine,
  listLines,
  NET_VERSION,
  NUT_ERRORS as E,
  type NutError,
  quote,
  tokenize,
} from "./protocol.ts";
import {
  describeVariable,
  isStale,
  type NutVariable,
  type ServedUps,
  upsVariable,
  upsVariables,
  variableType,
} from "./variables.ts";

/** One served UPS as a session sees it. */
export interface SessionUps {
  /** Its name and card. */
  readonly served: ServedUps;
  /** The card's UPS state (undefined: not known to the monitor, treated as stale). */
  readonly state: UpsState | undefined;
  /** Forced shutdown is set. */
  readonly fsd: boolean;
}

/** What a session needs from the server. */
export interface SessionContext {
  /** Every served UPS, in order. */
  list(): readonly ServedUps[];
  /** A served UPS by name (case-insensitive), undefined when unknown. */
  find(name: string): SessionUps | undefined;
  /** Sessions logged in to a UPS now. */
  numLogins(name: string): number;
  /** Addresses of the sessions logged in to a UPS. */
  clients(name: string): readonly string[];
  /** Checks a user name and password (false for an unknown user); may take time (scrypt). */
  verify(username: string, password: string, address: string): Promise<boolean>;
  /** STARTTLS can be offered (a certificate is available). */
  tlsAvailable(): boolean;
  /** The server's version text (VER, server.info). */
  readonly version: string;
}

/** What to do after a request. */
export interface SessionReply {
  /** Lines to send, without line breaks. */
  readonly lines: readonly string[];
  /** Close the connection after sending. */
  readonly close?: boolean;
  /** Switch to TLS after sending (STARTTLS accepted). */
  readonly startTls?: boolean;
}

const reply = (...lines: string[]): SessionReply => ({ lines });
const fail = (word: NutError): SessionReply => reply(errorLine(word));

/** Commands that need USERNAME and PASSWORD first (upsd's FLAG_USER). */
const NEED_USER = new Set(["LOGIN", "PRIMARY", "MASTER", "FSD", "SET", "INSTCMD"]);

/** The state of one client connection and its command handling. */
export class NutSession {
  /** The client's address. */
  readonly address: string;
  /** USERNAME given. */
  username: string | undefined;
  /** The UPS this session is logged in to. */
  loginUps: string | undefined;
  /** When the LOGIN was accepted (ms since epoch). */
  loginAt: number | undefined;
  /** TLS is on. */
  tls = false;
  #password: string | undefined;
  readonly #ctx: SessionContext;
  readonly #now: () => number;

  /** A session for a client at `address`. */
  constructor(address: string, ctx: SessionContext, now: () => number = Date.now) {
    this.address = address;
    this.#ctx = ctx;
    this.#now = now;
  }

  /** Answers one request line (without its line break); an empty line gets no answer. */
  async handle(line: string): Promise<SessionReply> {
    const tokens = tokenize(line);
    if ("error" in tokens) return fail(E.invalidArgument);
    const [command, ...args] = tokens.words;
    if (command === undefined) return { lines: [] };
    const name = command.toUpperCase();
    if (NEED_USER.has(name)) {
      if (this.username === undefined) return fail(E.usernameRequired);
      if (this.#password === undefined) return fail(E.passwordRequired);
    }
    switch (name) {
      case "VER":
        return args.length ? fail(E.invalidArgument) : reply(this.#ctx.version);
      case "NETVER":
      case "PROTVER":
        return args.length ? fail(E.invalidArgument) : reply(NET_VERSION);
      case "HELP":
        return args.length ? fail(E.invalidArgument) : reply(
          "Commands: HELP VER NETVER GET LIST USERNAME PASSWORD LOGIN LOGOUT STARTTLS",
        );
      case "STARTTLS":
        return this.#startTls();
      case "GET":
        return this.#get(args);
      case "LIST":
        return this.#list(args);
      case "USERNAME":
        if (args.length !== 1) return fail(E.invalidArgument);
        if (this.username !== undefined) return fail(E.alreadySetUsername);
        this.username = args[0];
        return reply("OK");
      case "PASSWORD":
        if (args.length !== 1) return fail(E.invalidArgument);
        if (this.#password !== undefined) return fail(E.alreadySetPassword);
        this.#password = args[0];
        return reply("OK");
      case "LOGIN":
        return await this.#login(args);
      case "LOGOUT":
        return args.length ? fail(E.invalidArgument) : { lines: ["OK Goodbye"], close: true };
      case "PRIMARY":
      case "MASTER":
      case "FSD":
        if (args.length !== 1) return fail(E.invalidArgument);
        if (!this.#ctx.find(args[0])) return fail(E.unknownUps);
        return fail(E.accessDenied); // the agent is the only primary: no client may force a shutdown
      case "SET":
      case "INSTCMD":
        return fail(E.accessDenied); // read-only server
      default:
        return fail(E.unknownCommand);
    }
  }

  #startTls(): SessionReply {
    if (this.tls) return fail(E.alreadySslMode);
    if (!this.#ctx.tlsAvailable()) return fail(E.featureNotConfigured);
    return { lines: ["OK STARTTLS"], startTls: true };
  }

  async #login(args: string[]): Promise<SessionReply> {
    if (args.length !== 1) return fail(E.invalidArgument);
    if (this.loginUps !== undefined) return fail(E.alreadyLoggedIn);
    const ups = this.#ctx.find(args[0]);
    if (!ups) return fail(E.unknownUps);
    const ok = await this.#ctx.verify(this.username!, this.#password!, this.address);
    if (!ok) return fail(E.accessDenied);
    if (this.loginUps !== undefined) return fail(E.alreadyLoggedIn); // a pipelined second LOGIN
    this.loginUps = ups.served.name;
    this.loginAt = this.#now();
    return reply("OK");
  }

  /** The UPS of a request, or the error to answer (`available`: also refuse stale data, as upsd does). */
  #ups(name: string, available: boolean): SessionUps | SessionReply {
    const ups = this.#ctx.find(name);
    if (!ups) return fail(E.unknownUps);
    if (available && (!ups.state || isStale(ups.state))) return fail(E.dataStale);
    return ups;
  }

  #get(args: string[]): SessionReply {
    const sub = args[0]?.toUpperCase();
    if (sub === undefined) return fail(E.invalidArgument);
    if (sub === "TRACKING") return args.length === 1 ? reply("OFF") : fail(E.featureNotConfigured);
    if (args.length < 2) return fail(E.invalidArgument);
    const upsName = args[1];
    if (sub === "UPSDESC") {
      const ups = this.#ups(upsName, false);
      return "lines" in ups ? ups : reply(`UPSDESC ${upsName} ${quote(upsDescription(ups.served))}`);
    }
    if (sub === "NUMLOGINS") {
      const ups = this.#ups(upsName, true);
      return "lines" in ups ? ups : reply(`NUMLOGINS ${upsName} ${this.#ctx.numLogins(ups.served.name)}`);
    }
    if (args.length < 3) return fail(E.invalidArgument);
    const varName = args[2];
    if (sub === "VAR" && varName.toLowerCase().startsWith("server.")) {
      return this.#serverVar(upsName, varName);
    }
    if (!["VAR", "TYPE", "DESC", "CMDDESC"].includes(sub)) return fail(E.invalidArgument);
    const found = this.#ctx.find(upsName);
    // A stale UPS with forced shutdown set still tells its secondaries: ups.status is "FSD".
    if (
      sub === "VAR" && varName.toLowerCase() === "ups.status" && found?.fsd && found.state &&
      isStale(found.state)
    ) {
      return reply(`VAR ${upsName} ${varName} ${quote("FSD")}`);
    }
    const ups = this.#ups(upsName, true);
    if ("lines" in ups) return ups;
    if (sub === "CMDDESC") return reply(`CMDDESC ${upsName} ${varName} ${quote("Description unavailable")}`);
    if (sub === "DESC") return reply(`DESC ${upsName} ${varName} ${quote(describeVariable(varName))}`);
    const variable = upsVariable(ups.state!, ups.fsd, varName);
    if (!variable) return fail(E.varNotSupported);
    if (sub === "TYPE") return reply(`TYPE ${upsName} ${varName} ${variableType(variable)}`);
    return reply(`VAR ${upsName} ${varName} ${quote(variable.value)}`);
  }

  #serverVar(upsName: string, varName: string): SessionReply {
    const lower = varName.toLowerCase();
    if (lower === "server.info") return reply(`VAR ${upsName} server.info ${quote(this.#ctx.version)}`);
    if (lower === "server.version") return reply(`VAR ${upsName} server.version ${quote(NET_VERSION)}`);
    return fail(E.varNotSupported);
  }

  #list(args: string[]): SessionReply {
    const sub = args[0]?.toUpperCase();
    if (sub === undefined) return fail(E.invalidArgument);
    if (sub === "UPS") {
      if (args.length !== 1) return fail(E.invalidArgument);
      const lines = this.#ctx.list().map((u) => `UPS ${u.name} ${quote(upsDescription(u))}`);
      return reply(...listLines("UPS", lines));
    }
    if (args.length < 2) return fail(E.invalidArgument);
    const upsName = args[1];
    if (sub === "CLIENT") {
      const ups = this.#ups(upsName, false);
      if ("lines" in ups) return ups;
      const lines = this.#ctx.clients(ups.served.name).map((a) => `CLIENT ${ups.served.name} ${a}`);
      return reply(...listLines(`CLIENT ${upsName}`, lines));
    }
    if (sub === "VAR" || sub === "RW" || sub === "CMD") {
      const ups = this.#ups(upsName, true);
      if ("lines" in ups) return ups;
      const vars: NutVariable[] = sub === "VAR" ? upsVariables(ups.state!, ups.fsd) : [];
      const lines = vars.map((v) => `VAR ${upsName} ${v.name} ${quote(v.value)}`);
      return reply(...listLines(`${sub} ${upsName}`, lines));
    }
    if (sub === "ENUM" || sub === "RANGE") {
      if (args.length < 3) return fail(E.invalidArgument);
      const ups = this.#ups(upsName, true);
      if ("lines" in ups) return ups;
      if (!upsVariable(ups.state!, ups.fsd, args[2])) return fail(E.varNotSupported);
      return reply(...listLines(`${sub} ${upsName} ${args[2]}`, [])); // read-only: no choices to offer
    }
    return fail(E.invalidArgument);
  }
}

/** The description of a served UPS (LIST UPS, GET UPSDESC). */
export function upsDescription(ups: ServedUps): string {
  return `UPS behind NMC ${ups.card} (pcns-agent)`;
}
