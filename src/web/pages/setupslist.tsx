/**
 * The dashboard's list of advanced UPS setups (inside the live `shutdown` fragment): one line per setup
 * with its verdict in words (`setups/verdict.ts`), e.g. "2 of 3 healthy, needs 2: no shutdown". Nothing
 * is shown without setups.
 *
 * @module
 */
import type { SetupStatus } from "../../setups/verdict.ts";

/** One line per advanced UPS setup with its verdict (nothing without setups). */
export function SetupsList(props: { setups?: readonly SetupStatus[] }) {
  const setups = props.setups ?? [];
  if (setups.length === 0) return null;
  return (
    <div class="setups" data-setups>
      <h3>Advanced UPS setups</h3>
      <ul>
        {setups.map((s) => (
          <li key={s.section} data-setup={s.name} data-phase={s.phase}>
            <strong>{s.name}</strong> ({s.cards.join(", ")}
            {s.shutdownThisServer ? "" : "; does not shut this server down"}): {s.verdict}
          </li>
        ))}
      </ul>
    </div>
  );
}
