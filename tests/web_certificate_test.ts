import "reflect-metadata";
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import * as x509 from "@peculiar/x509";
import {
  defaultCertificateNames,
  generateSelfSigned,
  installCertificate,
  loadOrCreateCertificate,
  type PemPair,
} from "../src/web/certificate.ts";
import { certificateFingerprint, certificateInfo, checkKeyPair } from "../src/web/pem.ts";

const DAY_MS = 86_400_000;
const NO_FILES = { certificateFile: "", keyFile: "" };
const isWindows = Deno.build.os === "windows";

function localPair(options: { days?: number; now?: Date } = {}): Promise<PemPair> {
  return generateSelfSigned({
    commonName: "pcns-test",
    dnsNames: ["pcns-test.example", "localhost"],
    ipAddresses: ["127.0.0.1", "::1"],
    ...options,
  });
}

/** A self-signed RSA-2048 certificate with its key as PKCS#1 ("RSA PRIVATE KEY") PEM. */
async function rsaPairPkcs1(): Promise<PemPair> {
  const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256", publicExponent: new Uint8Array([1, 0, 1]) };
  const keys = await crypto.subtle.generateKey({ ...algorithm, modulusLength: 2048 }, true, [
    "sign",
    "verify",
  ]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=rsa",
    keys,
    signingAlgorithm: algorithm,
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const keyPem = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })
    .export({ type: "pkcs1", format: "pem" }).toString();
  return { certPem: cert.toString("pem"), keyPem };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pcns-cert-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function fileMode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

