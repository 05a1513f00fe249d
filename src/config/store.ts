/**
 * The config store: the one owner of pcnsconfig.ini. It loads the file (with
 * backup fallback), keeps the typed {@link AgentConfig}, hot-reloads edits,
 * applies changes atomically under a cross-process lock, and tells subscribers
 * what changed. No other module reads the file.
 *
 * Rules:
 * - at start an invalid value falls back to the backup's value, else the default
 *   (warning); a required key with no usable value is a fatal {@link ConfigError};
 * - on hot reload ANY invalid value rejects the whole edit (the running config
 *   stays; `ConfigRejected` event); warnings do not block a reload;
 * - `set()` validates first (nothing is written on error), then re-reads the
 *   file under the lock, applies the change, writes atomically and updates the
 *   backup; a change from the web UI or the API also obeys src/config/remote.ts;
 * - every change, reload and start checks what the next start will need
 *   (src/config/requirements.ts): a change is refused, a start falls back so
 *   that monitoring always starts;
 * - a file unreadable as a whole (src/config/integrity.ts) is replaced by the
 *   backup as a whole at start (kept as `pcnsconfig.ini.corrupt`, loudly: a
 *   ConfigBackupUsed event) and rejected on reload;
 * - symbolic links: the file is read through a link but never written through
 *   it, never replaced by a file, and no mode is changed through it.
 *
 * @module
 */
import type { EventDraft } from "../events/types.ts";
import type { Logger } from "../log/logger.ts";
import { evaluateConfig, type Evaluation, prepareUpdates, unknownKeyMessage } from "./evaluate.ts";
import {
  atomicWriteFile,
  contentHash,
  type FileText,
  holdPipeWriters,
  looseDirectory,
  namedPipesIn,
  readFileText,
  removeStaleTemps,
  restrictMode,
  SymlinkRefusedError,
  symlinkTarget,
  withFileLock,
} from "./fs.ts";
import { parseIni, setIniValues, stringifyIni } from "./ini.ts";
import { MAX_CONFIG_BYTES, unreadableReason } from "./integrity.ts";
import { backupPathFor, baseName, corruptPathFor, dirOf, lockPathFor } from "./paths.ts";
import { ConfigError, type ConfigProblem, problem } from "./problems.ts";
import { remoteUpdateProblems } from "./remote.ts";
import { applyStartFallbacks, checkStartNeeds } from "./requirements.ts";
import { changedKeys, type ConfigValues, displayValue, keyDef } from "./schema.ts";
import { defaultConfigText } from "./template.ts";
import type { AgentConfig } from "./types.ts";

export { checkConfigFile, inspectConfig, type Inspection } from "./inspect.ts";

/** Options of {@link ConfigStore.open}. */
export interface ConfigStoreOptions {
  /** Where messages go. */
  readonly logger: Logger;
  /** Receives ConfigReloaded, ConfigRejected, ConfigWarning and CredentialsChanged events. */
  readonly onEvent?: (draft: EventDraft) => void;
  /**
   * `onEvent` logs every event itself (the agent does): a message that goes out as an event is then not
   * logged here too, so it is printed once (default false: logged and emitted).
   */
  readonly eventsLogged?: boolean;
  /** Quiet time after the last file-system event before a reload (default 250 ms). */
  readonly debounceMs?: number;
  /** Milliseconds between polls of the file's identity while watching (default 5000; see `watch()`). */
  readonly pollMs?: number;
}

/** One changed key, with values as shown to people (secrets `***`). */
export interface KeyChange {
  /** `Section.key`. */
  readonly key: string;
  /** Value before. */
  readonly before: string;
  /** Value after. */
  readonly after: string;
}

/** What a reload or `set()` changed. */
export interface ConfigChange {
  /** `Section.key` of every key whose effective value changed, in file order. */
  readonly changed: readonly string[];
  /** Before/after per changed key (secrets masked). */
  readonly details: readonly KeyChange[];
  /** What caused it. */
  readonly source: "reload" | "set";
}

/** Receives the new configuration and what changed. */
export type ConfigListener = (config: AgentConfig, change: ConfigChange) => void;

