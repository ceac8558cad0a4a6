#!/usr/bin/env node
// Test harness of stipend's fetch_paid tool: a resource server that sells with
// x402, built from the published packages only. Express protected by
// @x402/express; the @x402/svm "exact" facilitator runs in the same process
// (its own fee-payer keypair, airdropped on the local chain); every RPC goes to
// the local chain. The network is named with devnet's CAIP-2 id, because
// @x402/svm refuses other ids, and the local chain must be started with
// devnet's USDC mint address (--mint 4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU).
//
// Usage: node server.mjs --rpc http://127.0.0.1:PORT [--port 0]
// When ready it prints exactly one JSON line on stdout:
//   {"url":"http://127.0.0.1:PORT","pay_to":"<base58>","fee_payer":"<base58>","network":"solana:…"}
//
// Routes: GET /weather ($0.01), POST /echo ($0.02, answers the body it got),
// GET /premium ($5.00), GET /unpayable ($0.01 to an address without a token
// account: verification fails, nothing settles), GET /free (no payment). X402_DEBUG=1 logs to stderr.
import express from "express";
import { parseArgs } from "node:util";
import { createSolanaRpc, generateKeyPairSigner } from "@solana/kit";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { x402Facilitator } from "@x402/core/facilitator";
import { toFacilitatorSvmSigner } from "@x402/svm";
import { registerExactSvmScheme } from "@x402/svm/exact/facilitator";
import { ExactSvmScheme } from "@x402/svm/exact/server";

const { values: opt } = parseArgs({
  options: {
    rpc: { type: "string" },
    port: { type: "string", default: "0" },
    "parent-stdin": { type: "boolean", default: false },
  },
});
if (!opt.rpc) {
  process.stderr.write("x402 harness: --rpc is required\n");
  process.exit(2);
}
const DEBUG = process.env.X402_DEBUG === "1";
const NETWORK = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"; // devnet's CAIP-2 id

// JSON-RPC of the local chain's own extras (localnet_*), outside kit's typed API.
async function localnet(method, params) {
  const r = await fetch(opt.rpc, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const j = await r.json();
  if (j.error) throw new Error(`${method}: ${j.error.message}`);
  return j.result;
}

const rpc = createSolanaRpc(opt.rpc);
const feePayer = await generateKeyPairSigner();
const seller = await generateKeyPairSigner();
const nobody = await generateKeyPairSigner(); // has no token account: payments to it fail verification
await rpc.requestAirdrop(feePayer.address, 10_000_000_000n).send();
await localnet("localnet_mintTo", [seller.address, 0]); // the seller's token account exists

const facilitator = new x402Facilitator();
registerExactSvmScheme(facilitator, {
  signer: toFacilitatorSvmSigner(feePayer, { defaultRpcUrl: opt.rpc }),
  networks: [NETWORK],
});
// The facilitator in process serves as the resource server's facilitator client.
const facilitatorClient = {
  verify: (payload, requirements) => facilitator.verify(payload, requirements),
  settle: (payload, requirements) => facilitator.settle(payload, requirements),
  getSupported: async () => facilitator.getSupported(),
};
const resourceServer = new x402ResourceServer(facilitatorClient)
  .register(NETWORK, new ExactSvmScheme({ rpcUrl: opt.rpc }));

const offer = (price) => ({ scheme: "exact", price, network: NETWORK, payTo: seller.address });
const app = express();
app.use(express.text({ type: "*/*", limit: "64kb" }));
if (DEBUG) {
  app.use((req, _res, next) => {
    process.stderr.write(`x402 harness: ${req.method} ${req.url} payment=${req.get("payment-signature") ? "yes" : "no"}\n`);
    next();
  });
}
app.use(paymentMiddleware({
  "GET /weather": { accepts: offer("$0.01"), description: "Today's weather", mimeType: "application/json" },
  "POST /echo": { accepts: offer("$0.02"), description: "Echo", mimeType: "text/plain" },
  "GET /premium": { accepts: offer("$5.00"), description: "Premium report", mimeType: "application/json" },
  "GET /unpayable": { accepts: { ...offer("$0.01"), payTo: nobody.address }, description: "Never settles", mimeType: "text/plain" },
}, resourceServer));
app.get("/weather", (_req, res) => res.json({ city: "Lisbon", forecast: "sunny", temperature_c: 21 }));
app.post("/echo", (req, res) => res.type("text/plain").send(`echo: ${req.body}`));
app.get("/premium", (_req, res) => res.json({ report: "premium" }));
app.get("/unpayable", (_req, res) => res.type("text/plain").send("unreachable"));
app.get("/free", (_req, res) => res.type("text/plain").send("free content"));

const server = app.listen(Number(opt.port), "127.0.0.1", () => {
  const { port } = server.address();
  process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${port}`, pay_to: seller.address,
    fee_payer: feePayer.address, network: NETWORK }) + "\n");
});
const stop = () => { server.close(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (opt["parent-stdin"]) process.stdin.on("end", stop).on("error", stop).resume();