Deno.test("certificate: generateSelfSigned gives SANs, a colon fingerprint, 825 days, self-signed", async () => {
  const started = performance.now();
  const pair = await localPair();
  const ms = performance.now() - started;
  assert.ok(ms < 2000, `generation took ${ms} ms`);
  assert.match(pair.certPem, /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/);
  assert.match(pair.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  const info = certificateInfo(pair.certPem);
  assert.equal(info.subject, "CN=pcns-test");
  assert.equal(info.issuer, "CN=pcns-test");
  assert.equal(info.selfSigned, true);
  assert.deepEqual(info.dnsNames, ["pcns-test.example", "localhost"]);
  assert.deepEqual(info.ipAddresses, ["127.0.0.1", "::1"]);
  assert.match(info.fingerprintSha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const days = (info.notAfter.getTime() - Date.now()) / DAY_MS;
  assert.ok(days > 824.9 && days <= 825, `expires in ${days} days`);
  const backdated = (Date.now() - info.notBefore.getTime()) / 3_600_000;
  assert.ok(backdated > 0.9 && backdated < 1.1, `notBefore ${backdated} h ago`);
  assert.equal(await certificateFingerprint(pair.certPem), info.fingerprintSha256);
  // Two certificates never share a serial or a key.
  const other = certificateInfo((await localPair()).certPem);
  assert.notEqual(other.fingerprintSha256, info.fingerprintSha256);
});

Deno.test("certificate: generateSelfSigned refuses invalid names and validity", async () => {
  await assert.rejects(
    generateSelfSigned({ commonName: "x", dnsNames: ["bad name"], ipAddresses: [] }),
    /not a valid DNS name/,
  );
  await assert.rejects(
    generateSelfSigned({ commonName: "x", dnsNames: [], ipAddresses: ["300.1.1.1"] }),
    /not a valid IP address/,
  );
  await assert.rejects(
    generateSelfSigned({ commonName: "x", dnsNames: [], ipAddresses: [], days: 0 }),
    /positive/,
  );
});

Deno.test("certificate: certificateInfo throws a clear error for non-PEM and unparsable input", () => {
  assert.throws(() => certificateInfo("hello"), /not a PEM certificate/);
  assert.throws(
    () => certificateInfo("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
    /unparsable certificate/,
  );
  assert.throws(
    () => certificateInfo("-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n"),
    /unparsable certificate: .*base64/,
  );
});

Deno.test("certificate: defaultCertificateNames keeps routable addresses and adds loopback", () => {
  const names = defaultCertificateNames("NAS01", [
    { address: "127.0.0.1" },
    { address: "192.0.2.2" },
    { address: "::1" },
    { address: "fd00::2" },
    { address: "fe80::fc:ff:fe00:1" },
    { address: "169.254.3.4" },
  ], ["nas01.example.org", "[2001:db8::7]", "bad name", "192.0.2.2"]);
  assert.equal(names.commonName, "nas01");
  assert.deepEqual(names.dnsNames, ["nas01", "localhost", "nas01.example.org"]);
  assert.deepEqual(names.ipAddresses, ["2001:db8::7", "192.0.2.2", "fd00::2", "127.0.0.1", "::1"]);
  assert.equal(defaultCertificateNames("bad_host name!", []).commonName, "localhost");
});

Deno.test("certificate: checkKeyPair accepts the pair and explains every failure in one line", async () => {
  const pair = await localPair();
  const other = await localPair();
  assert.equal(await checkKeyPair(pair.certPem, pair.keyPem), undefined);
  assert.equal(
    await checkKeyPair(pair.certPem, other.keyPem),
    "the private key does not match the certificate's public key",
  );
  assert.match((await checkKeyPair(pair.certPem, "garbage"))!, /^not a PEM private key/);
  assert.match(
    (await checkKeyPair(pair.certPem, pair.certPem))!,
    /found a certificate where the key was expected/,
  );
  assert.match((await checkKeyPair("garbage", pair.keyPem))!, /^certificate: not a PEM certificate/);
  const encrypted = createPrivateKey(pair.keyPem)
    .export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" }).toString();
  assert.match((await checkKeyPair(pair.certPem, encrypted))!, /encrypted.*without a passphrase/);
  const later = new Date(Date.now() + 900 * DAY_MS);
  assert.match((await checkKeyPair(pair.certPem, pair.keyPem, later))!, /^the certificate expired on \d{4}-/);
  for (const result of [await checkKeyPair(pair.certPem, other.keyPem), await checkKeyPair("x", "y")]) {
    assert.ok(!result!.includes("\n"));
  }
});

Deno.test("certificate: checkKeyPair reads SEC1 (EC PRIVATE KEY) and PKCS#1 (RSA PRIVATE KEY) keys", async () => {
  const ec = await localPair();
  const sec1 = createPrivateKey(ec.keyPem).export({ type: "sec1", format: "pem" }).toString();
  assert.match(sec1, /^-----BEGIN EC PRIVATE KEY-----/);
  assert.equal(await checkKeyPair(ec.certPem, sec1), undefined);
  const rsa = await rsaPairPkcs1();
  assert.match(rsa.keyPem, /^-----BEGIN RSA PRIVATE KEY-----/);
  assert.equal(await checkKeyPair(rsa.certPem, rsa.keyPem), undefined);
  assert.equal(
    await checkKeyPair(rsa.certPem, sec1),
    "the private key does not match the certificate's public key",
  );
});

Deno.test("certificate: loadOrCreateCertificate generates once (key 0600) and then reuses the pair", async () => {
  await withTempDir(async (dir) => {
    const dataDir = `${dir}/data`; // created on demand
    const first = await loadOrCreateCertificate(dataDir, NO_FILES, ["ups-agent.example"]);
    assert.equal(first.source, "generated");
    assert.equal(first.regenerated, undefined);
    assert.equal(first.certPath, `${dataDir}/ui-cert.pem`);
    assert.equal(first.keyPath, `${dataDir}/ui-key.pem`);
    assert.ok(first.info.dnsNames.includes("localhost"));
    assert.ok(first.info.dnsNames.includes("ups-agent.example"));
    assert.ok(first.info.ipAddresses.includes("127.0.0.1"));
    assert.ok(first.info.ipAddresses.includes("::1"));
    if (!isWindows) {
      assert.equal(await fileMode(first.keyPath), 0o600);
      assert.equal(await fileMode(first.certPath), 0o644);
    }
    assert.equal(await Deno.readTextFile(first.certPath), first.certPem);
    const second = await loadOrCreateCertificate(dataDir, NO_FILES);
    assert.equal(second.info.fingerprintSha256, first.info.fingerprintSha256);
    assert.equal(second.keyPem, first.keyPem);
    const leftovers = [...Deno.readDirSync(dataDir)].map((e) => e.name).sort();
    assert.deepEqual(leftovers, ["ui-cert.pem", "ui-key.pem"]);
  });
});

Deno.test("certificate: loadOrCreateCertificate regenerates an expired, mismatched or half-missing pair", async () => {
  await withTempDir(async (dir) => {
    const old = await localPair({ now: new Date(Date.now() - 30 * DAY_MS), days: 10 });
    await Deno.writeTextFile(`${dir}/ui-cert.pem`, old.certPem);
    await Deno.writeTextFile(`${dir}/ui-key.pem`, old.keyPem);
    const renewed = await loadOrCreateCertificate(dir, NO_FILES);
    assert.match(renewed.regenerated!, /ui-cert\.pem: the certificate expired on/);
    assert.ok(renewed.info.notAfter.getTime() > Date.now());
    assert.equal(await checkKeyPair(renewed.certPem, renewed.keyPem), undefined);

    await Deno.writeTextFile(`${dir}/ui-key.pem`, (await localPair()).keyPem);
    const fixed = await loadOrCreateCertificate(dir, NO_FILES);
    assert.match(fixed.regenerated!, /does not match/);
    assert.notEqual(fixed.info.fingerprintSha256, renewed.info.fingerprintSha256);

    await Deno.remove(`${dir}/ui-key.pem`);
    const again = await loadOrCreateCertificate(dir, NO_FILES);
    assert.match(again.regenerated!, /ui-key\.pem is missing/);
    if (!isWindows) assert.equal(await fileMode(again.keyPath), 0o600);
  });
});

Deno.test("certificate: configured files are checked and errors name the file", async () => {
  await withTempDir(async (dir) => {
    const pair = await localPair();
    const other = await localPair();
    await Deno.writeTextFile(`${dir}/cert.pem`, pair.certPem);
    await Deno.writeTextFile(`${dir}/key.pem`, pair.keyPem);
    await Deno.writeTextFile(`${dir}/other-key.pem`, other.keyPem);
    await Deno.writeTextFile(`${dir}/junk.pem`, "not a certificate");
    const settings = (certificateFile: string, keyFile: string) => ({ certificateFile, keyFile });

    const good = await loadOrCreateCertificate(dir, settings(`${dir}/cert.pem`, `${dir}/key.pem`));
    assert.equal(good.source, "configured");
    assert.equal(good.certPath, `${dir}/cert.pem`);
    assert.equal(good.info.fingerprintSha256, certificateInfo(pair.certPem).fingerprintSha256);

    await assert.rejects(
      loadOrCreateCertificate(dir, settings(`${dir}/cert.pem`, `${dir}/other-key.pem`)),
      (error: Error) => {
        assert.match(error.message, /other-key\.pem: the private key does not match/);
        assert.match(error.message, /cert\.pem/);
        return true;
      },
    );
    await assert.rejects(
      loadOrCreateCertificate(dir, settings(`${dir}/junk.pem`, `${dir}/key.pem`)),
      /certificate file .*junk\.pem: not a PEM certificate/,
    );
    await assert.rejects(
      loadOrCreateCertificate(dir, settings(`${dir}/cert.pem`, `${dir}/missing.pem`)),
      /key file .*missing\.pem: cannot read it/,
    );
    await assert.rejects(loadOrCreateCertificate(dir, settings(`${dir}/cert.pem`, "")), /keyFile is empty/);
    // Nothing was generated next to the configured files.
    await assert.rejects(Deno.stat(`${dir}/ui-cert.pem`), Deno.errors.NotFound);
  });
});

Deno.test("certificate: installCertificate rejects a bad pair writing nothing, installs a good one", async () => {
  await withTempDir(async (dir) => {
    const generated = await loadOrCreateCertificate(dir, NO_FILES);
    const upload = await localPair();
    const other = await localPair();
    await assert.rejects(installCertificate(dir, upload.certPem, other.keyPem), /rejected: .*does not match/);
    await assert.rejects(installCertificate(dir, "nope", upload.keyPem), /rejected: not a PEM certificate/);
    const expired = await localPair({ now: new Date(Date.now() - 30 * DAY_MS), days: 10 });
    await assert.rejects(installCertificate(dir, expired.certPem, expired.keyPem), /rejected: .*expired/);
    assert.equal(await Deno.readTextFile(`${dir}/ui-cert.pem`), generated.certPem);
    assert.equal(await Deno.readTextFile(`${dir}/ui-key.pem`), generated.keyPem);

    const installed = await installCertificate(dir, `junk before\n${upload.certPem}`, upload.keyPem);
    assert.equal(installed.certPem, upload.certPem);
    assert.equal(installed.info.fingerprintSha256, certificateInfo(upload.certPem).fingerprintSha256);
    if (!isWindows) assert.equal(await fileMode(`${dir}/ui-key.pem`), 0o600);
    const loaded = await loadOrCreateCertificate(dir, NO_FILES);
    assert.equal(loaded.info.fingerprintSha256, installed.info.fingerprintSha256);
    assert.equal(loaded.regenerated, undefined);
  });
});