/** Options of {@link ConfigStore.set}. */
export interface SetOptions {
  /**
   * The change comes from a user of this host (`config set`, `passwd`), not from the web UI or the API:
   * the rules of src/config/remote.ts do not apply (a strong hash or an empty password may be set, and
   * the command keys whatever `[WebUI] allowCommandEdits` says). Default false.
   */
  readonly local?: boolean;
  /**
   * More checks of the changed configuration, made under the lock before anything is written (the CLI's
   * command-file checks, src/cli/check_rules.ts); an error among them refuses the change.
   */
  readonly check?: (candidate: AgentConfig, current: AgentConfig) => readonly ConfigProblem[];
}

/** Outcome of {@link ConfigStore.reload}. */
export type ReloadResult =
  | { readonly status: "applied"; readonly change: ConfigChange }
  | { readonly status: "unchanged" }
  | { readonly status: "missing" }
  | { readonly status: "rejected"; readonly problems: readonly ConfigProblem[] };

const CREDENTIAL_KEYS = [
  "NetworkManagementCard.username",
  "NetworkManagementCard.password",
  "NetworkManagementCard.authenticationPhrase",
];

/** Milliseconds between two polls of the file's identity while watching (the watcher's backstop). */
const POLL_MS = 5000;

/** The configuration store (see the module documentation). */
export class ConfigStore {
  /** Path of pcnsconfig.ini. */
  readonly path: string;
  /** Directory of the file: the agent's data directory. */
  readonly dataDir: string;
  /** Path of the last known-good copy, pcnsconfig_backup.ini. */
  readonly backupPath: string;
  /** Path of the lock file serializing writers. */
  readonly lockPath: string;
  /** Where a file found unreadable as a whole at start is kept: pcnsconfig.ini.corrupt. */
  readonly corruptPath: string;

  readonly #logger: Logger;
  readonly #onEvent?: (draft: EventDraft) => void;
  readonly #eventsLogged: boolean;
  readonly #debounceMs: number;
  readonly #pollMs: number;
  readonly #listeners = new Set<ConfigListener>();
  #config!: AgentConfig;
  #values!: ConfigValues;
  #problems: readonly ConfigProblem[] = [];
  #lastHash: string | null = null;
  #missingReported = false;
  #queue: Promise<unknown> = Promise.resolve();
  #watcher?: Deno.FsWatcher;
  #watchLoop?: Promise<void>;
  #timer?: ReturnType<typeof setTimeout>;
  #poll?: ReturnType<typeof setInterval>;
  #closing?: Promise<void>;
  #identity?: string;
  #closed = false;
  /** Warnings already given once (a symlinked file, a backup that is a link). */
  readonly #warnedOnce = new Set<string>();

  private constructor(path: string, options: ConfigStoreOptions) {
    this.path = path;
    this.dataDir = dirOf(path);
    this.backupPath = backupPathFor(path);
    this.lockPath = lockPathFor(path);
    this.corruptPath = corruptPathFor(path);
    this.#logger = options.logger;
    this.#onEvent = options.onEvent;
    this.#eventsLogged = options.eventsLogged === true && options.onEvent !== undefined;
    this.#debounceMs = options.debounceMs ?? 250;
    this.#pollMs = options.pollMs ?? POLL_MS;
  }

  /**
   * Loads the configuration: restores the file from the backup or writes a
   * commented default when it is missing, hashes a clear-text password, sets
   * mode 0600, and writes the backup. Throws {@link ConfigError} listing every
   * problem when required values are unusable.
   */
  static async open(path: string, options: ConfigStoreOptions): Promise<ConfigStore> {
    const store = new ConfigStore(path, options);
    await Deno.mkdir(store.dataDir, { recursive: true, mode: 0o700 });
    await store.#enqueue(() => store.#locked(() => store.#load()));
    return store;
  }

  /** The running configuration. */
  get current(): AgentConfig {
    return this.#config;
  }

  /** Effective canonical value of every key, by `Section.key`. */
  get values(): ConfigValues {
    return this.#values;
  }

  /** Problems found by the last load, reload or change. */
  get problems(): readonly ConfigProblem[] {
    return this.#problems;
  }

  /** Effective value of `Section.key` as file text (secrets included); throws ConfigError for an unknown key. */
  get(key: string): string {
    const value = keyDef(key) ? this.#values.get(key) : undefined;
    if (value === undefined) {
      throw new ConfigError(unknownKeyMessage(key), [
        problem("error", this.path, undefined, unknownKeyMessage(key), { key }),
      ]);
    }
    return value;
  }

