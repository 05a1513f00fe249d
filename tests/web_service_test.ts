/** The running web service over real TLS on loopback: certificate upload and hot-reloaded ports. */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tls from "node:tls";
import { startService } from "../src/agent/service.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { generateSelfSigned } from "../src/web/certificate.ts";
import { certificateInfo } from "../src/web/pem.ts";
import { nextEvent, waitUntil } from "./helpers/agent.ts";
import { CARD } from "./helpers/packets.ts";
import { freePort } from "./helpers/ports.ts";

const PASSWORD = "Sturdy-Battery-42!";

/** SHA-256 fingerprint (AB:CD:...) of the certificate a fresh TLS connection is served. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.on("error", reject);
  });
}

const ini = (udp: number, http: number, https: number) =>
  [
    "[NetworkManagementCard]",
    `username = ${CARD.username}`,
    `password = ${PASSWORD}`,
    `authenticationPhrase = ${CARD.authenticationPhrase}`,
    `ip_1 = ${CARD.address}`,
    "[Networking]",
    `udpPort = ${udp}`,
    "udpListenAddresses = 127.0.0.1",
    `httpPort = ${http}`,
    `httpsPort = ${https}`,
    "uiListenAddress = 127.0.0.1",
    "",
  ].join("\n");

Deno.test("web service: an uploaded certificate is served at once; an ini edit moves the UI port", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-web-service-" });
  const configPath = join(dir, "pcnsconfig.ini");
  const udp = freePort("udp");
  const http = freePort();
  const https = freePort();
  await Deno.writeTextFile(configPath, ini(udp, http, https), { mode: 0o600 });
  const service = await startService({
    configPath,
    logger: memoryLogger().logger,
    dryRun: true,
    webUi: true,
  });
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(join(dir, "ui-cert.pem"))] });
  try {
    const before = await servedFingerprint(https);
    assert.equal(
      before,
      certificateInfo(await Deno.readTextFile(join(dir, "ui-cert.pem"))).fingerprintSha256,
    );

    // Plain HTTP only redirects to TLS.
    const redirect = await fetch(`http://127.0.0.1:${http}/events?page=2`, { redirect: "manual" });
    assert.equal(redirect.headers.get("location"), `https://127.0.0.1:${https}/events?page=2`);
    await redirect.body?.cancel();

    const base = `https://127.0.0.1:${https}`;
    const login = await fetch(`${base}/login`, {
      method: "POST",
      client,
      redirect: "manual",
      body: new URLSearchParams({ username: CARD.username, password: PASSWORD }),
    });
    assert.equal(login.status, 303, "the clear-text password typed into the ini works, hashed at load");
    await login.body?.cancel();
    const cookie = login.headers.get("set-cookie")!.split(";")[0];
    const page = await (await fetch(`${base}/certificate`, { client, headers: { cookie } })).text();
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(page)![1];

    const fresh = await generateSelfSigned({
      commonName: "replaced",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
    });
    const replaced = nextEvent(service.agent.bus, "CertificateReplaced");
    const upload = await fetch(`${base}/certificate`, {
      method: "POST",
      client,
      redirect: "manual",
      headers: { cookie },
      body: new URLSearchParams({ _csrf: csrf, certificate: fresh.certPem, key: fresh.keyPem }),
    });
    assert.equal(upload.status, 303);
    await upload.body?.cancel();
    await replaced;
    assert.equal(await servedFingerprint(https), certificateInfo(fresh.certPem).fingerprintSha256);

    // A mismatched pair is refused and the served certificate stays.
    const other = await generateSelfSigned({ commonName: "other", dnsNames: ["localhost"], ipAddresses: [] });
    const bad = await fetch(`${base}/certificate`, {
      method: "POST",
      client: Deno.createHttpClient({ caCerts: [fresh.certPem] }),
      headers: { cookie },
      body: new URLSearchParams({ _csrf: csrf, certificate: fresh.certPem, key: other.keyPem }),
    });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /does not match/);
    assert.equal(await servedFingerprint(https), certificateInfo(fresh.certPem).fingerprintSha256);

    // Hot reload: a new httpsPort in the file moves the UI without a restart.
    const moved = freePort();
    await Deno.writeTextFile(
      configPath,
      (await Deno.readTextFile(configPath)).replace(`httpsPort = ${https}`, `httpsPort = ${moved}`),
    );
    await waitUntil(() => service.web!.httpsPort === moved, "the UI to move to the new port", 3000);
    assert.equal(await servedFingerprint(moved), certificateInfo(fresh.certPem).fingerprintSha256);
  } finally {
    client.close();
    await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("web service: after the password is removed again, the newly printed setup token is the one accepted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pcns-web-setup-" });
  const configPath = join(dir, "pcnsconfig.ini");
  const https = freePort();
  const noPassword = ini(freePort("udp"), freePort(), https).replace(`password = ${PASSWORD}`, "password =");
  await Deno.writeTextFile(configPath, noPassword, { mode: 0o600 });
  const service = await startService({
    configPath,
    logger: memoryLogger().logger,
    dryRun: true,
    webUi: true,
    hotReload: false,
  });
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(join(dir, "ui-cert.pem"))] });
  const setup = async (token: string) => {
    const response = await fetch(`https://127.0.0.1:${https}/setup`, {
      method: "POST",
      client,
      redirect: "manual",
      body: new URLSearchParams({
        token,
        username: CARD.username,
        password: PASSWORD,
        confirm: PASSWORD,
        authenticationPhrase: CARD.authenticationPhrase,
      }),
    });
    await response.body?.cancel();
    return response.status;
  };
  try {
    const first = service.web!.setupToken!;
    assert.equal(await setup(first), 303, "the first token sets the password");
    assert.equal(service.web!.setupToken, undefined);

    // The admin forgot the password and empties it in the ini: the agent prints a new token.
    await Deno.writeTextFile(configPath, noPassword, { mode: 0o600 });
    assert.equal((await service.store.reload()).status, "applied");
    await waitUntil(() => service.web!.setupToken !== undefined, "the web UI to follow the reload");
    const second = service.web!.setupToken!;
    assert.ok(second !== first, "a new token is printed");
    assert.equal(await setup(first), 400, "the consumed token stays refused");
    assert.equal(await setup(second), 303, "the printed token is the one the UI accepts");
  } finally {
    client.close();
    await service.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
