/** The background state-file writer (src/fs/latest.ts): newest content wins, outcomes told, stalls named. */
import assert from "node:assert/strict";
import { closeSync, constants as fsConstants, openSync } from "node:fs";
import { join } from "node:path";
import { LatestFile } from "../src/fs/latest.ts";

const outcome = (file: LatestFile, content: string | null) =>
  new Promise<Error | undefined>((resolve) => file.save(content, resolve));

Deno.test("latest file: saves made during a write coalesce to the newest; every caller hears the outcome", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-latest-" });
  try {
    const file = new LatestFile(join(dir, "state.json"));
    const told: (Error | undefined)[] = [];
    for (let i = 0; i < 50; i++) file.save(`{"n":${i}}\n`, (error) => told.push(error));
    assert.ok(file.busy, "the write runs in the background: save() returned before the disk");
    assert.ok(await file.settled(5000));
    assert.equal(await Deno.readTextFile(join(dir, "state.json")), '{"n":49}\n');
    assert.equal(told.length, 50);
    assert.ok(told.every((e) => e === undefined));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["state.json"], "no temp file left");
    assert.equal(await outcome(file, null), undefined);
    assert.equal(await Deno.stat(join(dir, "state.json")).catch(() => "gone"), "gone");
    assert.equal(await outcome(file, null), undefined, "removing what is not there is fine");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("latest file: a failed write names the OS error and leaves no temp file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-latest-" });
  try {
    await Deno.mkdir(join(dir, "state.json")); // a directory where the file should go: rename fails
    const file = new LatestFile(join(dir, "state.json"));
    const error = await outcome(file, "x");
    assert.match(error?.message ?? "", /directory/i);
    assert.equal(await Deno.stat(join(dir, "state.json.tmp")).catch(() => "gone"), "gone");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("latest file: a write that never returns is reported once as stalled; settled() gives up in time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-latest-" });
  const tmp = join(dir, "state.json.tmp");
  const made = await new Deno.Command("mkfifo", { args: [tmp] }).output();
  assert.ok(made.success);
  const stalls: string[] = [];
  const file = new LatestFile(join(dir, "state.json"), {
    stallMs: 200,
    onStall: (path, ms) => stalls.push(`${path} ${ms}`),
  });
  let reader: number | undefined;
  try {
    const first = outcome(file, "a"); // open(2) of the pipe blocks, as on a hung disk
    file.save("b");
    file.save("c");
    const started = performance.now();
    assert.equal(await file.settled(500), false);
    assert.ok(performance.now() - started < 1500, "settled() returned at its timeout");
    assert.deepEqual(stalls, [`${join(dir, "state.json")} 200`], "reported once while it lasts");
    // The disk answers again: the blocked open returns (a pipe cannot be synced: that write fails), then the
    // newest content waiting is written to a regular temp file and renamed into place.
    reader = openSync(tmp, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    assert.ok(await file.settled(5000));
    await first; // told (the pipe write failed or went through; either way it returned)
    assert.equal(await Deno.readTextFile(join(dir, "state.json")), "c");
  } finally {
    if (reader === undefined) {
      try {
        reader = openSync(tmp, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      } catch { /* gone */ }
    }
    await file.settled(5000);
    if (reader !== undefined) closeSync(reader);
    await Deno.remove(dir, { recursive: true });
  }
});
