/**
 * The in-process event stream: UPS state changes and service events are
 * published here, and the event log, the web UI and the action engine
 * subscribe. One subscriber's failure never stops the others, and nothing a
 * listener (or the error handler) throws ever leaves `publish`: a timer or a
 * socket callback that publishes cannot be crashed by a listener.
 *
 * @module
 */
import type { AgentEvent } from "./types.ts";

/** A function that receives every published event. */
export type EventListener = (event: AgentEvent) => void;

/** Publish/subscribe hub for agent events. */
export class EventBus {
  readonly #listeners = new Set<EventListener>();
  readonly #lastListeners = new Set<EventListener>();
  readonly #queue: AgentEvent[] = [];
  #delivering = false;
  readonly #onListenerError: (error: unknown, event: AgentEvent) => void;

  /** Creates a bus; `onListenerError` hears about listeners that throw (default: console.error). */
  constructor(onListenerError?: (error: unknown, event: AgentEvent) => void) {
    this.#onListenerError = onListenerError ??
      ((error, event) => console.error(`event listener failed on ${event.id}:`, error));
  }

  /** Adds a listener; returns a function that removes it. */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Adds a listener that gets each event after every listener added with `subscribe`, whenever those were
   * added (the event log's recorder: its synchronous write must not delay the listeners that act on the
   * event). Returns a function that removes it.
   */
  subscribeLast(listener: EventListener): () => void {
    this.#lastListeners.add(listener);
    return () => this.#lastListeners.delete(listener);
  }

  /**
   * Delivers an event to every listener, in subscription order (the `subscribeLast` ones after the
   * rest). An event published by a listener is queued and delivered after the current one has reached
   * every listener, so all listeners see the same order.
   */
  publish(event: AgentEvent): void {
    this.#queue.push(event);
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      for (let next = this.#queue.shift(); next; next = this.#queue.shift()) {
        for (const listener of [...this.#listeners, ...this.#lastListeners]) {
          try {
            listener(next);
          } catch (error) {
            this.#reportListenerError(error, next);
          }
        }
      }
    } finally {
      this.#delivering = false;
    }
  }

  #reportListenerError(error: unknown, event: AgentEvent): void {
    try {
      this.#onListenerError(error, event);
    } catch (reportError) {
      try {
        console.error(`event listener failed on ${event.id}: ${error}; reporting it failed: ${reportError}`);
      } catch {
        // stderr is gone too: nothing left to tell
      }
    }
  }
}
