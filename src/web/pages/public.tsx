/**
 * Pages reachable without a session: first-run setup and login.
 *
 * @module
 */
import { Field, type FieldErrors, Layout, PasswordPolicyList } from "./layout.tsx";

/** First-run setup: user name, password, authentication phrase, gated by the console setup token. */
export function SetupPage(props: {
  secure: boolean;
  values: { username?: string; authenticationPhrase?: string };
  errors?: FieldErrors;
}) {
  return (
    <Layout title="First-run setup" secure={props.secure} path="/setup">
      <p>
        No administrator password is set yet. Enter the setup token printed on the agent's console (or in its
        journal:{" "}
        <code>journalctl -u pcns-agent</code>), then choose the administrator account and the authentication
        phrase configured on your Network Management Cards.
      </p>
      <form method="post" action="/setup" class="card">
        <Field name="token" label="Setup token" autocomplete="off" required errors={props.errors} />
        <Field
          name="username"
          label="User name"
          value={props.values.username ?? "apc"}
          autocomplete="username"
          required
          hint="1-10 characters; also the PowerChute user name on the NMCs"
          errors={props.errors}
        />
        <Field
          name="password"
          label="Password"
          type="password"
          autocomplete="new-password"
          required
          errors={props.errors}
        />
        <PasswordPolicyList field="password" />
        <Field
          name="confirm"
          label="Repeat the password"
          type="password"
          autocomplete="new-password"
          required
          errors={props.errors}
        />
        <Field
          name="authenticationPhrase"
          label="Authentication phrase"
          type="password"
          value=""
          autocomplete="off"
          required
          hint="15-32 characters, as set on the NMC (UPS > PowerChute configuration)"
          errors={props.errors}
        />
        <button type="submit">Save and continue</button>
      </form>
    </Layout>
  );
}

/** The login form; `message` is the one generic error ("wrong user name or password", lockout). */
export function LoginPage(props: { secure: boolean; message?: string; username?: string }) {
  return (
    <Layout title="Log in" secure={props.secure} path="/login">
      <form method="post" action="/login" class="card narrow">
        {props.message ? <p class="banner error" role="alert">{props.message}</p> : null}
        <Field
          name="username"
          label="User name"
          value={props.username ?? ""}
          autocomplete="username"
          required
        />
        <Field name="password" label="Password" type="password" autocomplete="current-password" required />
        <button type="submit">Log in</button>
      </form>
    </Layout>
  );
}
