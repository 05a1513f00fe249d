/**
 * A real systemd in a container: this machine's own `/usr` booted with
 * systemd-nspawn (`--volatile=yes`: `/` is a tmpfs, `/usr` read-only, and
 * everything not bound from the host is thrown away at power-off). The
 * container shares the host's network, so a test can send UDP to an agent
 * inside on 127.0.0.1; `systemctl poweroff` inside ends only the container.
 * The recipe, all of it here: boot `/usr` read-only with `--volatile=yes`, mask the units the host has
 * installed that would start inside (apcupsd, ssh, ...), run commands inside by the container init's PID
 * (the child of the nspawn process), and end it with `systemctl poweroff` inside or SIGTERM to nspawn.
 *
 * Every process is started and stopped by its PID. nspawn writes its
 * console to a file (not a pipe) and gets SIGTERM (a clean power-off of the
 * container) if the test process dies, so a killed test run leaves no
 * container behind.
 */

/** A host path made visible inside the container. */
export interface Bind {
  /** Path on the host. */
  readonly host: string;
  /** Path inside the container. */
  readonly container: string;
  /** Read-only (default false). */
  readonly readOnly?: boolean;
}

/** How to boot a container. */
export interface BootOptions {
  /** Machine (host) name inside. */
  readonly name: string;
  /** Host paths to bind in. */
  readonly binds: readonly Bind[];
  /** Units masked at boot (installed on the host, harmful inside: apcupsd, ssh, avahi). */
  readonly masks?: readonly string[];
}

/** Units of this machine that must not start inside (they fail or bind host ports on the shared network). */
export const DEFAULT_MASKS = [
  "apcupsd.service",
  "ssh.service",
  "avahi-daemon.service",
  "avahi-daemon.socket",
];

/** The output of a command. */
export interface Output {
  /** Exit code. */
  readonly code: number;
  /** Standard output. */
  readonly stdout: string;
  /** Standard error. */
  readonly stderr: string;
}

const decoder = new TextDecoder();

