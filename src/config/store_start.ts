/**
 * The text the config store starts from: the file as read, or, when it is missing, the backup (restored)
 * or a commented default (written); when it is a dangling symbolic link, the backup or the default (nothing
 * written through the link); when it is unreadable as a whole (src/config/integrity.ts), the backup as a
 * whole, loudly, with the damaged bytes kept as pcnsconfig.ini.corrupt.
 *
 * @module
 */
import type { EventDraft } from "../events/types.ts";
import type { Logger } from "../log/logger.ts";
import { contentHash, type FileText, symlinkTarget } from "./fs.ts";
import { unreadableReason } from "./integrity.ts";
import { errorText, type StoreFiles } from "./store_files.ts";
import { defaultConfigText } from "./template.ts";

/** Where the start reports what it did (the store's logger and event channel). */
export interface StartReport {
  /** Logs and emits a ConfigWarning. */
  readonly warn: (message: string) => void;
  /** Logs a message that also goes out as an event (unless the event receiver logs events itself). */
  readonly logBesideEvent: (level: "info" | "warn" | "error", message: string) => void;
  /** Emits an event. */
  readonly emit: (draft: EventDraft) => void;
  /** The store's logger. */
  readonly logger: Logger;
}

/** The file's text at start (restored, defaulted or replaced by the backup as needed). */
export async function startText(
  files: StoreFiles,
  backupText: string | null,
  report: StartReport,
): Promise<string> {
  const link = await symlinkTarget(files.path);
  let read: FileText | null;
  let unreadable: string | undefined;
  try {
    read = await files.readMain();
  } catch (error) {
    read = { bytes: new Uint8Array(), text: "" };
    unreadable = `it cannot be read as a file: ${errorText(error)}`;
  }
  const damaged = unreadable === undefined ? read?.bytes ?? null : null;
  if (read === null && link !== undefined) {
    const text = backupText ?? defaultConfigText();
    files.lastHash = contentHash(text);
    report.warn(
      `${files.path} is a symbolic link to ${link}, which does not exist: using ` +
        (backupText !== null ? `the backup ${files.backupPath}` : "the default configuration") +
        ` (nothing is written through the link; create ${link} or replace the link by the file)`,
    );
    return text;
  }
  if (read === null) {
    if (backupText !== null) {
      await files.writeMain(backupText);
      report.warn(`${files.path} was not found; restored it from the backup ${files.backupPath}`);
      return backupText;
    }
    const text = defaultConfigText();
    await files.writeMain(text);
    report.warn(
      `${files.path} was not found and there is no backup: wrote a default configuration (user "apc", ` +
        `the NMC factory authentication phrase, no NMC address); edit it to add your NMC`,
    );
    return text;
  }
  await files.checkMode(files.path);
  const why = unreadable ?? unreadableReason(read.bytes, read.text, backupText);
  if (why !== undefined) {
    const text = await useBackupAsWhole(files, damaged, why, backupText, report);
    if (text !== null) return text;
  }
  files.lastHash = contentHash(read.text);
  return read.text;
}

/**
 * The text a start uses when the file is unreadable as a whole: the backup, used as a whole and loudly
 * (error line, ConfigBackupUsed event); the damaged bytes are kept as pcnsconfig.ini.corrupt (0600) and
 * the file is restored from the backup. Without a backup the file is evaluated as it is, loudly too.
 */
async function useBackupAsWhole(
  files: StoreFiles,
  damaged: Uint8Array | null,
  why: string,
  backupText: string | null,
  report: StartReport,
): Promise<string | null> {
  if (backupText === null) {
    const note =
      `${files.path} is unreadable as a whole (${why}) and there is no backup ${files.backupPath} to use`;
    report.logBesideEvent("error", note);
    report.emit({ id: "ConfigWarning", note, details: { file: files.path, reason: why } });
    return null;
  }
  const kept = await files.keepDamaged(damaged).catch((error) => {
    report.logger.error(
      `config: could not keep the damaged file as ${files.corruptPath}: ${errorText(error)}`,
    );
    return false;
  });
  const restored = await files.rewriteMain(backupText, "the backup");
  const note = `${files.path} is unreadable as a whole (${why}): using the backup ${files.backupPath} as a ` +
    `whole` + (kept ? `; the damaged file was kept as ${files.corruptPath}` : "") +
    (restored ? `; ${files.path} was restored from the backup` : "");
  report.logBesideEvent("error", note);
  report.emit({
    id: "ConfigBackupUsed",
    note,
    details: { file: files.path, backup: files.backupPath, reason: why, keptAs: files.corruptPath },
  });
  return backupText;
}
