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
 * The files on disk are handled by src/config/store_files.ts, the text a start begins with by
 * src/config/store_start.ts, hot-reload detection by src/config/watcher.ts.
 *
 * @module
 */
import type { EventDraft } from "../events/types.ts";
import type { Logger } from "../log/logger.ts";
import { evaluateConfig, type Evaluation, prepareUpdates, unknownKeyMessage } from "./evaluate.ts";
import { contentHash, type FileText, removeStaleTemps, SymlinkRefusedError, symlinkTarget } from "./fs.ts";
import { parseIni, setIniValues, stringifyIni } from "./ini.ts";
import { unreadableReason } from "./integrity.ts";
import { ConfigError, type ConfigProblem, problem } from "./problems.ts";
import { remoteUpdateProblems } from "./remote.ts";
import { applyStartFallbacks, checkStartNeeds } from "./requirements.ts";
import { changedKeys, type ConfigValues, displayValue, keyDef } from "./schema.ts";
import { errorText, StoreFiles } from "./store_files.ts";
import { startText } from "./store_start.ts";
import { defaultConfigText } from "./template.ts";
import type { AgentConfig } from "./types.ts";
import { ConfigWatcher } from "./watcher.ts";

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

  readonly #files: StoreFiles;
  readonly #logger: Logger;
  readonly #onEvent?: (draft: EventDraft) => void;
  readonly #eventsLogged: boolean;
  readonly #debounceMs: number;
  readonly #pollMs: number;
  readonly #listeners = new Set<ConfigListener>();
  #config!: AgentConfig;
  #values!: ConfigValues;
  #problems: readonly ConfigProblem[] = [];
  #missingReported = false;
  #queue: Promise<unknown> = Promise.resolve();
  #watcher?: ConfigWatcher;
  #closing?: Promise<void>;
  #closed = false;

  private constructor(path: string, options: ConfigStoreOptions) {
    this.#files = new StoreFiles(path, (message) => this.#warn(message));
    this.path = path;
    this.dataDir = this.#files.dataDir;
    this.backupPath = this.#files.backupPath;
    this.lockPath = this.#files.lockPath;
    this.corruptPath = this.#files.corruptPath;
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
    await store.#enqueue(() => store.#files.locked(() => store.#load()));
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
    this.#watcher = new ConfigWatcher({
      path: this.path,
      dataDir: this.dataDir,
      logger: this.#logger,
      debounceMs: this.#debounceMs,
      pollMs: this.#pollMs,
      onChange: () =>
        void this.reload().catch((error) =>
          this.#logger.error(`config: reloading ${this.path} failed: ${errorText(error)}`)
        ),
    });
    this.#watcher.start();
  }

  /** Re-reads the file now (the watcher calls this); strict: any invalid value rejects the edit. */
  reload(): Promise<ReloadResult> {
    return this.#enqueue(() => this.#files.locked(() => this.#reload()));
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
      this.#files.locked(async () => {
        const link = await symlinkTarget(this.path);
        if (link !== undefined) {
          const refusal = new SymlinkRefusedError(this.path, link).message;
          throw new ConfigError(`configuration not changed: ${refusal}`, [
            problem("error", this.path, undefined, refusal),
          ]);
        }
        const backupText = await this.#files.readBackup();
        const read = await this.#files.readMain();
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
        await this.#files.writeMain(ev.text);
        await this.#files.writeBackup(ev.backupText);
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
    await this.#watcher?.close();
    await this.#queue;
  }

  // ---- internals --------------------------------------------------------------------------------

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

  async #load(): Promise<void> {
    for (const name of await removeStaleTemps(this.path, this.backupPath, this.corruptPath)) {
      this.#logger.info(`config: removed ${name}, left by an interrupted write`);
    }
    await this.#files.checkDataDir();
    const backupText = await this.#files.readBackup();
    const text = await startText(this.#files, backupText, {
      warn: (message) => this.#warn(message),
      logBesideEvent: (level, message) => this.#logBesideEvent(level, message),
      emit: (draft) => this.#emit(draft),
      logger: this.#logger,
    });
    const ev = await this.#withStartNeeds(this.#evaluate(text, backupText, false), false);
    this.#problems = ev.problems;
    // The clear-text password never stays on disk.
    if (ev.text !== text) await this.#files.rewriteMain(ev.text, "the hashed or removed clear text");
    else this.#files.lastHash = contentHash(text);
    for (const p of ev.problems) {
      if (p.level === "warning") this.#warn(p.message);
      else this.#logger.error(`config: ${p.message}`);
    }
    if (!ev.ok) {
      const errors = ev.problems.filter((p) => p.level === "error").length;
      throw new ConfigError(`cannot load ${this.path}: ${errors} error(s)`, ev.problems);
    }
    if (ev.passwordFromClearText) this.#credentialsFromClearText();
    await this.#files.writeBackup(ev.backupText);
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
      read = await this.#files.readMain();
    } catch (error) {
      return this.#reject([
        problem("error", this.path, undefined, `unreadable as a whole: ${errorText(error)}`),
      ]);
    }
    if (read === null) {
      if (!this.#missingReported) this.#warn(`${this.path} was deleted; keeping the running configuration`);
      this.#missingReported = true;
      this.#files.lastHash = null;
      return { status: "missing" };
    }
    const text = read.text;
    this.#missingReported = false;
    await this.#files.checkMode(this.path);
    if (contentHash(text) === this.#files.lastHash) return { status: "unchanged" };
    const backupText = await this.#files.readBackup();
    const why = unreadableReason(read.bytes, text, backupText);
    if (why !== undefined) {
      this.#files.lastHash = contentHash(text);
      return this.#reject([problem("error", this.path, undefined, `unreadable as a whole: ${why}`)]);
    }
    const ev = await this.#withStartNeeds(this.#evaluate(text, backupText, true), true);
    this.#problems = ev.problems;
    if (ev.text !== text) await this.#files.rewriteMain(ev.text, "the hashed or removed clear text");
    else this.#files.lastHash = contentHash(text);
    if (!ev.ok) return this.#reject(ev.problems.filter((p) => p.level === "error"));
    for (const p of ev.problems) this.#warn(p.message);
    await this.#files.writeBackup(ev.backupText);
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