async function run(program: string, args: readonly string[]): Promise<Output> {
  const out = await new Deno.Command(program, {
    args: [...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

async function onPath(program: string): Promise<boolean> {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    try {
      if ((await Deno.stat(`${dir}/${program}`)).isFile) return true;
    } catch {
      // not there
    }
  }
  return false;
}

const NSPAWN_BASE = [
  "--quiet",
  "--directory=/",
  "--volatile=yes",
  "--register=no",
  "--keep-unit",
  "--console=pipe",
];

/**
 * Why a container cannot be booted here, or undefined when it can: not
 * root, no systemd-nspawn / nsenter, or a probe (`/bin/true` in a
 * container, about 0.1 s) fails.
 */
export async function nspawnUnavailable(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return `not Linux (${Deno.build.os})`;
  if (Deno.uid() !== 0) return "not root (systemd-nspawn needs root)";
  for (const program of ["systemd-nspawn", "nsenter"]) {
    if (!(await onPath(program))) {
      return `no ${program} binary (apt-get install systemd-container util-linux)`;
    }
  }
  const probe = await run("systemd-nspawn", [...NSPAWN_BASE, `--machine=pcns-probe-${Deno.pid}`, "/bin/true"])
    .catch((error) => ({ code: -1, stdout: "", stderr: String(error) }));
  if (probe.code !== 0) return `a probe container did not run: exit ${probe.code}: ${probe.stderr.trim()}`;
  return undefined;
}

/**
 * The host PID of the container's init: the child of the nspawn process that
 * is PID 1 in its own PID namespace (`NSpid:` ends in 1). Undefined while
 * there is none yet (nspawn first forks a helper that is not init).
 */
async function initOf(pid: number): Promise<number | undefined> {
  let children: string[];
  try {
    children = (await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`)).trim().split(/\s+/);
  } catch {
    return undefined;
  }
  for (const child of children.filter((c) => c !== "")) {
    try {
      const status = await Deno.readTextFile(`/proc/${child}/status`);
      const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1].trim().split(/\s+/) ?? [];
      if (nspid.length > 1 && nspid.at(-1) === "1") return Number(child);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** A booted container. */
export class Container {
  /** The machine name. */
  readonly name: string;
  /** PID of the systemd-nspawn process (on the host). */
  readonly nspawnPid: number;
  /** Resolves when systemd-nspawn exits (the container is gone). */
  readonly exited: Promise<Deno.CommandStatus>;
  /** When the boot was started (Date.now()). */
  readonly startedAt: number;
  readonly #consoleFile: string;
  #console: string | undefined;
  #init: number | undefined;
  #gone = false;

  private constructor(name: string, process: Deno.ChildProcess, consoleFile: string) {
    this.name = name;
    this.nspawnPid = process.pid;
    this.startedAt = Date.now();
    this.#consoleFile = consoleFile;
    this.exited = process.status.then(async (status) => {
      this.#gone = true;
      this.#console = this.console;
      await Deno.remove(consoleFile).catch(() => {});
      return status;
    });
  }

  /** Boots a container; resolves once its init runs (not yet booted: see {@link waitBooted}). */
  static async boot(options: BootOptions): Promise<Container> {
    const binds = options.binds.map((b) => `--bind${b.readOnly ? "-ro" : ""}=${b.host}:${b.container}`);
    const masks = (options.masks ?? DEFAULT_MASKS).map((unit) => `systemd.mask=${unit}`);
    const consoleFile = await Deno.makeTempFile({ prefix: "pcns-nspawn-console-" });
    // exec: the shell becomes nspawn (same PID). setpriv: SIGTERM to nspawn when this process dies.
    const guard = (await onPath("setpriv")) ? "setpriv --pdeathsig TERM " : "";
    const process = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        `exec ${guard}systemd-nspawn "$@" >"$PCNS_NSPAWN_CONSOLE" 2>&1`,
        "nspawn",
        ...NSPAWN_BASE,
        "--boot",
        `--machine=${options.name}`,
        ...binds,
        ...masks,
      ],
      env: { PCNS_NSPAWN_CONSOLE: consoleFile },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const container = new Container(options.name, process, consoleFile);
    const deadline = Date.now() + 10_000;
    while (container.#init === undefined) {
      if (container.#gone) throw new Error(`systemd-nspawn exited at once:\n${container.console}`);
      if (Date.now() > deadline) {
        await container.stop();
        throw new Error(`no init process in the container after 10 s:\n${container.console}`);
      }
      container.#init = await initOf(container.nspawnPid);
      if (container.#init === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    return container;
  }

  /** True once systemd-nspawn has exited. */
  get gone(): boolean {
    return this.#gone;
  }

  /** The last 64 KiB of the container's console (boot messages), for failure reports. */
  get console(): string {
    if (this.#console !== undefined) return this.#console;
    try {
      return Deno.readTextFileSync(this.#consoleFile).slice(-64 * 1024);
    } catch {
      return "";
    }
  }

  /** Runs a command inside (all of the container's namespaces). */
  exec(argv: readonly string[]): Promise<Output> {
    if (this.#init === undefined || this.#gone) {
      return Promise.resolve({ code: -1, stdout: "", stderr: "the container is gone" });
    }
    return run("nsenter", ["-t", String(this.#init), "-a", ...argv]);
  }

  /** Runs a shell script inside. */
  sh(script: string): Promise<Output> {
    return this.exec(["/bin/sh", "-c", script]);
  }

  /** `systemctl show` properties of a unit inside. */
  async unit(name: string, properties: readonly string[]): Promise<Record<string, string>> {
    const out = await this.exec(["systemctl", "show", name, `--property=${properties.join(",")}`]);
    const props: Record<string, string> = {};
    for (const line of out.stdout.split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) props[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return props;
  }

  /**
   * Waits until systemd inside has finished booting (`is-system-running`
   * says running or degraded: units of this machine that cannot work inside
   * fail harmlessly); returns the state.
   */
  async waitBooted(timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let state = "";
    let problem = "";
    while (Date.now() < deadline) {
      if (this.#gone) throw new Error(`the container exited while booting:\n${this.console}`);
      const out = await this.exec(["systemctl", "is-system-running"]);
      state = out.stdout.trim();
      problem = out.stderr.trim();
      if (state === "running" || state === "degraded") return state;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `the container did not boot in ${timeoutMs} ms (state "${state}", ${
        problem || "no error"
      }):\n${this.console}`,
    );
  }

  /**
   * Ends the container if it still runs: a clean power-off (SIGTERM to
   * nspawn, which asks init to power off), then SIGKILL to its init and to
   * nspawn after `graceMs`.
   */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.#gone) return;
    try {
      Deno.kill(this.nspawnPid, "SIGTERM");
    } catch {
      // already gone
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) =>
      timer = setTimeout(() => resolve("timeout"), graceMs)
    );
    const result = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (result === "timeout") {
      for (const pid of [this.#init, this.nspawnPid]) {
        try {
          if (pid !== undefined) Deno.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await this.exited;
    }
  }
}
