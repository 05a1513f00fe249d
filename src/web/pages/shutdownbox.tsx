/**
 * The dashboard's shutdown box (live fragment `shutdown`): the DRY RUN badge,
 * the countdown or the running sequence with a clock time next to every
 * step and "OS shutdown in N s", and why a shutdown is or is not pending.
 * Elements with `data-due` count down in the page script between updates.
 *
 * @module
 */
import type { AgentStatus } from "../../agent/status.ts";
import { clockTime, secondsUntil, type ShutdownView } from "../shutdownview.ts";

function Due(props: { at: number; now: number; name: string }) {
  return (
    <strong data-due={String(props.at)} data-field={props.name}>{secondsUntil(props.at, props.now)} s</strong>
  );
}

function Steps(props: { view: ShutdownView }) {
  return (
    <ol class="steps" data-steps>
      {props.view.steps.map((s) => (
        <li class={s.state} data-state={s.state}>
          <time class="clock" datetime={new Date(s.at).toISOString()}>{clockTime(s.at)}</time>{" "}
          <span class="step-state">{s.state === "done" ? "done" : s.state === "current" ? "now" : ""}</span>
          {" "}
          {s.what}
        </li>
      ))}
    </ol>
  );
}

function Why(props: { why: readonly string[] }) {
  if (props.why.length === 0) return null;
  return (
    <ul class="why" data-why>
      {props.why.map((line) => <li key={line}>{line}</li>)}
    </ul>
  );
}

/** The shutdown box. */
export function ShutdownBox(props: { view: ShutdownView; status: AgentStatus; now: number }) {
  const { view, status, now } = props;
  const s = status.shutdown;
  const badge = view.dryRun
    ? (
      <p class="badge dry-run" data-dry-run>
        DRY RUN <span>the OS will not be shut down, the UPS not turned off, no command file run</span>
      </p>
    )
    : null;
  if (view.kind === "running") {
    return (
      <>
        {badge}
        <div class="banner error" data-phase="running">
          <p>
            <strong>Shutdown sequence running</strong>
            {s.trigger ? <span>: {s.trigger.reason}</span> : null}
            {s.step ? <span>. Current step: {s.step}</span> : null}
          </p>
          {view.osAt !== undefined
            ? (
              <p class="os-in">
                OS shutdown in <Due at={view.osAt} now={now} name="osIn" /> (at {clockTime(view.osAt)})
              </p>
            )
            : null}
          <Steps view={view} />
          <Why why={view.why} />
        </div>
      </>
    );
  }
  if (view.kind === "done") {
    const o = s.outcome;
    return (
      <>
        {badge}
        <div class="banner error" data-phase="done">
          <p>
            <strong>Shutdown sequence finished</strong>
            {s.trigger ? <span>: {s.trigger.reason}</span> : null}
            {o ? <span>. {o.result} at {clockTime(o.at)}: {o.note}</span> : null}
          </p>
          <p>
            {s.rearms
              ? `It re-arms ${s.rearms}.`
              : "Only a reset re-arms it (POST /api/v1/shutdown/reset or pcns-agent shutdown reset)."}
          </p>
          <Steps view={view} />
        </div>
      </>
    );
  }
  if (view.kind === "countdown") {
    return (
      <>
        {badge}
        <div class="banner warn" data-phase="countdown">
          {s.countdowns.map((c) => (
            <p>
              Shutdown in <Due at={c.dueAt} now={now} name="dueIn" /> unless the condition ends: {c.reason}
              {" "}
              <span class="when">(at {clockTime(c.dueAt)})</span>
            </p>
          ))}
          {view.osAt !== undefined
            ? (
              <p class="os-in">
                OS shutdown in <Due at={view.osAt} now={now} name="osIn" /> (at {clockTime(view.osAt)})
              </p>
            )
            : null}
          <p>Then:</p>
          <Steps view={view} />
          <Why why={view.why} />
        </div>
      </>
    );
  }
  return (
    <>
      {badge}
      <div class="idle" data-phase="idle">
        <p class="muted">No shutdown pending.</p>
        <Why why={view.why} />
      </div>
    </>
  );
}
