/**
 * The config store's files on disk: pcnsconfig.ini, its backup, its lock and the kept damaged copy.
 * Bounded reads, atomic writes (never through a symbolic link), the cross-process lock, the mode and
 * data-directory checks, and the hash of the content last read or written (what a reload compares).
 * Problems that do not stop the store are reported through the `warn` callback.
 *
 * @module
 */
import {
  atomicWriteFile,
  contentHash,
  type FileText,
  looseDirectory,
  namedPipesIn,
  readFileText,
  restrictMode,
  SymlinkRefusedError,
  symlinkTarget,
  withFileLock,
} from "./fs.ts";
import { MAX_CONFIG_BYTES } from "./integrity.ts";
import { backupPathFor, baseName, corruptPathFor, dirOf, lockPathFor } from "./paths.ts";

/** The files of one config store (see the module documentation). */
export class StoreFiles {
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
  /** Hash of the content last loaded or written (null: none, e.g. the file was deleted). */
  lastHash: string | null = null;

  readonly #warn: (message: string) => void;
  /** Warnings already given once (a symlinked file, a backup that is a link). */
  readonly #warnedOnce = new Set<string>();

  /** The files of the store on `path`; `warn` receives what is wrong but not fatal. */
  constructor(path: string, warn: (message: string) => void) {
    this.path = path;
    this.dataDir = dirOf(path);
    this.backupPath = backupPathFor(path);
    this.lockPath = lockPathFor(path);
    this.corruptPath = corruptPathFor(path);
    this.#warn = warn;
  }

  /** Runs `fn` under the cross-process lock (a symlinked lock file is replaced by a plain one, loudly). */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    return withFileLock(this.lockPath, fn, (target) =>
      this.#warn(
        `the lock file ${this.lockPath} was a symbolic link to ${target}; replaced it by a plain file ` +
          `(${target} was not touched)`,
      ));
  }

  /** The file's bytes and text (bounded, regular files only); null when missing; throws a FileProblem otherwise. */
  readMain(): Promise<FileText | null> {
    return readFileText(this.path, MAX_CONFIG_BYTES);
  }

  /** The backup's text; null when missing or unusable as a file (with a warning). */
  async readBackup(): Promise<string | null> {
    try {
      return (await readFileText(this.backupPath, MAX_CONFIG_BYTES))?.text ?? null;
    } catch (error) {
      this.warnOnce("backup-unreadable", `the backup ${errorText(error)}; it is not used`);
      return null;
    }
  }

  /** Writes the backup; a backup that is a symbolic link is left alone (warned once). */
  async writeBackup(text: string): Promise<void> {
    try {
      await atomicWriteFile(this.backupPath, text);
    } catch (error) {
      if (!(error instanceof SymlinkRefusedError)) throw error;
      this.warnOnce("backup-link", `${error.message}; the backup is not updated`);
    }
  }

  /** Writes the file atomically and remembers its hash (throws SymlinkRefusedError for a link). */
  async writeMain(text: string): Promise<void> {
    this.lastHash = contentHash(text);
    await atomicWriteFile(this.path, text);
  }

  /**
   * Writes a rewrite the agent makes on its own (scrubbed clear text, a restored file); returns false
   * when the file is a symbolic link, which is left as it is (warned once).
   */
  async rewriteMain(text: string, what: string): Promise<boolean> {
    try {
      await this.writeMain(text);
      return true;
    } catch (error) {
      if (!(error instanceof SymlinkRefusedError)) throw error;
      this.warnOnce(`rewrite:${what}`, `${error.message}; ${what} is not written to it`);
      return false;
    }
  }

  /** Warns once per `what` (later calls with the same `what` say nothing). */
  warnOnce(what: string, message: string): void {
    if (this.#warnedOnce.has(what)) return;
    this.#warnedOnce.add(what);
    this.#warn(message);
  }

  /** Sets mode 0600 on `path` when others can read it (warning); warns once when it is a symbolic link. */
  async checkMode(path: string): Promise<void> {
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
      this.warnOnce(
        `link:${found.target}`,
        `${path} is a symbolic link to ${found.target}: pcns-agent reads it but never changes it (no mode ` +
          `change, no write through the link), so changes from the web UI, the API and config set are ` +
          `refused; edit ${found.target} itself${loose}`,
      );
    }
  }

  /** Warns when others than the owner can write the data directory (they could replace the configuration). */
  async checkDataDir(): Promise<void> {
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
  async keepDamaged(bytes: Uint8Array | null): Promise<boolean> {
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
}

/** The message of an error, or the thrown value as text. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
