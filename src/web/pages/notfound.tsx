/**
 * The 404 page: says what was not found, offers the pages that exist (the
 * whole menu stays on the page), and suggests the nearest one.
 *
 * @module
 */
import { Layout, type PageFrame } from "./layout.tsx";
import { settingsMenu } from "./settings_registry.ts";

/** The pages a user can go to, for the 404 page. */
export const KNOWN_PAGES: ReadonlyArray<readonly [string, string]> = [
  ["/", "Dashboard"],
  ["/events", "Event log"],
  ...settingsMenu().map((e) => [e.href, e.label] as const),
  ["/account", "Account"],
];

/** The 404 page; `suggestion` is a page the path probably meant. */
export function NotFoundPage(props: PageFrame & { missing: string; suggestion?: readonly [string, string] }) {
  return (
    <Layout {...props}>
      <p data-not-found>
        There is no page at <code>{props.missing}</code>.
        {props.suggestion
          ? (
            <>
              {" "}Did you mean <a href={props.suggestion[0]}>{props.suggestion[1]}</a>?
            </>
          )
          : null}
      </p>
      <ul class="page-list">
        {KNOWN_PAGES.map(([href, label]) => (
          <li>
            <a href={href}>{label}</a> <code class="ini">{href}</code>
          </li>
        ))}
      </ul>
    </Layout>
  );
}
