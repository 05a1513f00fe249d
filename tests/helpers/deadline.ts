/**
 * Preloaded into every test file (`deno task test` passes `--preload`): gives each `Deno.test` a deadline, so a
 * test that waits forever fails with its name and the processes it left running instead of stalling the whole
 * suite until CI gives up. A test step (`t.step`) runs inside its test and shares that deadline.
 *
 * The deadline is `PCNS_TEST_DEADLINE_S` seconds (default 180); a test that needs longer says so with
 * `deadlineSeconds` in its name-less options object (`Deno.test({ name, fn, ...withDeadline(300) })`).
 *
 * @module
 */

/** Default seconds one test may take before it is failed. */
export const DEFAULT_TEST_DEADLINE_S = 180;

const DEADLINE_KEY = "pcnsDeadlineSeconds";

/** Options spread into a `Deno.test` definition to give that test a longer (or shorter) deadline. */
export function withDeadline(seconds: number): Record<string, number> {
  return { [DEADLINE_KEY]: seconds };
}

type TestFn = (t: Deno.TestContext) => void | Promise<void>;
type Definition = Deno.TestDefinition & { [DEADLINE_KEY]?: number };

/** Normalizes the five call forms of `Deno.test` into one definition object. */
export function testDefinition(args: unknown[]): Definition {
  const [a, b, c] = args;
  if (typeof a === "string") {
    if (typeof b === "function") return { name: a, fn: b as TestFn };
    return { ...(b as object), name: a, fn: c as TestFn } as Definition;
  }
  if (typeof a === "function") {
    return { name: a.name, fn: a as TestFn };
  }
  if (typeof b === "function") {
    const options = a as Partial<Definition>;
    return { ...options, name: options.name ?? b.name, fn: b as TestFn } as Definition;
  }
  return a as Definition;
}

function configuredDeadline(): number {
  const raw = Deno.env.get("PCNS_TEST_DEADLINE_S");
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_TEST_DEADLINE_S;
}

/** The processes below this one, as `ps` shows them (best effort: empty when `ps` is missing). */
function descendants(): string {
  try {
    const out = new Deno.Command("ps", { args: ["-e", "-o", "pid=,ppid=,etimes=,args="], stderr: "null" })
      .outputSync();
    const rows = new TextDecoder().decode(out.stdout).split("\n").map((line) => line.trim()).filter(Boolean)
      .map((line) => {
        const [pid, ppid, ...rest] = line.split(/\s+/);
        return { pid: Number(pid), ppid: Number(ppid), text: line, rest };
      });
    const mine = new Set([Deno.pid]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const row of rows) {
        if (!mine.has(row.pid) && mine.has(row.ppid)) {
          mine.add(row.pid);
          grew = true;
        }
      }
    }
    return rows.filter((row) => row.pid !== Deno.pid && mine.has(row.pid) && !row.text.includes("pid=,ppid="))
      .map((row) => `  ${row.text}`).join(
        "\n",
      );
  } catch {
    return "";
  }
}

/** Wraps a test function so that it rejects after `seconds`, naming the test and what it left running. */
export function deadlined(name: string, fn: TestFn, seconds: number): TestFn {
  return async (t) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const left = descendants();
        reject(
          new Error(
            `test "${name}" did not finish within ${seconds} s (a wait without a timeout?)` +
              (left ? `\nprocesses still running under the test:\n${left}` : ""),
          ),
        );
      }, seconds * 1000);
    });
    try {
      await Promise.race([Promise.resolve().then(() => fn(t)), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Installs the deadline on `Deno.test` (idempotent). */
export function installTestDeadline(): void {
  const marker = Symbol.for("pcns-agent.test-deadline");
  const holder = Deno as unknown as Record<symbol, boolean>;
  if (holder[marker]) return;
  holder[marker] = true;
  const original = Deno.test;
  const fallback = configuredDeadline();
  const wrapped = (...args: unknown[]) => {
    const definition = testDefinition(args);
    const seconds = definition[DEADLINE_KEY] ?? fallback;
    const { [DEADLINE_KEY]: _, ...rest } = definition;
    return original({ ...rest, fn: deadlined(definition.name, definition.fn, seconds) });
  };
  Object.assign(wrapped, { ignore: original.ignore, only: original.only });
  (Deno as unknown as { test: unknown }).test = wrapped;
}

installTestDeadline();
