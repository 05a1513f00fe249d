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
 *   backup.
 *
 * @module
 */
import type { EventDraft } from "../events/types.ts";
import type { Logger } from "../log/logger.ts";
import { evaluateConfig, type Evaluation, prepareUpdates, unknownKeyMessage } from "./evaluate.ts";
import {
  atomicWriteFile,
  contentHash,
  readTextOrNull,
  removeStaleTemps,
  restrictMode,
  withFileLock,
} from "./fs.ts";
import { parseIni, setIniValues, stringifyIni } from "./ini.ts";
import { backupPathFor, baseName, dirOf, lockPathFor } from "./paths.ts";
import { ConfigError, type ConfigProblem, problem } from "./problems.ts";
import { changedKeys, type ConfigValues, displayValue, keyDef } from "./schema.ts";
import { defaultConfigText } from "./template.ts";
import type { AgentConfig } from "./types.ts";

/** Options of {@link ConfigStore.open}. */
export interface ConfigStoreOptions {
  /** Where messages go. */
  readonly logger: Logger;
  /** Receives ConfigReloaded, ConfigRejected, ConfigWarning and CredentialsChanged events. */
  readonly onEvent?: (draft: EventDraft) => void;
  /** Quiet time after the last file-system event before a reload (default 250 ms). */
  readonly debounceMs?: number;
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

  readonly #logger: Logger;
  readonly #onEvent?: (draft: EventDraft) => void;
  readonly #debounceMs: number;
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
  #closed = false;