  /** Calls `listener` after every applied change; returns a function that unsubscribes. */
  subscribe(listener: ConfigListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Starts hot reload: watches the file's directory (so renames and re-creations
   * are seen), filters on the file name, debounces, and reloads when the content
   * hash differs from the last content loaded or written. A slow poll of the
   * file's identity (every 5 s by default) backs the watcher up: it sees edits
   * of a symlink's target, edits on file systems without change events, and
   * edits while Deno's watcher is stuck (it blocks on a named pipe created in
   * the watched directory until something writes to the pipe).
   */
  watch(): void {
    if (this.#watcher || this.#closed) return;
    const watcher = Deno.watchFs(this.dataDir, { recursive: false });
    this.#watcher = watcher;
    try {
      this.#identity = identityOf(Deno.statSync(this.path));
    } catch {
      this.#identity = identityOf(null);
    }
    this.#poll = setInterval(() => void this.#pollIdentity(), this.#pollMs);
    Deno.unrefTimer(this.#poll);
    const name = baseName(this.path);
    this.#watchLoop = (async () => {
      try {
        for await (const event of watcher) {
          if (event.paths.some((p) => baseName(p) === name)) this.#schedule();
        }
      } catch (error) {
        if (!this.#closed) {
          this.#logger.error(`config: stopped watching ${this.dataDir}: ${errorText(error)}`);
        }
      }
    })();
  }

  /** Re-reads the file now (the watcher calls this); strict: any invalid value rejects the edit. */
  reload(): Promise<ReloadResult> {
    return this.#enqueue(() => this.#locked(() => this.#reload()));
  }

  /**
   * Changes values (`{"Networking.udpPort": "3053"}`): every update is checked
   * first (ConfigError with one problem per bad key, nothing written); then,
   * under the in-process queue and the cross-process lock, the file is re-read,
   * changed (comments and order kept), written atomically, and the backup is
   * updated. A clear-text password is checked against the policy and hashed.
   * The change must leave what the next start needs usable (requirements.ts);
   * unless `options.local`, it also obeys the web UI/API rules (remote.ts).
   */
  set(updates: Readonly<Record<string, string>>, options: SetOptions = {}): Promise<ConfigChange> {
    if (this.#closed) return Promise.reject(new Error("config store is closed"));
    const remote = options.local ? [] : remoteUpdateProblems(updates, this.#values, this.path);
    const refused = new Set(remote.map((p) => p.key));
    const prepared = prepareUpdates(updates, this.#values, this.path);
    const problems = [...remote, ...prepared.problems.filter((p) => !refused.has(p.key))];
    if (problems.length > 0) {
      return Promise.reject(
        new ConfigError(`configuration not changed: ${problems.length} invalid update(s)`, problems),
      );
    }
    return this.#enqueue(() =>
      this.#locked(async () => {
        const link = await symlinkTarget(this.path);
        if (link !== undefined) {
          const refusal = new SymlinkRefusedError(this.path, link).message;
          throw new ConfigError(`configuration not changed: ${refusal}`, [
            problem("error", this.path, undefined, refusal),
          ]);
        }
        const backupText = await this.#readBackup();
        const read = await this.#readMain();
        if (read !== null && unreadableReason(read.bytes, read.text, backupText) !== undefined) {
          const why = unreadableReason(read.bytes, read.text, backupText)!;
          throw new ConfigError(`configuration not changed: ${this.path} is unreadable as a whole (${why})`, [
            problem("error", this.path, undefined, `unreadable as a whole: ${why}; fix or remove it first`),
          ]);
        }
        const text = read?.text ?? backupText ?? defaultConfigText();
        const changed = stringifyIni(setIniValues(parseIni(text), prepared.changes));
        const ev = await this.#withStartNeeds(this.#evaluate(changed, backupText, true), true);
        if (!ev.ok) {
          const errors = ev.problems.filter((p) => p.level === "error");
          const own = errors.every((p) => p.key !== undefined && p.key in updates);
          throw new ConfigError(
            own
              ? `configuration not changed: ${errors.length} invalid update(s)`
              : `configuration not changed: ${this.path} has other errors; fix them first (pcns-agent config check)`,
            errors,
          );
        }
        const extra = (options.check?.(ev.config!, this.#config) ?? []).filter((p) => p.level === "error");
        if (extra.length > 0) {
          throw new ConfigError(
            `configuration not changed: ${extra.length} problem(s) with the new values`,
            extra,
          );
        }
        await this.#writeMain(ev.text);
        await this.#writeBackup(ev.backupText);
        return this.#apply(ev, "set");
      })
    );
  }

  /** Stops watching and waits for pending work. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearInterval(this.#poll);
    // Deno's watcher thread blocks opening a named pipe created in the directory, and then never ends (nor
    // lets the process or a test worker end): hold the pipes open for writing until it has stopped.
    const releasePipes = this.#watcher ? holdPipeWriters(await namedPipesIn(this.dataDir)) : () => {};
    try {
      this.#watcher?.close();
    } catch {
      // already closed
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stuck = await Promise.race([
      (this.#watchLoop ?? Promise.resolve()).then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 1000))),
    ]);
    clearTimeout(timer);
    releasePipes();
    if (stuck) this.#logger.warn(`config: the file watcher of ${this.dataDir} did not stop in time`);
    await this.#queue;
  }

  /** Schedules a reload when the file's size, time or inode changed since the last poll (see {@link watch}). */
  async #pollIdentity(): Promise<void> {
    if (this.#closed) return;
    const identity = identityOf(await Deno.stat(this.path).catch(() => null));
    if (identity !== this.#identity) this.#schedule();
    this.#identity = identity;
  }

  // ---- internals --------------------------------------------------------------------------------

  /** Runs `fn` under the cross-process lock (a symlinked lock file is replaced by a plain one, loudly). */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    return withFileLock(this.lockPath, fn, (target) =>
      this.#warn(
        `the lock file ${this.lockPath} was a symbolic link to ${target}; replaced it by a plain file ` +
          `(${target} was not touched)`,
      ));
  }

  /** The file's bytes and text (bounded, regular files only); null when missing; throws a FileProblem otherwise. */
  #readMain(): Promise<FileText | null> {
    return readFileText(this.path, MAX_CONFIG_BYTES);
  }

  /** The backup's text; null when missing or unusable as a file (with a warning). */
  async #readBackup(): Promise<string | null> {
    try {
      return (await readFileText(this.backupPath, MAX_CONFIG_BYTES))?.text ?? null;
    } catch (error) {
      this.#warnOnce("backup-unreadable", `the backup ${errorText(error)}; it is not used`);
      return null;
    }
  }

  /** Writes the backup; a backup that is a symbolic link is left alone (warned once). */
  async #writeBackup(text: string): Promise<void> {
    try {
      await atomicWriteFile(this.backupPath, text);
    } catch (error) {
      if (!(error instanceof SymlinkRefusedError)) throw error;
      this.#warnOnce("backup-link", `${error.message}; the backup is not updated`);
    }
  }

  #warnOnce(what: string, message: string): void {
    if (this.#warnedOnce.has(what)) return;
    this.#warnedOnce.add(what);
    this.#warn(message);
  }

  /**
   * Adds what the next start needs (requirements.ts) for the keys whose values differ from the running
   * ones (every key at the first load). `strict`: problems are errors. Lenient (start): the value is
   * replaced by its start fallback (requirements.ts), with a warning.
   */
  async #withStartNeeds(ev: Evaluation, strict: boolean): Promise<Evaluation> {
    if (!ev.ok) return ev;
    const keys = this.#values ? changedKeys(this.#values, ev.values) : undefined;
    if (keys !== undefined && keys.length === 0) return ev;
    const found = await checkStartNeeds(ev.values, { dataDir: this.dataDir, file: this.path, keys });
    if (found.length === 0) return ev;
    if (strict) return { ...ev, ok: false, config: undefined, problems: [...ev.problems, ...found] };
    return applyStartFallbacks(ev, found, this.path);
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.reload().catch((error) =>
        this.#logger.error(`config: reloading ${this.path} failed: ${errorText(error)}`)
      );
    }, this.#debounceMs);
  }

  #evaluate(text: string, backupText: string | null, strict: boolean): Evaluation {
    return evaluateConfig(text, {
      file: this.path,
      backupFile: this.backupPath,
      backupText,
      strict,
      ...(this.#values ? { previous: this.#values } : {}),
    });
  }

  #emit(draft: EventDraft): void {
    try {
      this.#onEvent?.(draft);
    } catch (error) {
      this.#logger.error(`config: event listener failed on ${draft.id}: ${errorText(error)}`);
    }
  }

  #warn(message: string): void {
    this.#logBesideEvent("warn", message);
    this.#emit({ id: "ConfigWarning", note: message });
  }

  /** Logs a message that also goes out as an event, unless the event receiver logs events itself. */
  #logBesideEvent(level: "info" | "warn" | "error", message: string): void {
    if (!this.#eventsLogged) this.#logger[level](`config: ${message}`);
  }

  async #writeMain(text: string): Promise<void> {
    this.#lastHash = contentHash(text);
    await atomicWriteFile(this.path, text);
  }

  /**
   * Writes a rewrite the agent makes on its own (scrubbed clear text, a restored file); returns false
   * when the file is a symbolic link, which is left as it is (warned once).
   */
  async #rewriteMain(text: string, what: string): Promise<boolean> {
    try {
      await this.#writeMain(text);
      return true;
    } catch (error) {
      if (!(error instanceof SymlinkRefusedError)) throw error;
      this.#warnOnce(`rewrite:${what}`, `${error.message}; ${what} is not written to it`);
      return false;
    }
  }

  async #checkMode(path: string): Promise<void> {
    const found = await restrictMode(path);
    if (found.kind === "tightened") {
      this.#warn(
        `${path} had mode 0${
          found.previous.toString(8)
        } (readable by others); set it to 0600 because it holds the ` +
          `authentication phrase`,
      );
    } else if (found.kind === "link") {
      const loose = found.mode === null
        ? ""
        : `; ${found.target} has mode 0${found.mode.toString(8)} (readable by others) although it holds ` +
          `the authentication phrase: chmod 600 ${found.target}`;
      this.#warnOnce(
        `link:${found.target}`,
        `${path} is a symbolic link to ${found.target}: pcns-agent reads it but never changes it (no mode ` +
          `change, no write through the link), so changes from the web UI, the API and config set are ` +
          `refused; edit ${found.target} itself${loose}`,
      );
    }
  }

  /** Warns when others than the owner can write the data directory (they could replace the configuration). */
  async #checkDataDir(): Promise<void> {
    for (const pipe of await namedPipesIn(this.dataDir)) {
      this.#warn(
        `${pipe} is a named pipe in the data directory: it stalls the watcher that applies edits of ` +
          `${baseName(this.path)} (they are then seen by a 5-second poll only); remove it`,
      );
    }
    const loose = await looseDirectory(this.dataDir).catch(() => undefined);
    if (!loose) return;
    this.#warn(
      `the data directory ${this.dataDir} is writable by ${loose.who} (mode 0${loose.mode.toString(8)}): ` +
        `whoever can write there can replace pcnsconfig.ini and make the agent run commands as its user; ` +
        `chmod 700 ${this.dataDir}`,
    );
  }

  /**
   * Keeps the damaged file as pcnsconfig.ini.corrupt: a copy of the bytes read, or (when it could not be read:
   * too large) the file itself, moved; a link, a device or a pipe is left where it is. True when kept.
   */
  async #keepDamaged(bytes: Uint8Array | null): Promise<boolean> {
    if (bytes !== null) {
      await atomicWriteFile(this.corruptPath, bytes);
      return true;
    }
    const info = await Deno.lstat(this.path).catch(() => null);
    if (!info?.isFile) return false;
    if (await symlinkTarget(this.corruptPath) !== undefined) await Deno.remove(this.corruptPath);
    await Deno.rename(this.path, this.corruptPath);
    await Deno.chmod(this.corruptPath, 0o600).catch(() => {});
    return true;
  }

  /**
   * The text a start uses when the file is unreadable as a whole: the backup, used as a whole and loudly
   * (error line, ConfigBackupUsed event); the damaged bytes are kept as pcnsconfig.ini.corrupt (0600) and
   * the file is restored from the backup. Without a backup the file is evaluated as it is, loudly too.
   */
  async #useBackupAsWhole(
    damaged: Uint8Array | null,
    why: string,
    backupText: string | null,
  ): Promise<string | null> {
    if (backupText === null) {
      const note =
        `${this.path} is unreadable as a whole (${why}) and there is no backup ${this.backupPath} to use`;
      this.#logBesideEvent("error", note);
      this.#emit({ id: "ConfigWarning", note, details: { file: this.path, reason: why } });
      return null;
    }
    const kept = await this.#keepDamaged(damaged).catch((error) => {
      this.#logger.error(
        `config: could not keep the damaged file as ${this.corruptPath}: ${errorText(error)}`,
      );
      return false;
    });
    const restored = await this.#rewriteMain(backupText, "the backup");
    const note = `${this.path} is unreadable as a whole (${why}): using the backup ${this.backupPath} as a ` +
      `whole` + (kept ? `; the damaged file was kept as ${this.corruptPath}` : "") +
      (restored ? `; ${this.path} was restored from the backup` : "");
    this.#logBesideEvent("error", note);
    this.#emit({
      id: "ConfigBackupUsed",
      note,
      details: { file: this.path, backup: this.backupPath, reason: why, keptAs: this.corruptPath },
    });
    return backupText;
  }

  /** The file's text at start (restored, defaulted or replaced by the backup as needed). */
  async #startText(backupText: string | null): Promise<string> {
    const link = await symlinkTarget(this.path);
    let read: FileText | null;
    let unreadable: string | undefined;
    try {
      read = await this.#readMain();
    } catch (error) {
      read = { bytes: new Uint8Array(), text: "" };
      unreadable = `it cannot be read as a file: ${errorText(error)}`;
    }
    const damaged = unreadable === undefined ? read?.bytes ?? null : null;
    if (read === null && link !== undefined) {
      const text = backupText ?? defaultConfigText();
      this.#lastHash = contentHash(text);
      this.#warn(
        `${this.path} is a symbolic link to ${link}, which does not exist: using ` +
          (backupText !== null ? `the backup ${this.backupPath}` : "the default configuration") +
          ` (nothing is written through the link; create ${link} or replace the link by the file)`,
      );
      return text;
    }
    if (read === null) {
      if (backupText !== null) {
        await this.#writeMain(backupText);
        this.#warn(`${this.path} was not found; restored it from the backup ${this.backupPath}`);
        return backupText;
      }
      const text = defaultConfigText();
      await this.#writeMain(text);
      this.#warn(
        `${this.path} was not found and there is no backup: wrote a default configuration (user "apc", ` +
          `the NMC factory authentication phrase, no NMC address); edit it to add your NMC`,
      );
      return text;
    }
    await this.#checkMode(this.path);
    const why = unreadable ?? unreadableReason(read.bytes, read.text, backupText);
    if (why !== undefined) {
      const text = await this.#useBackupAsWhole(damaged, why, backupText);
      if (text !== null) return text;
    }
    this.#lastHash = contentHash(read.text);
    return read.text;
  }

  async #load(): Promise<void> {
    for (const name of await removeStaleTemps(this.path, this.backupPath, this.corruptPath)) {
      this.#logger.info(`config: removed ${name}, left by an interrupted write`);
    }
    await this.#checkDataDir();
    const backupText = await this.#readBackup();
    const text = await this.#startText(backupText);
    const ev = await this.#withStartNeeds(this.#evaluate(text, backupText, false), false);
    this.#problems = ev.problems;
    // The clear-text password never stays on disk.
    if (ev.text !== text) await this.#rewriteMain(ev.text, "the hashed or removed clear text");
    else this.#lastHash = contentHash(text);
    for (const p of ev.problems) {
      if (p.level === "warning") this.#warn(p.message);
      else this.#logger.error(`config: ${p.message}`);
    }
    if (!ev.ok) {
      const errors = ev.problems.filter((p) => p.level === "error").length;
      throw new ConfigError(`cannot load ${this.path}: ${errors} error(s)`, ev.problems);
    }
    if (ev.passwordFromClearText) this.#credentialsFromClearText();
    await this.#writeBackup(ev.backupText);
    this.#values = ev.values;
    this.#config = ev.config!;
    this.#logger.info(`config: loaded ${this.path}`);
  }

  #credentialsFromClearText(): void {
    const note = `the clear-text password in ${this.path} was replaced by a salted hash`;
    this.#logBesideEvent("warn", note);
    this.#emit({ id: "CredentialsChanged", note, details: { changed: ["NetworkManagementCard.password"] } });
  }

  async #reload(): Promise<ReloadResult> {
    let read: FileText | null;
    try {
      read = await this.#readMain();
    } catch (error) {
      return this.#reject([
        problem("error", this.path, undefined, `unreadable as a whole: ${errorText(error)}`),
      ]);
    }
    if (read === null) {
      if (!this.#missingReported) this.#warn(`${this.path} was deleted; keeping the running configuration`);
      this.#missingReported = true;
      this.#lastHash = null;
      return { status: "missing" };
    }
    const text = read.text;
    this.#missingReported = false;
    await this.#checkMode(this.path);
    if (contentHash(text) === this.#lastHash) return { status: "unchanged" };
    const backupText = await this.#readBackup();
    const why = unreadableReason(read.bytes, text, backupText);
    if (why !== undefined) {
      this.#lastHash = contentHash(text);
      return this.#reject([problem("error", this.path, undefined, `unreadable as a whole: ${why}`)]);
    }
    const ev = await this.#withStartNeeds(this.#evaluate(text, backupText, true), true);
    this.#problems = ev.problems;
    if (ev.text !== text) await this.#rewriteMain(ev.text, "the hashed or removed clear text");
    else this.#lastHash = contentHash(text);
    if (!ev.ok) return this.#reject(ev.problems.filter((p) => p.level === "error"));
    for (const p of ev.problems) this.#warn(p.message);
    await this.#writeBackup(ev.backupText);
    return { status: "applied", change: this.#apply(ev, "reload") };
  }

  /** Rejects a reload: logs each error and emits ConfigRejected; the running configuration stays. */
  #reject(errors: readonly ConfigProblem[]): ReloadResult {
    for (const p of errors) this.#logBesideEvent("error", p.message);
    const note = `${errors.length} error(s) in ${this.path}; the running configuration is kept: ` +
      errors.map((p) => p.message).join(" | ");
    this.#emit({
      id: "ConfigRejected",
      note,
      details: {
        problems: errors.map((p) => p.message),
        keys: errors.flatMap((p) => (p.key ? [p.key] : [])),
      },
    });
    return { status: "rejected", problems: errors };
  }

  /** Swaps in a new evaluation, emits events and notifies subscribers. */
  #apply(ev: Evaluation, source: ConfigChange["source"]): ConfigChange {
    const before = this.#values;
    const changed = changedKeys(before, ev.values);
    const change: ConfigChange = {
      changed,
      details: changed.map((key) => ({
        key,
        before: displayValue(key, before.get(key) ?? ""),
        after: displayValue(key, ev.values.get(key) ?? ""),
      })),
      source,
    };
    this.#values = ev.values;
    this.#config = ev.config!;
    const summary = changed.length > 0 ? `changed ${changed.join(", ")}` : "no effective change";
    this.#logBesideEvent("info", `${source === "set" ? "changed" : "reloaded"} ${this.path}: ${summary}`);
    this.#emit({
      id: "ConfigReloaded",
      note: summary,
      details: { changed: [...changed], changes: change.details, source },
    });
    const credentials = changed.filter((k) => CREDENTIAL_KEYS.includes(k));
    if (credentials.length > 0) {
      const note = `${credentials.join(", ")} changed (${
        source === "set" ? "config set" : `edit of ${this.path}`
      })`;
      this.#logBesideEvent("warn", note);
      this.#emit({ id: "CredentialsChanged", note, details: { changed: credentials, source } });
    }
    if (changed.length > 0) {
      for (const listener of [...this.#listeners]) {
        try {
          listener(this.#config, change);
        } catch (error) {
          this.#logger.error(`config: a subscriber failed: ${errorText(error)}`);
        }
      }
    }
    return change;
  }
}

/** What the poll compares: inode, size and modification time (or "missing"). */
function identityOf(info: Deno.FileInfo | null): string {
  return info ? `${info.ino}:${info.size}:${info.mtime?.getTime()}` : "missing";
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
