/** Access to the recorded real packets in tests/fixtures/vectors (copied into the repository) and their card's credentials. */
import { fileURLToPath } from "node:url";

/** Credentials of the AP9617 card the vectors were recorded from. */
export const VECTOR_CARD = {
  username: "apc",
  authenticationPhrase: "0123456789ABCDEF0123456789",
  address: "172.26.0.45",
  target: "172.26.0.47",
} as const;

/** Reads a vector file (`ap9617-mastatus.dat` or `ap9617-maconfig.dat`) byte for byte. */
export function readVector(name: string): Uint8Array {
  return Deno.readFileSync(fileURLToPath(new URL(`../fixtures/vectors/${name}`, import.meta.url)));
}