  private constructor(path: string, options: ConfigStoreOptions) {
    this.path = path;
    this.dataDir = dirOf(path);
    this.backupPath = backupPathFor(path);
    this.lockPath = lockPathFor(path);
    this.#logger = options.logger;
    this.#onEvent = options.onEvent;
    this.#debounceMs = options.debounceMs ?? 250;
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
    await store.#enqueue(() => withFileLock(store.lockPath, () => store.#load()));
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
   * hash differs from the last content loaded or written.
   */
  watch(): void {
    if (this.#watcher || this.#closed) return;
    const watcher = Deno.watchFs(this.dataDir, { recursive: false });
    this.#watcher = watcher;
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
    return this.#enqueue(() => withFileLock(this.lockPath, () => this.#reload()));
  }

  /**
   * Changes values (`{"Networking.udpPort": "3053"}`): every update is checked
   * first (ConfigError with one problem per bad key, nothing written); then,
   * under the in-process queue and the cross-process lock, the file is re-read,
   * changed (comments and order kept), written atomically, and the backup is
   * updated. A clear-text password is checked against the policy and hashed.
   */
  set(updates: Readonly<Record<string, string>>): Promise<ConfigChange> {
    if (this.#closed) return Promise.reject(new Error("config store is closed"));
    const prepared = prepareUpdates(updates, this.#values, this.path);
    if (prepared.problems.length > 0) {
      return Promise.reject(
        new ConfigError(
          `configuration not changed: ${prepared.problems.length} invalid update(s)`,
          prepared.problems,
        ),
      );
    }
    return this.#enqueue(() =>
      withFileLock(this.lockPath, async () => {
        const backupText = await readTextOrNull(this.backupPath);
        const text = (await readTextOrNull(this.path)) ?? backupText ?? defaultConfigText();
        const changed = stringifyIni(setIniValues(parseIni(text), prepared.changes));
        const ev = this.#evaluate(changed, backupText, true);
        if (!ev.ok) {
          const errors = ev.problems.filter((p) => p.level === "error");
          throw new ConfigError(
            `configuration not changed: ${this.path} has other errors; fix them first (pcns-agent config check)`,
            errors,
          );
        }
        await this.#writeMain(ev.text);
        await atomicWriteFile(this.backupPath, ev.backupText);
        return this.#apply(ev, "set");
      })
    );
  }

  /** Stops watching and waits for pending work. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      this.#watcher?.close();
    } catch {
      // already closed
    }
    await this.#watchLoop;
    await this.#queue;
  }

  // ---- internals --------------------------------------------------------------------------------

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
    this.#logger.warn(`config: ${message}`);
    this.#emit({ id: "ConfigWarning", note: message });
  }

  async #writeMain(text: string): Promise<void> {
    this.#lastHash = contentHash(text);
    await atomicWriteFile(this.path, text);
  }

  async #checkMode(path: string): Promise<void> {
    const previous = await restrictMode(path);
    if (previous !== null) {
      this.#warn(
        `${path} had mode 0${
          previous.toString(8)
        } (readable by others); set it to 0600 because it holds the ` +
          `authentication phrase`,
      );
    }
  }

  async #load(): Promise<void> {
    for (const name of await removeStaleTemps(this.path)) {
      this.#logger.info(`config: removed ${name}, left by an interrupted write`);
    }
    const backupText = await readTextOrNull(this.backupPath);
    let text = await readTextOrNull(this.path);
    if (text === null) {
      if (backupText !== null) {
        text = backupText;
        await this.#writeMain(text);
        this.#warn(`${this.path} was not found; restored it from the backup ${this.backupPath}`);
      } else {
        text = defaultConfigText();
        await this.#writeMain(text);
        this.#warn(
          `${this.path} was not found and there is no backup: wrote a default configuration (user "apc", ` +
            `the NMC factory authentication phrase, no NMC address); edit it to add your NMC`,
        );
      }
    } else {
      await this.#checkMode(this.path);
    }
    const ev = this.#evaluate(text, backupText, false);
    this.#problems = ev.problems;
    if (ev.text !== text) await this.#writeMain(ev.text); // the clear-text password never stays on disk
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
    await atomicWriteFile(this.backupPath, ev.backupText);
    this.#values = ev.values;
    this.#config = ev.config!;
    this.#logger.info(`config: loaded ${this.path}`);
  }

  #credentialsFromClearText(): void {
    const note = `the clear-text password in ${this.path} was replaced by a salted hash`;
    this.#logger.warn(`config: ${note}`);
    this.#emit({ id: "CredentialsChanged", note, details: { changed: ["NetworkManagementCard.password"] } });
  }

  async #reload(): Promise<ReloadResult> {
    const text = await readTextOrNull(this.path);
    if (text === null) {
      if (!this.#missingReported) this.#warn(`${this.path} was deleted; keeping the running configuration`);
      this.#missingReported = true;
      this.#lastHash = null;
      return { status: "missing" };
    }
    this.#missingReported = false;
    await this.#checkMode(this.path);
    if (contentHash(text) === this.#lastHash) return { status: "unchanged" };
    const backupText = await readTextOrNull(this.backupPath);
    const ev = this.#evaluate(text, backupText, true);
    this.#problems = ev.problems;
    if (ev.text !== text) await this.#writeMain(ev.text);
    else this.#lastHash = contentHash(text);
    if (!ev.ok) {
      const errors = ev.problems.filter((p) => p.level === "error");
      for (const p of errors) this.#logger.error(`config: ${p.message}`);
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
    for (const p of ev.problems) this.#warn(p.message);
    await atomicWriteFile(this.backupPath, ev.backupText);
    return { status: "applied", change: this.#apply(ev, "reload") };
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
    this.#logger.info(`config: ${source === "set" ? "changed" : "reloaded"} ${this.path}: ${summary}`);
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
      this.#logger.warn(`config: ${note}`);
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

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What {@link inspectConfig} found, without changing anything on disk. */
export interface Inspection {
  /** The file exists. */
  readonly exists: boolean;
  /** The backup exists. */
  readonly backupExists: boolean;
  /** Evaluation of the file (or of the backup/defaults that a start would use when the file is missing). */
  readonly evaluation: Evaluation;
}

/**
 * Reads and evaluates the configuration without writing anything (for `config
 * check/get/show`). `strict` is what a hot reload would do; lenient is what a
 * start would do.
 */
export async function inspectConfig(path: string, strict: boolean): Promise<Inspection> {
  const backupPath = backupPathFor(path);
  const text = await readTextOrNull(path);
  const backupText = await readTextOrNull(backupPath);
  const source = text ?? backupText ?? defaultConfigText();
  const evaluation = evaluateConfig(source, {
    file: text !== null ? path : backupText !== null ? backupPath : path,
    backupFile: backupPath,
    backupText,
    strict,
  });
  return { exists: text !== null, backupExists: backupText !== null, evaluation };
}
