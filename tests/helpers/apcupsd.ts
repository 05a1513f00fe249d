/**
 * Runs Debian's apcupsd (a real PowerChute-protocol peer: its pcnet driver) on
 * loopback with a private config for tests and benchmarks. Every file it writes
 * is in a temp dir, and its event hook (SCRIPTDIR/apccontrol) is a recorder, so
 * nothing it does can shut this machine down.
 */
import { join } from "node:path";

/** Where apcupsd and apcaccess are installed, if they are. */
export const APCUPSD = ["/usr/sbin/apcupsd", "/sbin/apcupsd", "/usr/local/sbin/apcupsd"].find(isFile);
/** apcaccess, the NIS client. */
export const APCACCESS = ["/usr/sbin/apcaccess", "/sbin/apcaccess", "/usr/local/sbin/apcaccess"].find(isFile);

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Options of a private apcupsd. */
export interface ApcupsdOptions {
  /** UDP port its pcnet driver listens on. */
  readonly udpPort: number;
  /** TCP port of its NIS server (for apcaccess). */
  readonly nisPort: number;
  /** PowerChute user name. */
  readonly username: string;
  /** Authentication phrase. */
  readonly phrase: string;
  /** Hook body run for every event (`$1` = event name); default: append the name to hook-calls.log. */
  readonly hook?: (dir: string) => string;
}

/** A running private apcupsd. */
export interface RunningApcupsd {
  /** Its temp directory. */
  readonly dir: string;
  /** File the default hook appends event names to. */
  readonly hookLog: string;
  /** Its process. */
  readonly process: Deno.ChildProcess;
  /** Stops it by its pid (SIGTERM, then SIGKILL after 5 s) and removes the temp dir. */
  stop(): Promise<void>;
}

/** Starts apcupsd in the foreground with a private config; throws if it is not installed. */
export async function startApcupsd(o: ApcupsdOptions): Promise<RunningApcupsd> {
  if (!APCUPSD) throw new Error("apcupsd is not installed: apt-get install apcupsd");
  const dir = await Deno.makeTempDir({ prefix: "pcns-apcupsd-" });
  const hookLog = join(dir, "hook-calls.log");
  const recorder = join(dir, "apccontrol");
  const body = o.hook ? o.hook(dir) : `echo "$1" >> '${hookLog}'`;
  await Deno.writeTextFile(recorder, `#!/bin/bash\n${body}\nexit 0\n`);
  await Deno.chmod(recorder, 0o755);
  const conf = join(dir, "apcupsd.conf");
  await Deno.writeTextFile(
    conf,
    [
      "UPSNAME peer",
      "UPSCABLE ether",
      "UPSTYPE pcnet",
      `DEVICE 127.0.0.1:${o.username}:${o.phrase}:${o.udpPort}`,
      `LOCKFILE ${dir}`,
      `SCRIPTDIR ${dir}`,
      `PWRFAILDIR ${dir}`,
      `NOLOGINDIR ${dir}`,
      "NOLOGON disable",
      "ONBATTERYDELAY 0",
      "BATTERYLEVEL 5",
      "MINUTES 3",
      "TIMEOUT 0",
      "KILLDELAY 0",
      "NETSERVER on",
      "NISIP 127.0.0.1",
      `NISPORT ${o.nisPort}`,
      `EVENTSFILE ${join(dir, "apcupsd.events")}`,
      "EVENTSFILEMAX 10",
      "UPSCLASS standalone",
      "UPSMODE disable",
      "STATTIME 0",
      `STATFILE ${join(dir, "apcupsd.status")}`,
      "LOGSTATS off",
      "DATATIME 0",
      "",
    ].join("\n"),
  );
  const pidFile = join(dir, "apcupsd.pid");
  const process = new Deno.Command(APCUPSD, {
    args: ["-b", "-f", conf, "-P", pidFile],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    dir,
    hookLog,
    process,
    async stop() {
      const pid = Number((await Deno.readTextFile(pidFile).catch(() => "")).trim()) || process.pid;
      try {
        Deno.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
      const killer = setTimeout(() => {
        try {
          process.kill("SIGKILL");
        } catch {
          // gone
        }
      }, 5000);
      await process.status;
      clearTimeout(killer);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** `apcaccess status` from the NIS port, as a field map. */
export async function apcaccess(nisPort: number): Promise<Record<string, string>> {
  if (!APCACCESS) throw new Error("apcaccess is not installed");
  const out = await new Deno.Command(APCACCESS, {
    args: ["-h", `127.0.0.1:${nisPort}`, "status"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const fields: Record<string, string> = {};
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const match = /^(\S+)\s*:\s*(.*?)\s*$/.exec(line);
    if (match) fields[match[1]] = match[2];
  }
  return fields;
}
